import {spawn} from 'node:child_process'
import {chmodSync, existsSync, promises as fs, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, errorCode, ml, mlSpawn, ok, shadowRefs, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('exec-runs')
test.after.each(cleanup)

/** Rejects (and kills `child`) when `promise` takes longer than `ms`: nothing here can hang. */
function within<T>(ms: number, promise: Promise<T>, child?: {kill(signal: NodeJS.Signals): unknown}): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => {
      child?.kill('SIGKILL')
      reject(new Error(`not done after ${ms} ms`))
    }, ms))),
  ])
}

async function project(): Promise<string> {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p', '-q']))
  return path.join(root, 'p')
}

function waitFor(child: ReturnType<typeof mlSpawn>, text: string): Promise<void> {
  let out = ''
  return new Promise((resolve) => child.stdout.on('data', (d: Buffer) => (out += d.toString()).includes(text) && resolve()))
}

/** The history's refs once a run's ref is among them (within 15 s). */
async function recordedRefs(dir: string): Promise<string> {
  for (const end = Date.now() + 15_000; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 50))) {
    const refs = shadowRefs(dir)
    if (refs.includes('refs/ml/runs/')) return refs
  }
  throw new Error('no run was recorded within 15 s')
}

type Run = {runId: string; status: string; outputs: Array<{path: string}>; exitCode: number}

async function runs(dir: string): Promise<Run[]> {
  return JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
}

test('a submit --in-place while another runs is RUN_IN_PROGRESS naming it, before anything is recorded', async () => {
  const dir = await project()
  await write(dir, {'slow.sh': 'echo started; sleep 3; echo a > outputs/a.txt\n', 'fast.sh': 'echo b > outputs/b.txt\n'})
  const first = mlSpawn(dir, ['experiment', 'submit', 'slow.sh'])
  const firstDone = new Promise((r) => first.once('close', r))
  await within(15_000, waitFor(first, 'started'), first)
  // The run's ref is written once its script has started (a journal holds it until then).
  const refs = await recordedRefs(dir)
  const second = await within(15_000, ml(dir, ['experiment', 'submit', '--in-place', 'fast.sh']))
  assert.is(errorCode(second), 'RUN_IN_PROGRESS', second.stderr)
  assert.match(second.stderr, new RegExp(`Run p_\\d+_[0-9a-f]+ \\(ml process ${first.pid}\\) is running`))
  assert.is(second.code, 1)
  assert.is(shadowRefs(dir), refs, 'nothing snapshotted or recorded')
  assert.not.ok(existsSync(path.join(dir, 'outputs', 'b.txt')))
  await within(15_000, firstDone, first)
  const [run] = await runs(dir)
  assert.equal(run.outputs.map((o) => o.path), ['a.txt'])
  ok(await ml(dir, ['experiment', 'submit', 'fast.sh']))
})

test('8 submits --in-place at once: each either runs alone or is refused; no run records another one\'s outputs', async () => {
  const dir = await project()
  await write(dir, {'w.sh': 'echo "$ML_RUN_ID" > "outputs/$ML_RUN_ID.txt"; sleep 0.3\n'})
  const results = await within(60_000, Promise.all(Array.from({length: 8}, () => ml(dir, ['experiment', 'submit', '--in-place', 'w.sh']))))
  const refused = results.filter((r) => r.code !== 0)
  assert.ok(refused.every((r) => errorCode(r) === 'RUN_IN_PROGRESS'), refused.map((r) => r.stderr).join('\n'))
  const all = await runs(dir)
  assert.is(all.length, 8 - refused.length)
  for (const run of all) assert.equal(run.outputs.map((o) => o.path), [`${run.runId}.txt`])
})

test('a run whose ml process died does not block the next one', async () => {
  const dir = await project()
  await write(dir, {'ok.sh': 'true\n'})
  const dead = spawn('true')
  await new Promise((r) => dead.once('exit', r))
  writeFileSync(path.join(dir, '.ml', 'in-place-run'), JSON.stringify({runId: 'p_1_dead', pid: dead.pid, host: hostname()}))
  const r = ok(await within(15_000, ml(dir, ['experiment', 'submit', 'ok.sh'])))
  assert.match(r.stderr, /Run p_1_dead was left unfinished by ml process \d+, which is gone/)
  assert.not.ok(existsSync(path.join(dir, '.ml', 'in-place-run')))
})

test('run_logger imports from a script in a subfolder, with the user\'s PYTHONPATH first', async () => {
  const dir = await project()
  await write(dir, {
    'src/train.py': 'import sys\nfrom run_logger import log\nlog("acc", 0.5)\nprint(sys.path.index("/mine") < [p.endswith("common") for p in sys.path].index(True))\n',
  })
  const r = ok(await within(30_000, ml(path.join(dir, 'src'), ['experiment', 'submit', 'train.py'], {PYTHONPATH: '/mine'})))
  assert.match(r.stdout, /True/)
  const [run] = await runs(dir)
  assert.equal((run as unknown as {metrics: Record<string, number>}).metrics, {acc: 0.5})
})

