import path from 'node:path'
import * as assert from 'uvu/assert'
import {gitProperties} from '../../src/core/runs/git-properties.js'
import {redactUrl} from '../../src/shared/remote-url.js'
import {cleanup, git, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('git-properties')
test.after.each(cleanup)

async function repo(): Promise<string> {
  const dir = tempDir()
  git(dir, ['init', '-q', '-b', 'main'])
  await write(dir, {'a.txt': 'a\n', '.gitignore': 'ignored/\n'})
  git(dir, ['add', '-A'])
  git(dir, ['commit', '-qm', 'one'])
  return dir
}

test('a clean repo on a branch: names and values as Azure ML and MLflow record them', async () => {
  const dir = await repo()
  git(dir, ['remote', 'add', 'origin', 'https://example.com/team/proj.git'])
  await write(dir, {'ignored/x': 'ignored files do not make a repo dirty'})
  const commit = git(dir, ['rev-parse', 'HEAD'])
  const branch = git(dir, ['symbolic-ref', '--short', 'HEAD'])
  assert.equal(await gitProperties(dir), {
    'azureml.git.repository_uri': 'https://example.com/team/proj.git',
    'mlflow.source.git.repoURL': 'https://example.com/team/proj.git',
    'azureml.git.branch': branch,
    'mlflow.source.git.branch': branch,
    'azureml.git.commit': commit,
    'mlflow.source.git.commit': commit,
    'azureml.git.dirty': 'False',
  })
})

test('dirty follows git status --porcelain: modified, staged, untracked', async () => {
  const dir = await repo()
  const porcelainDirty = () => (git(dir, ['status', '--porcelain', '.']) === '' ? 'False' : 'True')
  const steps: Array<() => Promise<void> | void> = [
    () => write(dir, {'a.txt': 'changed\n'}),
    () => git(dir, ['add', 'a.txt']),
    () => { git(dir, ['commit', '-qm', 'two']) },
    () => write(dir, {'logs/deep/run.log': 'an untracked folder of ignored files only\n', '.gitignore': 'ignored/\n*.log\n'}),
    () => { git(dir, ['add', '.gitignore']); git(dir, ['commit', '-qm', 'three']) },
    () => write(dir, {'new/deep/file.txt': 'untracked\n'}),
  ]
  for (const step of steps) {
    await step()
    assert.is((await gitProperties(dir))['azureml.git.dirty'], porcelainDirty())
  }
  assert.is((await gitProperties(dir))['azureml.git.dirty'], 'True')
})

test('in a subfolder, dirty looks only at that folder, like `git status --porcelain .`', async () => {
  const dir = await repo()
  await write(dir, {'project/train.py': 'x\n'})
  git(dir, ['add', '-A'])
  git(dir, ['commit', '-qm', 'project'])
  await write(dir, {'elsewhere.txt': 'outside the project\n'})
  const project = path.join(dir, 'project')
  assert.is((await gitProperties(project))['azureml.git.dirty'], 'False')
  await write(project, {'train.py': 'y\n'})
  assert.is((await gitProperties(project))['azureml.git.dirty'], 'True')
})

test('a detached HEAD has no branch property and no crash', async () => {
  const dir = await repo()
  git(dir, ['checkout', '-q', '--detach'])
  const props = await gitProperties(dir)
  assert.is(props['azureml.git.branch'], undefined)
  assert.is(props['mlflow.source.git.branch'], undefined)
  assert.is(props['azureml.git.commit'], git(dir, ['rev-parse', 'HEAD']))
})

test('a repo with no commit yet has a branch but no commit', async () => {
  const dir = tempDir()
  git(dir, ['init', '-q', '-b', 'trunk'])
  const props = await gitProperties(dir)
  assert.is(props['azureml.git.branch'], 'trunk')
  assert.is(props['azureml.git.commit'], undefined)
})

test('no repo: no git properties', async () => {
  assert.equal(await gitProperties(tempDir()), {})
})

test('a token in the origin URL never reaches the properties', async () => {
  const dir = await repo()
  git(dir, ['remote', 'add', 'origin', 'https://alice:s3cret-token@example.com/team/proj.git'])
  const props = await gitProperties(dir)
  assert.is(props['azureml.git.repository_uri'], 'https://alice:***@example.com/team/proj.git')
  assert.not.ok(JSON.stringify(props).includes('s3cret'))
})

test('redactUrl hides passwords and lone tokens but keeps ssh user names', () => {
  assert.is(redactUrl('https://ghp_abc@github.com/a/b.git'), 'https://***@github.com/a/b.git')
  assert.is(redactUrl('ssh://git@host:2222/a/b.git'), 'ssh://git@host:2222/a/b.git')
  assert.is(redactUrl('git@github.com:a/b.git'), 'git@github.com:a/b.git')
  assert.is(redactUrl('file:///srv/repo.git'), 'file:///srv/repo.git')
})

test.run()
