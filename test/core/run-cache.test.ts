import {spawn} from 'node:child_process'
import {once} from 'node:events'
import {existsSync, promises as fs, readFileSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import * as assert from 'uvu/assert'
import {type Project} from '../../src/core/project/project.js'
import {initProject} from '../../src/core/setup/init.js'
import {cachedRunList} from '../../src/core/runs/run-cache.js'
import {saveRun, type RunRecord} from '../../src/core/runs/runs.js'
import {writeStartJournal} from '../../src/core/runs/start-journal.js'
import {cleanup, shadowGit, tempDir, timedSuite} from '../helpers.js'
import {runRef} from '../../src/core/project/layout.js'
import {openHistory} from '../../src/core/snapshot/open-history.js'

const test = timedSuite('run-cache')
test.after.each(cleanup)

function record(runId: string, day: number, snapshotId: string): RunRecord {
  return {
    schema: 1, runId, projectId: 'p', projectName: 'proj', script: 'train.py', arguments: [], compute: 'local',
    status: 'Completed', startTimeUtc: `2026-01-${String(day).padStart(2, '0')}T00:00:00.000Z`, snapshotId, host: 'h', outputs: [], properties: {},
  }
}

async function projectWithRuns(count: number): Promise<{project: Project; runs: RunRecord[]; cache: string}> {
  const {project, snapshotId} = await initProject({dir: tempDir()})
  const repo = await openHistory(project)
  const runs: RunRecord[] = []
  for (let i = 1; i <= count; i++) {
    runs.push(record(`proj_${i}_aaaa`, i, snapshotId))
    await saveRun(repo, runs.at(-1)!)
  }
  await sleep(150) // past the racy window, so the cache is kept
  return {project, runs, cache: path.join(project.dir, '.ml', 'runs-cache.ndjson')}
}

/** Rewrites the cached record of `runId`, to tell a listing read from the cache from one read from git. */
function tamper(cache: string, runId: string, script: string): void {
  const lines = readFileSync(cache, 'utf8').split('\n')
  writeFileSync(cache, lines.map((l) => (l.includes(`"runId":"${runId}"`) ? l.replace('"script":"train.py"', `"script":"${script}"`) : l)).join('\n'))
}

test('the list is cached newest first, read from the cache while the run refs stay, and --last reads the head', async () => {
  const {project, cache} = await projectWithRuns(5)
  assert.equal((await cachedRunList(project)).map((r) => r.runId), ['proj_5_aaaa', 'proj_4_aaaa', 'proj_3_aaaa', 'proj_2_aaaa', 'proj_1_aaaa'])
  tamper(cache, 'proj_5_aaaa', 'from-cache.py')
  assert.is((await cachedRunList(project))[0].script, 'from-cache.py', 'the second listing came from the cache')
  // Everything after the first line of runs is garbage now: --last 1 never reads it.
  const [header, first] = readFileSync(cache, 'utf8').split('\n')
  writeFileSync(cache, `${header}\n${first}\n{not json`)
  assert.equal((await cachedRunList(project, 1)).map((r) => r.script), ['from-cache.py'])
})

test('a ref moved by ml or by the git CLI makes the list read the refs again', async () => {
  const {project, runs, cache} = await projectWithRuns(3)
  await cachedRunList(project)
  tamper(cache, 'proj_1_aaaa', 'stale.py')
  const repo = await openHistory(project)
  await saveRun(repo, {...runs[1], status: 'Failed'})
  const afterSave = await cachedRunList(project)
  assert.is(afterSave.find((r) => r.runId === 'proj_2_aaaa')!.status, 'Failed')
  await sleep(150)
  await cachedRunList(project)
  tamper(cache, 'proj_1_aaaa', 'stale.py')
  shadowGit(project.dir, ['update-ref', '-d', runRef('proj_3_aaaa')])
  assert.equal((await cachedRunList(project)).map((r) => r.runId), ['proj_2_aaaa', 'proj_1_aaaa'])
  await sleep(150)
  await cachedRunList(project)
  tamper(cache, 'proj_1_aaaa', 'stale.py')
  shadowGit(project.dir, ['pack-refs', '--all'])
  assert.is((await cachedRunList(project)).find((r) => r.runId === 'proj_1_aaaa')!.script, 'stale.py', 'the record of an unmoved ref is reused')
  writeFileSync(cache, 'garbage\n')
  assert.equal((await cachedRunList(project)).map((r) => r.script), ['train.py', 'train.py'], 'a broken cache is rebuilt')
  await sleep(150)
  await cachedRunList(project)
  writeFileSync(cache, readFileSync(cache, 'utf8').slice(0, -40))
  assert.equal((await cachedRunList(project)).map((r) => r.script), ['train.py', 'train.py'], 'a cut-off cache is rebuilt')
})

test('a cached Running run whose process is gone is settled as Failed', async () => {
  const {project, runs} = await projectWithRuns(1)
  const child = spawn('sleep', ['30'])
  const repo = await openHistory(project)
  await saveRun(repo, {...runs[0], status: 'Running', host: hostname(), pid: child.pid})
  await sleep(150)
  assert.is((await cachedRunList(project))[0].status, 'Running', 'its process is alive')
  child.kill('SIGKILL')
  await once(child, 'exit')
  const [run] = await cachedRunList(project)
  assert.is(run.status, 'Failed')
  assert.match(run.error!, new RegExp(`pid ${child.pid}`))
})

test('a run journaled as started is listed once its ml process is gone, as Failed; a live one is left to its process', async () => {
  const {project, runs} = await projectWithRuns(1)
  const child = spawn('sleep', ['30'])
  const started: RunRecord = {...runs[0], runId: 'proj_9_bbbb', status: 'Running', startTimeUtc: '2026-02-01T00:00:00.000Z', host: hostname(), pid: child.pid}
  await writeStartJournal(project, started)
  const journal = path.join(project.dir, '.ml', 'runs', started.runId, 'started.json')
  assert.equal((await cachedRunList(project)).map((r) => r.runId), ['proj_1_aaaa'], 'a live process records its run itself')
  assert.ok(existsSync(journal))
  child.kill('SIGKILL')
  await once(child, 'exit')
  const [run] = await cachedRunList(project)
  assert.is(run.runId, started.runId)
  assert.is(run.status, 'Failed')
  assert.match(run.error!, new RegExp(`pid ${child.pid}\\) ended before the run did`))
  assert.not.ok(existsSync(journal), 'the journal is dropped once the ref holds the run')
  assert.is(shadowGit(project.dir, ['rev-parse', `${runRef(started.runId)}^`]), runs[0].snapshotId, 'its first state sits on its snapshot')
})

test('a crafted journal that names another run than its folder is never recorded, and the listing goes on', async () => {
  const {project, runs} = await projectWithRuns(1)
  const child = spawn('true')
  await once(child, 'exit')
  // An abandoned run by every other measure: Running, this host, a pid that is gone.
  await writeStartJournal(project, {...runs[0], runId: 'proj_9_cccc', status: 'Running', host: hostname(), pid: child.pid})
  const folder = path.join(project.dir, '.ml', 'runs', 'proj_9_cccc')
  const crafted = path.join(project.dir, '.ml', 'runs', 'proj_8_dddd')
  await fs.rename(folder, crafted)
  assert.equal((await cachedRunList(project)).map((r) => r.runId), ['proj_1_aaaa'])
  assert.is(shadowGit(project.dir, ['for-each-ref', '--format=%(refname)', 'refs/ml/runs/']), runRef('proj_1_aaaa'), 'no ref for either name')
  assert.ok(existsSync(path.join(crafted, 'started.json')), 'left as it is')
})

test.run()