test('scripts that cannot start are errors before anything is recorded', async () => {
  const dir = await project()
  await write(dir, {'hello.R': 'cat("hi\\n")\n', tool: 'echo hi\n', 'bad.sh': 'true\n', 'nb.ipynb': '{}', 'she': '#!/usr/bin/env no-such-interpreter\n'})
  chmodSync(path.join(dir, 'she'), 0o755)
  const refs = shadowRefs(dir)
  const noR = {PATH: '/usr/bin:/bin'}
  let r = await ml(dir, ['experiment', 'submit', 'hello.R'], noR)
  assert.is(errorCode(r), 'INTERPRETER_NOT_FOUND', r.stderr)
  assert.match(r.stderr, /Rscript/)
  r = await ml(dir, ['experiment', 'submit', 'nb.ipynb'], noR)
  assert.is(errorCode(r), 'INTERPRETER_NOT_FOUND', r.stderr)
  assert.match(r.stderr, /jupyter/)
  r = await ml(dir, ['experiment', 'submit', 'tool'])
  assert.is(errorCode(r), 'SCRIPT_NOT_EXECUTABLE', r.stderr)
  assert.is(r.code, 1)
  r = await ml(dir, ['experiment', 'submit', 'she'])
  assert.is(errorCode(r), 'INTERPRETER_NOT_FOUND', r.stderr)
  assert.match(r.stderr, /no-such-interpreter/)
  assert.is(shadowRefs(dir), refs, 'nothing recorded')

  // With Rscript on the PATH the script gets, .R runs with it.
  const bin = tempDir()
  await write(bin, {Rscript: '#!/bin/sh\necho "Rscript got $1"\n'})
  chmodSync(path.join(bin, 'Rscript'), 0o755)
  r = ok(await ml(dir, ['experiment', 'submit', 'hello.R'], {PATH: `${bin}:${process.env.PATH}`}))
  assert.match(r.stdout, /Rscript got hello.R/)
})

test('SIGINT to ml reaches the script once, as SIGINT, in its whole process group; the run is Canceled', async () => {
  const dir = await project()
  await write(dir, {
    'train.py': [
      'import os, subprocess, time',
      'child = subprocess.Popen(["sh", "-c", "trap \'\' INT; echo $$ > outputs/child.pid.tmp; mv outputs/child.pid.tmp outputs/child.pid; exec sleep 60"])',
      // The child ignores SIGINT only once its trap is set: "started" waits for that.
      'while not os.path.exists("outputs/child.pid"): time.sleep(0.01)',
      'try:',
      // Inside the try: a SIGINT that comes the moment "started" is out is still caught.
      '    print("started", flush=True)',
      '    time.sleep(60)',
      'except KeyboardInterrupt:',
      '    open("outputs/checkpoint.txt", "w").write("saved")',
      '    print("interrupted", flush=True)',
      '    time.sleep(0.5)',
      '    raise',
    ].join('\n') + '\n',
  })
  const child = mlSpawn(dir, ['experiment', 'submit', 'train.py'])
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const closed = new Promise<number | null>((r) => child.once('close', r))
  await within(15_000, waitFor(child, 'started'), child)
  child.kill('SIGINT')
  const code = await within(40_000, closed, child)
  assert.is(code, 130)
  assert.is(out.split('interrupted').length, 2, 'one KeyboardInterrupt')
  const [run] = await runs(dir)
  assert.is(run.status, 'Canceled')
  assert.ok(run.outputs.some((o) => o.path === 'checkpoint.txt'))
  const pid = Number(await fs.readFile(path.join(dir, 'outputs', 'child.pid'), 'utf8'))
  assert.throws(() => process.kill(pid, 0), 'the child that ignored SIGINT did not survive the cancel')
})

test('waiting for the project lock says after a second who holds it', async () => {
  const dir = await project()
  await write(dir, {'ok.sh': 'true\n'})
  const holder = spawn('sleep', ['30'])
  writeFileSync(path.join(dir, '.ml', 'lock'), JSON.stringify({pid: holder.pid, host: hostname()}))
  setTimeout(() => fs.rm(path.join(dir, '.ml', 'lock')), 2500)
  try {
    const r = ok(await within(20_000, ml(dir, ['project', 'snapshot'])))
    assert.match(r.stderr, new RegExp(`Waiting for another ml process \\(pid ${holder.pid}: sleep 30\\)`), r.stderr)
  } finally {
    holder.kill()
  }
})

test.run()
