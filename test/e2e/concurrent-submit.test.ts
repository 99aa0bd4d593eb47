import {spawn} from 'node:child_process'
import {existsSync, promises as fs, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, git, ml, mlSpawn, ok, shadowGit, tempDir, timedSuite, within, write} from '../helpers.js'

/**
 * Submits that meet in one folder: the second and later run isolated instead of being refused;
 * a submit whose ml process is SIGKILLed leaves no script running; a Ctrl-C while a push waits
 * for another process's lock ends ml at once, with the run recorded here.
 */
const test = timedSuite('concurrent-submit', 300_000)
test.after.each(cleanup)

type Run = {runId: string; status: string; snapshotId: string; isolated?: boolean; error?: string; outputs: Array<{path: string}>}

async function project(remote = false): Promise<{root: string; dir: string; branch: string}> {
  const root = tempDir()
  if (remote) git(root, ['init', '-q', '--bare', 'remote.git'])
  ok(await ml(root, ['project', 'init', 'p', '-q', ...remote ? ['-r', path.join(root, 'remote.git')] : []]))
  const dir = path.join(root, 'p')
  const {historyBranch} = JSON.parse(await fs.readFile(path.join(dir, '.ml', 'project.json'), 'utf8'))
  return {root, dir, branch: historyBranch}
}

