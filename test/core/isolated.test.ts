import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {submitExperiment} from '../../src/core/execution/experiment.js'
import {startQueue} from '../../src/core/execution/queue.js'
import {runPool} from '../../src/shared/run-pool.js'
import {initProject} from '../../src/core/setup/init.js'
import {createWorkdir} from '../../src/core/execution/workdir.js'
import {findProject} from '../../src/core/project/project.js'
import {openHistory} from '../../src/core/snapshot/open-history.js'
import {cleanup, git, shadowGit, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('isolated')
test.after.each(cleanup)

const quiet = {env: process.env, onOutput: () => {}}

test('an isolated run reads its snapshot in .ml/work/<run-id>/, reaches ignored data through a link, and leaves no checkout', async () => {
  const dir = tempDir()
  await initProject({dir})
  await write(dir, {
    'data/big.csv': 'ignored data\n',
    '.amlignore': 'data/\n',
    'job.sh': 'echo "cwd=$(pwd) project=$ML_PROJECT_DIR"\ncat data/big.csv\n[ -L data ] && echo linked\ncat vendor/lib/README\nmkdir -p outputs && echo out > outputs/o.txt\n',
    'vendor/lib/README': 'a nested repository\n',
  })
  // A nested git repository: the snapshot holds only its commit (a gitlink).
  git(path.join(dir, 'vendor', 'lib'), ['init', '-q'])
  git(path.join(dir, 'vendor', 'lib'), ['add', '.'])
  git(path.join(dir, 'vendor', 'lib'), ['commit', '-qm', 'lib'])
  const run = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], isolated: true})
  assert.is(run.status, 'Completed')
  assert.is(run.isolated, true)
  const work = path.join(dir, '.ml', 'work', run.runId)
  const log = shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:output.log`])
  assert.is(log, `cwd=${work} project=${work}\nignored data\nlinked\na nested repository`)
  assert.is(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:outputs/o.txt`]), 'out')
  assert.equal(run.outputs, [{path: 'o.txt', size: 4}])
  assert.not.ok(existsSync(work), 'the checkout is removed')
  assert.not.ok(existsSync(path.join(dir, 'outputs', 'o.txt')), 'nothing was written to the project folder')
  assert.not.match(shadowGit(dir, ['ls-tree', '-r', '--name-only', run.snapshotId]), /data\//)
})

test('createWorkdir: a nested repository is checked out at its recorded commit, also one inside it; one whose commit is gone is linked to the folder\'s copy, and onWarning says so in one line', async () => {
  const dir = tempDir()
  await initProject({dir})
  const commitIn = async (repo: string, files: Record<string, string>, message: string) => {
    await write(repo, files)
    if (!existsSync(path.join(repo, '.git'))) git(repo, ['init', '-q'])
    git(repo, ['add', '-A'])
    git(repo, ['commit', '-qm', message])
    return git(repo, ['rev-parse', 'HEAD'])
  }
  const outer = path.join(dir, 'outer')
  const inner = path.join(outer, 'inner')
  await commitIn(inner, {'i.txt': 'inner 1\n'}, 'inner 1')
  const outerFirst = await commitIn(outer, {'o.txt': 'outer 1\n'}, 'outer 1')
  assert.match(git(outer, ['ls-tree', 'HEAD', 'inner']), /^160000 commit/, 'inner is a gitlink of outer')
  const gone = path.join(dir, 'gone')
  const goneFirst = await commitIn(gone, {'g.txt': 'gone 1\n'}, 'gone 1')
  await write(dir, {'job.sh': 'true\n'})
  const queued = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], queue: true})
  // After the snapshot: every repository moves on, and gone's first commit is removed.
  await commitIn(inner, {'i.txt': 'inner 2\n'}, 'inner 2')
  await commitIn(outer, {'o.txt': 'outer 2\n'}, 'outer 2')
  await write(gone, {'g.txt': 'gone 2\n'})
  git(gone, ['commit', '-qa', '--amend', '-m', 'gone 2'])
  git(gone, ['reflog', 'expire', '--expire=now', '--all'])
  git(gone, ['gc', '-q', '--prune=now'])
  const project = await findProject(dir)
  const repo = await openHistory(project)
  const warnings: string[] = []
  const work = await createWorkdir(project, repo, await repo.treeOf(queued.snapshotId), queued.runId, {onWarning: (m) => warnings.push(m)})
  try {
    assert.is(await fs.readFile(path.join(work, 'outer', 'o.txt'), 'utf8'), 'outer 1\n')
    assert.is(await fs.readFile(path.join(work, 'outer', 'inner', 'i.txt'), 'utf8'), 'inner 1\n', 'the gitlink of outer\'s commit too')
    assert.not.ok((await fs.lstat(path.join(work, 'outer'))).isSymbolicLink())
    assert.ok((await fs.lstat(path.join(work, 'gone'))).isSymbolicLink())
    assert.is(await fs.readFile(path.join(work, 'gone', 'g.txt'), 'utf8'), 'gone 2\n')
    assert.is(warnings.length, 1, warnings.join('\n'))
    assert.not.match(warnings[0], /\n/)
    assert.match(warnings[0], new RegExp(`^gone is a nested git repository whose recorded commit ${goneFirst.slice(0, 12)} is not in its repository .*: run ${queued.runId} reads its current files, through a link to ${path.join(dir, 'gone')}\\.$`))
    assert.is(git(outer, ['rev-parse', 'HEAD']) === outerFirst, false, 'the folder\'s repositories are left where they are')
    assert.is(git(outer, ['status', '--porcelain']), '')
  } finally {
    await fs.rm(work, {recursive: true, force: true})
  }
})

