import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, promises as fs, readFileSync, utimesSync, writeFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, folderState, git, ml, mlSpawn, ok, oracleTree, ROOT, shadowGit, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('concurrency', 300_000)
test.after.each(cleanup)


async function project(): Promise<{dir: string; branch: string}> {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p']))
  const dir = path.join(root, 'p')
  await write(dir, {'ok.sh': 'true\n'})
  const {historyBranch} = JSON.parse(await fs.readFile(path.join(dir, '.ml', 'project.json'), 'utf8'))
  return {dir, branch: historyBranch}
}

type Run = {runId: string; status: string; snapshotId: string; error?: string}

async function runs(dir: string): Promise<Run[]> {
  return JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
}

function assertLinear(dir: string, branch: string): string[] {
  const lines = shadowGit(dir, ['rev-list', '--parents', branch]).split('\n').map((l) => l.split(' '))
  assert.ok(lines.slice(0, -1).every((l) => l.length === 2) && lines.at(-1)!.length === 1, 'the history branch is linear')
  return lines.map((l) => l[0])
}

test('8 snapshots and submits at once, 20 times: no run is lost, overlapping submits run isolated, the branch stays linear', async () => {
  const {dir, branch} = await project()
  let submitted = 0
  for (let round = 0; round < 20; round++) {
    await write(dir, {[`round-${round}.txt`]: `${round}\n`})
    const results = await Promise.all(Array.from({length: 8}, async (_, i) => {
      await write(dir, {[`r${round}/s${i}.txt`]: `${i}\n`})
      return {submit: i % 2 === 0, r: await ml(dir, i % 2 === 0 ? ['experiment', 'submit', 'ok.sh'] : ['project', 'snapshot', '-q'])}
    }))
    for (const {submit, r} of results) {
      // In-place runs of one folder cannot overlap (they share outputs/): a submit that finds
      // another one running runs isolated; snapshots just queue.
      ok(r)
      assert.not.match(r.stderr, /lock|Error/i, r.stderr)
      if (submit) submitted++
    }
  }
  const all = await runs(dir)
  assert.is(submitted, 80, 'every submit ran')
  assert.is(all.length, submitted)
  assert.ok(all.every((r) => r.status === 'Completed'))
  const onBranch = new Set(assertLinear(dir, branch))
  assert.ok(all.every((r) => onBranch.has(r.snapshotId)), 'every run snapshot is on the branch')
  shadowGit(dir, ['fsck', '--strict'])
})

/**
 * A smoke test: random kills. The points that matter are each killed deterministically in
 * hostile-remote.test.ts (ML_TEST_CRASH_AT); this only checks that nothing else goes wrong.
 */
test('30 random SIGKILLs during snapshots and restores: fsck stays clean, the folder is old or new, the next submit works', async () => {
  const {dir, branch} = await project()
  await write(dir, Object.fromEntries(Array.from({length: 40}, (_, i) => [`data/f${i}.txt`, `version a ${i}\n`.repeat(200)])))
  ok(await ml(dir, ['experiment', 'submit', 'ok.sh']))
  const stateA = await folderState(dir, ['.git', '.ml', 'outputs'])
  await write(dir, Object.fromEntries(Array.from({length: 40}, (_, i) => [`data/f${i}.txt`, `version b ${i}\n`.repeat(150)])))
  await write(dir, {'extra/only-in-b.txt': 'b\n'})
  ok(await ml(dir, ['experiment', 'submit', 'ok.sh']))
  const stateB = await folderState(dir, ['.git', '.ml', 'outputs'])
  const [b, a] = await runs(dir)

  let seed = 7
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  for (let i = 0; i < 30; i++) {
    const restoring = i % 2 === 1
    const before = await folderState(dir, ['.git', '.ml', 'outputs'])
    const target = before['extra/only-in-b.txt'] ? a : b
    if (!restoring) await write(dir, {[`kill-${i}.txt`]: `${i}\n`})
    const child = mlSpawn(dir, restoring ? ['project', 'restore', '--run-id', target.runId, '--yes'] : ['experiment', 'submit', 'ok.sh'])
    const closed = new Promise((r) => child.once('close', r))
    await new Promise((r) => setTimeout(r, 150 + random() * 600))
    child.kill('SIGKILL')
    await closed

    shadowGit(dir, ['fsck', '--strict', '--no-dangling'])
    const next = ok(await ml(dir, ['experiment', 'submit', 'ok.sh']))
    assert.not.match(next.stderr, /Error/, next.stderr)
    if (restoring) {
      const after = await folderState(dir, ['.git', '.ml', 'outputs'])
      const wanted = target === a ? stateA : stateB
      const isOld = JSON.stringify(after) === JSON.stringify(before)
      const isNew = JSON.stringify(after) === JSON.stringify(wanted)
      assert.ok(isOld || isNew, `after kill ${i} the folder is neither as before nor as restored`)
    }
    for (const f of Object.keys(await folderState(dir, ['.git', '.ml', 'outputs', 'data', 'extra']))) {
      if (f.startsWith('kill-')) await fs.rm(path.join(dir, f))
    }
  }
  assertLinear(dir, branch)
  assert.ok((await runs(dir)).every((r) => r.status !== 'Running'), 'no run is left Running')
})

