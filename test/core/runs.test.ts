import * as assert from 'uvu/assert'
import {isMlError} from '../../src/shared/errors.js'
import {initProject} from '../../src/core/setup/init.js'
import {cachedRunList} from '../../src/core/runs/run-cache.js'
import {getRun, newRunId, resolveRunId, saveRun, type RunRecord} from '../../src/core/runs/runs.js'
import {cleanup, shadowGit, tempDir, timedSuite} from '../helpers.js'
import {runRef} from '../../src/core/project/layout.js'
import {openHistory} from '../../src/core/snapshot/open-history.js'

const test = timedSuite('runs')
test.after.each(cleanup)

let snapshotId = ''

function record(runId: string, startTimeUtc: string): RunRecord {
  return {
    schema: 1, runId, projectId: 'p', projectName: 'proj', script: 'train.py', arguments: [], compute: 'local',
    status: 'Running', startTimeUtc, snapshotId, host: 'h', outputs: [], properties: {},
  }
}

test('run ids are <name>_<epoch-ms>_<4 hex> and differ', () => {
  const a = newRunId('iris', 1700000000000)
  assert.match(a, /^iris_1700000000000_[0-9a-f]{4}$/)
  const ids = new Set(Array.from({length: 50}, () => newRunId('iris', 1)))
  assert.ok(ids.size > 40)
})

test('each status change is a new commit on the run ref; list is newest first', async () => {
  const dir = tempDir()
  const {project, snapshotId: initial} = await initProject({dir})
  snapshotId = initial
  const repo = await openHistory(project)
  const a = record('proj_1_aaaa', '2026-01-01T00:00:00.000Z')
  const b = record('proj_2_bbbb', '2026-01-02T00:00:00.000Z')
  await saveRun(repo, a)
  await saveRun(repo, b)
  a.status = 'Completed'
  await saveRun(repo, a, [{path: 'output.log', data: 'hello\n'}, {path: 'outputs/m/x.bin', data: 'x'}])
  assert.equal(shadowGit(dir, ['rev-list', '--first-parent', runRef(a.runId)]).split('\n').slice(2), [snapshotId], 'two states on top of the snapshot')
  assert.is(shadowGit(dir, ['show', `${runRef(a.runId)}:output.log`]), 'hello')
  assert.is(shadowGit(dir, ['show', `${runRef(a.runId)}:outputs/m/x.bin`]), 'x')
  assert.is((await getRun(repo, a.runId)).status, 'Completed')
  assert.equal((await cachedRunList(project)).map((r) => r.runId), [b.runId, a.runId])
  shadowGit(dir, ['fsck', '--strict'])
})

test('a unique prefix resolves; an unknown or ambiguous one is RUN_NOT_FOUND', async () => {
  const dir = tempDir()
  const {project, snapshotId: initial} = await initProject({dir})
  snapshotId = initial
  const repo = await openHistory(project)
  for (const id of ['proj_10_aaaa', 'proj_11_bbbb', 'proj_2_cccc']) await saveRun(repo, record(id, '2026-01-01T00:00:00.000Z'))
  assert.is(await resolveRunId(repo, 'proj_2'), 'proj_2_cccc')
  assert.is(await resolveRunId(repo, 'proj_11_bbbb'), 'proj_11_bbbb')
  for (const bad of ['proj_1', 'nope', '']) {
    try {
      await resolveRunId(repo, bad)
      assert.unreachable(bad)
    } catch (error) {
      assert.ok(isMlError(error, 'RUN_NOT_FOUND'), String(error))
    }
  }
})

test.run()
