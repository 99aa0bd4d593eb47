import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {isMlError} from '../../src/shared/errors.js'
import {findProject} from '../../src/core/project/project.js'
import {initProject} from '../../src/core/setup/init.js'
import {cleanup, folderState, git, shadowGit, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('project')
test.after.each(cleanup)

test('init creates the user repo, the shadow repo, its branch and a first snapshot', async () => {
  const dir = path.join(tempDir(), 'iris demo')
  const {project, createdUserRepo, snapshotId} = await initProject({dir, template: 'iris'})
  assert.ok(createdUserRepo)
  assert.is(project.config.name, 'iris-demo')
  assert.match(project.config.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  assert.is(project.config.historyBranch, `AzureMLHistory/${project.config.id}`)
  const saved = JSON.parse(await fs.readFile(path.join(dir, '.ml', 'project.json'), 'utf8'))
  assert.equal(saved, project.config)

  assert.is(git(dir, ['symbolic-ref', '--short', 'HEAD']), 'master')
  assert.equal(git(dir, ['ls-tree', '--name-only', 'HEAD']).split('\n'), ['.amlignore', '.gitignore', 'iris.csv', 'run_logger.py', 'train.py'])
  assert.is(git(dir, ['status', '--porcelain']), '', 'the first commit holds everything init wrote')
  const gitignore = await fs.readFile(path.join(dir, '.gitignore'), 'utf8')
  assert.ok(gitignore.includes('.ml/') && gitignore.includes('/outputs/'))

  assert.is(shadowGit(dir, ['rev-parse', '--is-bare-repository']), 'true')
  assert.is(shadowGit(dir, ['rev-parse', `refs/heads/${project.config.historyBranch}`]), snapshotId)
  assert.is(shadowGit(dir, ['rev-parse', `${snapshotId}^{tree}`]), git(dir, ['rev-parse', 'HEAD^{tree}']), 'the first snapshot is the committed folder')
  shadowGit(dir, ['fsck', '--strict'])
})

test('init leaves an existing user repo alone and keeps the user files', async () => {
  const dir = tempDir()
  git(dir, ['init', '-q', '-b', 'dev'])
  await write(dir, {'train.py': 'print("mine")\n', '.gitignore': 'data/'})
  git(dir, ['add', '-A'])
  git(dir, ['commit', '-qm', 'mine'])
  const head = git(dir, ['rev-parse', 'HEAD'])
  const {createdUserRepo} = await initProject({dir, template: 'blank'})
  assert.not.ok(createdUserRepo)
  assert.is(git(dir, ['rev-parse', 'HEAD']), head)
  assert.is(git(dir, ['symbolic-ref', '--short', 'HEAD']), 'dev')
  assert.is(await fs.readFile(path.join(dir, 'train.py'), 'utf8'), 'print("mine")\n', 'a template never overwrites a user file')
  assert.is(await fs.readFile(path.join(dir, '.gitignore'), 'utf8'), 'data/\n# ml: the history and the run outputs stay out of your repo\n.ml/\n/outputs/\n__pycache__/\n')
})

test('init in a subfolder of a repo creates no repo of its own', async () => {
  const root = tempDir()
  git(root, ['init', '-q'])
  const dir = path.join(root, 'models', 'a')
  const {createdUserRepo} = await initProject({dir})
  assert.not.ok(createdUserRepo)
  assert.not.ok(existsSync(path.join(dir, '.git')))
})

test('init on an existing project fails with PROJECT_EXISTS and changes nothing', async () => {
  const dir = tempDir()
  await initProject({dir, template: 'iris'})
  const before = await folderState(dir, ['.git'])
  for (const target of [dir, path.join(dir, 'sub')]) {
    try {
      await initProject({dir: target, template: 'blank'})
      assert.unreachable('should have failed')
    } catch (error) {
      assert.ok(isMlError(error, 'PROJECT_EXISTS'), String(error))
    }
  }
  assert.equal(await folderState(dir, ['.git']), before)
})

test('an unknown template or a bad name fails before anything is written', async () => {
  const dir = path.join(tempDir(), 'p')
  for (const [options, code] of [[{template: 'nope'}, 'UNKNOWN_TEMPLATE'], [{name: 'bad/name'}, 'INVALID_ARGUMENT']] as const) {
    try {
      await initProject({dir, ...options})
      assert.unreachable('should have failed')
    } catch (error) {
      assert.ok(isMlError(error, code), String(error))
    }
    assert.not.ok(existsSync(dir))
  }
})

test('findProject walks up from a subfolder and fails with NOT_A_PROJECT outside', async () => {
  const dir = tempDir()
  await initProject({dir})
  await fs.mkdir(path.join(dir, 'a', 'b'), {recursive: true})
  assert.is((await findProject(path.join(dir, 'a', 'b'))).dir, dir)
  try {
    await findProject(tempDir())
    assert.unreachable('should have failed')
  } catch (error) {
    assert.ok(isMlError(error, 'NOT_A_PROJECT'))
  }
})

test.run()