test('the checkout a killed run left is removed by the next isolated run; a kept one, a queued run\'s and an unknown one stay', async () => {
  const dir = tempDir()
  await initProject({dir})
  await write(dir, {'job.sh': 'true\n'})
  const ended = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: []})
  const kept = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], isolated: true, keepWorkdir: true})
  const queued = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], queue: true})
  const work = path.join(dir, '.ml', 'work')
  assert.ok(existsSync(path.join(work, kept.runId, 'job.sh')), '--keep-workdir keeps the checkout')
  for (const id of [ended.runId, queued.runId, 'not-a-run-yet']) await write(path.join(work, id), {'left.txt': 'x'})
  await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], isolated: true})
  assert.equal((await fs.readdir(work)).sort(), [kept.runId, `${kept.runId}.kept`, queued.runId, 'not-a-run-yet'].sort())
})

test('a queued run that can no longer start is recorded as Failed with the reason, and the worker goes on', async () => {
  const dir = tempDir()
  await initProject({dir})
  await write(dir, {'job.sh': 'echo ran\n'})
  const bad = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], queue: true})
  const good = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: ['again'], queue: true})
  assert.is(bad.status, 'Queued')
  const bin = tempDir()
  for (const tool of ['python3', 'git']) await fs.symlink(path.join('/usr/bin', tool), path.join(bin, tool))
  // The first one meets a PATH without bash, the second the full PATH.
  let first = true
  const ran = await startQueue({...quiet, cwd: dir, jobs: 1, get env() {
    const env = first ? {...process.env, PATH: bin} : process.env
    first = false
    return env
  }})
  const byId = new Map(ran.map((r) => [r.runId, r]))
  assert.is(byId.get(bad.runId)?.status, 'Failed')
  assert.match(byId.get(bad.runId)!.error!, /INTERPRETER_NOT_FOUND|bash/)
  assert.is(byId.get(good.runId)?.status, 'Completed')
  assert.is(JSON.parse(shadowGit(dir, ['show', `refs/ml/runs/${bad.runId}:run.json`])).status, 'Failed')
})

test('runPool runs at most N at once, in order, and throws the first failure only after all ended', async () => {
  let running = 0
  let most = 0
  const ended: number[] = []
  const work = async (i: number) => {
    running++
    most = Math.max(most, running)
    await new Promise((resolve) => setTimeout(resolve, 20))
    running--
    ended.push(i)
    if (i === 1) throw new Error('one failed')
    return i * 10
  }
  try {
    await runPool([0, 1, 2, 3, 4], 2, work)
    assert.unreachable('a failure is thrown')
  } catch (error) {
    assert.is((error as Error).message, 'one failed')
  }
  assert.is(most, 2)
  assert.equal(ended.sort(), [0, 1, 2, 3, 4], 'the others ran to their end')
  assert.equal(await runPool([1, 2, 3], 3, async (i) => i * 2), [2, 4, 6])
})

test.run()