async function runs(dir: string): Promise<Run[]> {
  return JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  for (const end = Date.now() + ms; !(await check()); await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (Date.now() > end) throw new Error(`waited ${ms} ms for ${what}`)
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The status in the record on the run's ref (the git CLI as the oracle), or undefined before it has one. */
function recordedStatus(dir: string, runId: string): string | undefined {
  try {
    return JSON.parse(shadowGit(dir, ['show', `refs/ml/runs/${runId}:run.json`])).status
  } catch {
    return undefined
  }
}

test('8 submits at once in one folder: all run, one in place and 7 isolated (each said in a line); each records only the output it wrote', async () => {
  const {root, dir, branch} = await project()
  const go = path.join(root, 'go')
  // Each waits until all 8 have started, so that every one overlaps all the others.
  await write(dir, {'w.sh': 'echo "$1" > "outputs/out_$1.txt"\necho "started $1"\nn=0; while [ ! -e "$GO" ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done\n'})
  let started = 0
  const results = Array.from({length: 8}, (_, i) => new Promise<{code: number | null; stderr: string}>((resolve) => {
    const child = mlSpawn(dir, ['experiment', 'submit', 'w.sh', String(i)], {GO: go})
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => d.toString().includes('started') && started++)
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (code) => resolve({code, stderr}))
  }))
  await until('8 scripts to start', () => started === 8, 180_000)
  writeFileSync(go, '')
  const done = await within(120_000, Promise.all(results))
  for (const r of done) assert.is(r.code, 0, r.stderr)
  const told = done.filter((r) => /Another run \(p_\d+_[0-9a-f]+\) is running in this folder; running this one isolated in \.ml\/work\/p_\d+_[0-9a-f]+\/\.\n/.test(r.stderr))
  assert.is(told.length, 7, done.map((r) => r.stderr).join('\n'))
  const all = await runs(dir)
  assert.is(all.length, 8)
  assert.ok(all.every((r) => r.status === 'Completed'))
  assert.is(all.filter((r) => r.isolated).length, 7, 'the 7 that found another run in the folder ran isolated')
  const outs = all.map((r) => r.outputs.map((o) => o.path))
  for (const out of outs) assert.is(out.length, 1, JSON.stringify(outs))
  assert.equal(outs.flat().sort(), Array.from({length: 8}, (_, i) => `out_${i}.txt`))
  for (const run of all) {
    const [file] = run.outputs.map((o) => o.path)
    assert.is(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:outputs/${file}`]), file.replace(/\D/g, ''), 'the file is the one this run wrote')
  }
  const lines = shadowGit(dir, ['rev-list', '--parents', branch]).split('\n').map((l) => l.split(' '))
  assert.ok(lines.slice(0, -1).every((l) => l.length === 2) && lines.at(-1)!.length === 1, 'the history branch is linear')
  shadowGit(dir, ['fsck', '--strict'])
  assert.not.ok(existsSync(path.join(dir, '.ml', 'work')), 'the isolated checkouts are removed')
  assert.not.ok(existsSync(path.join(dir, '.ml', 'in-place-run')))
})

test('--in-place: a submit while another runs in the folder is RUN_IN_PROGRESS, as before; it cannot go with --isolated', async () => {
  const {root, dir} = await project()
  const go = path.join(root, 'go')
  await write(dir, {'slow.sh': 'echo started\nn=0; while [ ! -e "$GO" ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done\n', 'fast.sh': 'true\n'})
  const first = mlSpawn(dir, ['experiment', 'submit', 'slow.sh'], {GO: go})
  const firstDone = new Promise((resolve) => first.once('close', resolve))
  await within(60_000, new Promise<void>((resolve) => first.stdout.on('data', (d: Buffer) => d.toString().includes('started') && resolve())))
  const second = await within(60_000, ml(dir, ['experiment', 'submit', '--in-place', 'fast.sh']))
  assert.is(second.code, 1)
  assert.match(second.stderr, /Error \[RUN_IN_PROGRESS\]: Run p_\d+_[0-9a-f]+ \(ml process \d+\) is running in this project folder/)
  const both = await ml(dir, ['experiment', 'submit', '--in-place', '--isolated', 'fast.sh'])
  assert.is(both.code, 2, both.stderr)
  writeFileSync(go, '')
  assert.is(await within(60_000, firstDone), 0)
  assert.is((await runs(dir)).length, 1)
})

test('ml SIGKILLed while its script runs: the script\'s whole process group is stopped, and the next listing records the run as Failed', async () => {
  const {root, dir} = await project()
  const pids = path.join(root, 'pids')
  await write(dir, {'long.sh': 'sleep 600 &\necho "$$ $!" > "$PIDS"\necho started\nwait\n'})
  const child = mlSpawn(dir, ['experiment', 'submit', 'long.sh'], {PIDS: pids})
  const closed = new Promise((resolve) => child.once('close', resolve))
  await within(60_000, new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('started') && resolve())))
  const [script, sleeper] = (await fs.readFile(pids, 'utf8')).trim().split(' ').map(Number)
  assert.ok(alive(script) && alive(sleeper))
  child.kill('SIGKILL')
  await closed
  await until('the script and what it started to be stopped', () => !alive(script) && !alive(sleeper))
  const [run] = await runs(dir)
  assert.is(run.status, 'Failed')
  assert.match(run.error ?? '', /The ml process \(pid \d+\) ended before the run did/)
})

test('Ctrl-C while the ending push waits for another process\'s lock: ml ends at once with 130, names `ml history push`, and the run is recorded here', async () => {
  const {root, dir} = await project(true)
  const holder = spawn('sleep', ['600'], {stdio: 'ignore'})
  try {
    writeFileSync(path.join(root, 'lock'), JSON.stringify({pid: holder.pid, host: hostname(), since: new Date().toISOString()}))
    // The script takes the project's lock (as another ml process would, once the start's push
    // is done with it) and leaves it held for the push of the run's ending.
    await write(dir, {'take.sh': 'until ln "$HOLD" "$ML_PROJECT_DIR/.ml/lock" 2>/dev/null; do sleep 0.05; done\necho took\n'})
    const child = mlSpawn(dir, ['experiment', 'submit', 'take.sh'], {HOLD: path.join(root, 'lock')})
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const closed = new Promise<number | null>((resolve) => child.once('close', resolve))
    await within(60_000, new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('took') && resolve())))
    const runId = /Run (p_\d+_[0-9a-f]+) started/.exec(stderr)![1]
    await until('the run\'s ending to be recorded', () => recordedStatus(dir, runId) === 'Completed')
    // Its scratch folder goes just before the ending's push starts (and waits for the lock).
    await until('the run\'s scratch folder to go', () => !existsSync(path.join(dir, '.ml', 'runs', runId)))
    child.kill('SIGINT')
    assert.is(await within(20_000, closed), 130, stderr)
    assert.match(stderr, /Interrupted: the push to the remote was not sent; run p_\d+_[0-9a-f]+ is recorded here, and `ml history push` sends it\./)
    assert.is(recordedStatus(dir, runId), 'Completed')
    assert.ok(existsSync(path.join(dir, '.ml', 'lock')), 'the holder\'s lock is left to it')
    holder.kill('SIGKILL')
    await new Promise((resolve) => holder.once('exit', resolve))
    ok(await ml(dir, ['history', 'push']))
    assert.is(git(path.join(root, 'remote.git'), ['show', `refs/ml/runs/${runId}:run.json`]).includes('"Completed"'), true)
  } finally {
    holder.kill('SIGKILL')
  }
})

test.run()