/**
 * A preload for the ml process: a full garbage collection every 2 ms while any Index#addAll
 * runs, each call's outcome appended to `log`. A repository handle that only an index points at
 * is then collected while libgit2 stages on it (a failed call, or a crash).
 */
const gcDuringAddAll = (log: string) => `
const {isMainThread} = require('node:worker_threads')
if (isMainThread) {
  const {appendFileSync} = require('node:fs')
  const Git = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'nodegit'))})
  const addAll = Git.Index.prototype.addAll
  Git.Index.prototype.addAll = function (...args) {
    const running = addAll.apply(this, args)
    let done = false
    const collect = () => { if (!done) { globalThis.gc(); setTimeout(collect, 2) } }
    running.then(() => { done = true; appendFileSync(${JSON.stringify(log)}, 'ok\\n') }, (e) => { done = true; appendFileSync(${JSON.stringify(log)}, 'failed: ' + e.message + '\\n') })
    collect()
    return running
  }
}
`

test('a first snapshot staged on every core survives garbage collections while it stages', async () => {
  const root = tempDir()
  const dir = path.join(root, 'p')
  // Enough files that each group's addAll outlasts a few collections.
  await write(dir, Object.fromEntries(Array.from({length: 1200}, (_, i) => [`d${i % 8}/f${i}.txt`, `${i} `.repeat(300)])))
  git(dir, ['init', '-q'])
  const log = path.join(root, 'add-all.log')
  const preload = path.join(root, 'gc-during-add-all.cjs')
  writeFileSync(preload, gcDuringAddAll(log))
  const r = await ml(dir, ['project', 'init', '.'], {NODE_OPTIONS: `--expose-gc --require ${preload}`})
  assert.is(r.code, 0, r.stderr)
  const calls = readFileSync(log, 'utf8').trim().split('\n')
  assert.equal(calls.filter((c) => c !== 'ok'), [], 'every addAll staged')
  assert.ok(calls.length >= Math.min(2, availableParallelism()), `${calls.length} addAll calls`)
  const tip = shadowGit(dir, ['rev-parse', 'HEAD^{tree}'])
  assert.is(tip, oracleTree(dir))
})

test('a lock or git lock file left by a killed process is cleared with a message', async () => {
  const {dir} = await project()
  const dead = spawn('true')
  await new Promise((r) => dead.once('exit', r))
  writeFileSync(path.join(dir, '.ml', 'lock'), JSON.stringify({pid: dead.pid, host: (await import('node:os')).hostname()}))
  const indexLock = path.join(dir, '.ml', 'history.git', 'index.lock')
  writeFileSync(indexLock, '')
  utimesSync(indexLock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000))
  const r = ok(await ml(dir, ['experiment', 'submit', 'ok.sh']))
  assert.match(r.stderr, /Cleared a lock left by ml process \d+/)
  assert.match(r.stderr, /Removed .ml\/history.git\/index.lock/)
  assert.not.ok(existsSync(path.join(dir, '.ml', 'lock')))
})

test('a git lock file under refs/ is cleared once it is old; a young one may be a live writer\'s and stays', async () => {
  const {dir} = await project()
  const runsRefs = path.join(dir, '.ml', 'history.git', 'refs', 'ml', 'runs', 'deep')
  mkdirSync(runsRefs, {recursive: true})
  const [old, young] = [path.join(runsRefs, 'old_run.lock'), path.join(runsRefs, 'young_run.lock')]
  writeFileSync(old, '')
  writeFileSync(young, '')
  utimesSync(old, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000))
  const r = ok(await ml(dir, ['project', 'snapshot']))
  assert.match(r.stderr, /Removed .ml\/history.git\/refs\/ml\/runs\/deep\/old_run.lock/)
  assert.not.ok(existsSync(old))
  assert.ok(existsSync(young))
})

test('a restore waits for a snapshot in progress, then goes ahead', async () => {
  const {dir} = await project()
  ok(await ml(dir, ['experiment', 'submit', 'ok.sh']))
  const [run] = await runs(dir)
  await write(dir, {'later.txt': 'x\n'})
  const lock = path.join(dir, '.ml', 'lock')
  writeFileSync(lock, JSON.stringify({pid: process.pid, host: (await import('node:os')).hostname()}))
  const started = Date.now()
  const restore = ml(dir, ['project', 'restore', '--run-id', run.runId, '--yes'])
  setTimeout(() => fs.rm(lock), 1500)
  ok(await restore)
  assert.ok(Date.now() - started >= 1500, 'it waited')
  assert.not.ok(existsSync(path.join(dir, 'later.txt')))
})

test('a run whose ml process was killed is shown as Failed with the reason, not Running', async () => {
  const {dir} = await project()
  await write(dir, {'long.sh': 'echo started\nsleep 3\n'})
  const child = mlSpawn(dir, ['experiment', 'submit', 'long.sh'])
  const closed = new Promise((r) => child.once('close', r))
  await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('started') && resolve()))
  child.kill('SIGKILL')
  await closed
  const [run] = await runs(dir)
  assert.is(run.status, 'Failed')
  assert.match(run.error!, /killed/)
  const again = await runs(dir)
  assert.is(again[0].status, 'Failed', 'and it stays so')
})

test.run()
