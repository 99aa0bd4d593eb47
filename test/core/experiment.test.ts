import {promises as fs} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import * as assert from 'uvu/assert'
import {isMlError} from '../../src/shared/errors.js'
import {fileParams, submitExperiment} from '../../src/core/execution/experiment.js'
import {historyOpener} from '../../src/core/snapshot/open-history.js'
import {takeSnapshot} from '../../src/core/snapshot/snapshot.js'
import {initProject} from '../../src/core/setup/init.js'
import {cleanup, folderState, git, shadowGit, shadowRefs, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('experiment')
test.after.each(cleanup)

const quiet = {env: process.env, onOutput: () => {}}

test('a run records status, times, exit code, log, outputs, snapshot and git properties', async () => {
  const dir = tempDir()
  const {project} = await initProject({dir, template: 'blank'})
  git(dir, ['remote', 'add', 'origin', 'https://example.com/me/proj.git'])
  await write(dir, {
    'outputs/old.txt': 'from before the run',
    'job.sh': 'echo "run=$ML_RUN_ID dir=$ML_PROJECT_DIR out=$ML_OUTPUTS_DIR args=$*"\nmkdir -p outputs/sub && echo model > outputs/sub/model.txt\n',
  })
  const states: string[] = []
  const run = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: ['--epochs', '3'], onStart: (r) => states.push(r.status)})
  assert.equal(states, ['Running'])
  assert.is(run.status, 'Completed')
  assert.is(run.exitCode, 0)
  assert.match(run.runId, new RegExp(`^${project.config.name}_\\d{13}_[0-9a-f]{4}$`))
  assert.ok(Date.parse(run.endTimeUtc!) >= Date.parse(run.startTimeUtc))
  assert.is(run.durationMs, Date.parse(run.endTimeUtc!) - Date.parse(run.startTimeUtc))
  assert.equal(run.outputs, [{path: 'sub/model.txt', size: 6}], 'only files written during the run are captured')

  const tip = shadowGit(dir, ['rev-parse', `refs/heads/${project.config.historyBranch}`])
  assert.is(run.snapshotId, tip)
  assert.is(shadowGit(dir, ['show', `${tip}:job.sh`]).split('\n')[0].slice(0, 4), 'echo', 'the snapshot holds the script')
  const head = git(dir, ['rev-parse', 'HEAD'])
  assert.equal(run.properties, {
    'azureml.git.repository_uri': 'https://example.com/me/proj.git',
    'mlflow.source.git.repoURL': 'https://example.com/me/proj.git',
    'azureml.git.branch': 'master',
    'mlflow.source.git.branch': 'master',
    'azureml.git.commit': head,
    'mlflow.source.git.commit': head,
    'azureml.git.dirty': 'True',
    ContentSnapshotId: tip,
  })

  const ref = `refs/ml/runs/${run.runId}`
  assert.is(shadowGit(dir, ['show', `${ref}:output.log`]), `run=${run.runId} dir=${dir} out=${path.join(dir, 'outputs')} args=--epochs 3`)
  assert.is(shadowGit(dir, ['show', `${ref}:outputs/sub/model.txt`]), 'model')
  assert.equal(JSON.parse(shadowGit(dir, ['show', `${ref}:run.json`])), run)
  assert.equal(JSON.parse(shadowGit(dir, ['show', `${ref}~1:run.json`])).status, 'Running')
  shadowGit(dir, ['fsck', '--strict'])
})

test('the params file of an unchanged folder\'s snapshot is read from git only when the folder stamp says it holds one', async () => {
  const dir = tempDir()
  const {project} = await initProject({dir, template: 'blank'})
  let opened = 0
  const opener = historyOpener(project)
  const open = () => {
    opened++
    return opener()
  }
  const unchanged = async () => {
    await sleep(150) // past the racy window, so that the stamp is trusted
    await takeSnapshot(project, historyOpener(project), 'stamp')
    const snapshot = await takeSnapshot(project, open, 'again')
    assert.is(snapshot.holds === undefined, false, 'the stamp told what the snapshot holds')
    return snapshot
  }
  assert.equal(await fileParams(open, await unchanged()), {})
  assert.is(opened, 0, 'no git for a snapshot known to hold no params file')
  await write(dir, {'params.yaml': 'lr: 0.1\n'})
  assert.equal(await fileParams(open, await unchanged()), {lr: 0.1})
})

test('a failing script is recorded as Failed with its exit code', async () => {
  const dir = tempDir()
  await initProject({dir})
  await write(dir, {'fail.py': 'import sys\nprint("bad")\nsys.exit(7)\n'})
  const run = await submitExperiment({...quiet, cwd: dir, script: 'fail.py', args: []})
  assert.is(run.status, 'Failed')
  assert.is(run.exitCode, 7)
})

test('a script in a subfolder runs from the project root, its path relative to the root', async () => {
  const dir = tempDir()
  await initProject({dir})
  await write(dir, {'src/where.sh': 'pwd\n'})
  const run = await submitExperiment({...quiet, cwd: path.join(dir, 'src'), script: 'where.sh', args: []})
  assert.is(run.script, 'src/where.sh')
  assert.is(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:output.log`]), dir)
})

test('a folder in no git repo still runs, with no git properties', async () => {
  const dir = tempDir()
  await initProject({dir})
  await fs.rm(path.join(dir, '.git'), {recursive: true})
  await write(dir, {'ok.sh': 'true\n'})
  const run = await submitExperiment({...quiet, cwd: dir, script: 'ok.sh', args: []})
  assert.is(run.status, 'Completed')
  assert.equal(Object.keys(run.properties), ['ContentSnapshotId'])
})

test('bad input fails with its code before any snapshot or run is recorded', async () => {
  const dir = tempDir()
  await initProject({dir})
  await write(dir, {'changed.txt': 'a change that must not be snapshotted\n', 'ok.sh': 'true\n'})
  const outside = path.join(tempDir(), 'x.py')
  await write(path.dirname(outside), {'x.py': 'print(1)\n'})
  const refs = shadowRefs(dir)
  const files = await folderState(dir)
  const cases: Array<[Partial<Parameters<typeof submitExperiment>[0]>, string]> = [
    [{script: 'missing.py'}, 'SCRIPT_NOT_FOUND'],
    [{script: 'src'}, 'SCRIPT_NOT_FOUND'],
    [{script: outside}, 'SCRIPT_OUTSIDE_PROJECT'],
    [{script: 'ok.sh', compute: 'gpu-cluster'}, 'UNKNOWN_COMPUTE'],
    [{script: 'ok.sh', cwd: tempDir()}, 'NOT_A_PROJECT'],
  ]
  for (const [options, code] of cases) {
    try {
      await submitExperiment({...quiet, cwd: dir, script: '', args: [], ...options})
      assert.unreachable(code)
    } catch (error) {
      assert.ok(isMlError(error, code as never), `${code}: ${String(error)}`)
    }
  }
  assert.is(shadowRefs(dir), refs)
  assert.equal(await folderState(dir), files)
})

test.run()
