import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import * as assert from 'uvu/assert'
import {cleanup, errorCode, ml, mlSpawn, ok, shadowGit, tempDir, timedSuite, within, write} from '../helpers.js'

const test = timedSuite('history-commands')
test.after.each(cleanup)

/** Every test here is bounded: a hang fails the test instead of the suite. */

async function project(files: Record<string, string>): Promise<string> {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init']))
  await write(dir, files)
  return dir
}

async function runIds(dir: string): Promise<string[]> {
  return JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout).map((r: {runId: string}) => r.runId)
}

test('the run id is a positional argument everywhere; --run-id still works; both or neither is INVALID_ARGUMENT', () => within(90_000, (async () => {
  const dir = await project({'m.sh': 'echo "{\\"name\\":\\"a\\",\\"value\\":1}" >> "$ML_METRICS_FILE"\n'})
  ok(await ml(dir, ['experiment', 'submit', 'm.sh']))
  const [id] = await runIds(dir)
  assert.is(JSON.parse(ok(await ml(dir, ['history', 'info', id.slice(0, -2), '-o', 'json'])).stdout).runId, id)
  assert.is(JSON.parse(ok(await ml(dir, ['history', 'info', '--run-id', id, '-o', 'json'])).stdout).runId, id)
  assert.is(JSON.parse(ok(await ml(dir, ['history', 'metrics', id, '-o', 'json'])).stdout).length, 1)
  assert.match(ok(await ml(dir, ['history', 'log', id])).stdout, /^$/)
  assert.match(ok(await ml(dir, ['project', 'restore', id, '--dry-run'])).stdout, /dry run/)
  for (const command of [['history', 'info'], ['history', 'metrics'], ['history', 'download'], ['history', 'log'], ['project', 'restore']]) {
    for (const args of [[id, '--run-id', id], []]) {
      const r = await ml(dir, [...command, ...args])
      assert.is(errorCode(r), 'INVALID_ARGUMENT', `${command.join(' ')} ${args.join(' ')}: ${r.stderr}`)
      assert.is(r.code, 1)
    }
  }
  assert.is(errorCode(await ml(dir, ['project', 'restore', id, '--undo'])), 'INVALID_ARGUMENT')
})()))

test('history download writes into .ml/downloads/<run-id>/ by default, which no snapshot picks up', () => within(60_000, (async () => {
  const dir = await project({'o.sh': 'echo hi; echo model > "$ML_OUTPUTS_DIR/model.txt"\n'})
  ok(await ml(dir, ['experiment', 'submit', 'o.sh']))
  const [id] = await runIds(dir)
  const snapshot = shadowGit(dir, ['rev-parse', 'HEAD^{tree}'])
  const r = ok(await ml(dir, ['history', 'download', id]))
  const target = path.join(dir, '.ml', 'downloads', id)
  assert.ok(r.stdout.includes(target), r.stdout)
  assert.is(await fs.readFile(path.join(target, 'outputs', 'model.txt'), 'utf8'), 'model\n')
  assert.is(await fs.readFile(path.join(target, 'output.log'), 'utf8'), 'hi\n')
  assert.not.ok(existsSync(path.join(dir, id)), 'nothing in the project folder')
  ok(await ml(dir, ['project', 'snapshot']))
  assert.is(shadowGit(dir, ['rev-parse', 'HEAD^{tree}']), snapshot, 'the download is in no snapshot')
  assert.is(errorCode(await ml(dir, ['history', 'download', id])), 'DESTINATION_EXISTS')
  ok(await ml(dir, ['history', 'download', id, '--dir', 'here']))
  assert.ok(existsSync(path.join(dir, 'here', 'outputs', 'model.txt')), '--dir writes where it is told')
})()))

test('diff --stat counts what git diff --numstat counts: lines starting with "-- ", non-ASCII names', () => within(60_000, (async () => {
  const dir = await project({'run.sh': 'true\n', 'q.sql': '-- a comment\n-- another\nselect 1;\n', 'keep.txt': '--- x\n+++ y\n', 'bin.dat': 'a\0b'})
  ok(await ml(dir, ['experiment', 'submit', 'run.sh']))
  await write(dir, {'q.sql': 'select 2;\n', 'keep.txt': '+++ y\n', 'naïve résumé.txt': 'one\ntwo\n', 'bin.dat': 'a\0c'})
  ok(await ml(dir, ['experiment', 'submit', 'run.sh']))
  const [b, a] = await runIds(dir)
  const snapshots = [a, b].map((id) => JSON.parse(shadowGit(dir, ['show', `refs/ml/runs/${id}:run.json`])).snapshotId)
  const numstat = shadowGit(dir, ['diff', '--numstat', '-z', '--no-renames', ...snapshots]).split('\0').filter(Boolean).map((line) => {
    const [adds, dels, file] = line.split('\t')
    return adds === '-' ? {path: file, additions: 0, deletions: 0, binary: true} : {path: file, additions: Number(adds), deletions: Number(dels), binary: false}
  })
  const json = JSON.parse(ok(await ml(dir, ['history', 'diff', a, b, '-o', 'json'])).stdout)
  assert.equal(json.files, numstat)
  const stat = ok(await ml(dir, ['history', 'diff', a, b, '--stat'])).stdout
  const shortstat = shadowGit(dir, ['diff', '--shortstat', '--no-renames', ...snapshots]).trim()
  assert.ok(stat.includes(` ${shortstat}\n`), `${stat}\n---\n${shortstat}`)
  assert.match(stat, /naïve résumé\.txt \| 2 \+\+/)
})()))

test('history log prints the log, --tail its end; info of a failed run shows its last 20 lines', () => within(60_000, (async () => {
  const dir = await project({'fail.sh': 'for i in $(seq 1 30); do echo "line $i"; done\nprintf "\\033[31mred\\n"\nexit 3\n'})
  assert.is((await ml(dir, ['experiment', 'submit', 'fail.sh'])).code, 3)
  const [id] = await runIds(dir)
  const full = `${Array.from({length: 30}, (_, i) => `line ${i + 1}\n`).join('')}\u001b[31mred\n`
  assert.is(ok(await ml(dir, ['history', 'log', id])).stdout, full, 'piped, the log is byte for byte')
  assert.is(ok(await ml(dir, ['history', 'log', id, '--tail', '2'])).stdout, 'line 30\n\u001b[31mred\n')
  assert.is(ok(await ml(dir, ['history', 'log', id, '--tail', '0'])).stdout, '')
  const info = ok(await ml(dir, ['history', 'info', id])).stdout
  assert.ok(info.endsWith(`\nLast 20 lines of output.log:\n${Array.from({length: 19}, (_, i) => `line ${i + 12}\n`).join('')}\\x1b[31mred\n`), info)
  assert.not.match(info, /line 11\n/)
  assert.not.match(ok(await ml(dir, ['history', 'info', id, '-o', 'json'])).stdout, /line 30/, 'JSON is the record')
})()))

test('history log --follow prints a running run as it goes and stops when it ends', () => within(90_000, (async () => {
  const dir = await project({'slow.sh': 'echo before\nwhile [ ! -e go ]; do sleep 0.1; done\necho after\n'})
  await fs.appendFile(path.join(dir, '.amlignore'), 'go\n')
  const submit = mlSpawn(dir, ['experiment', 'submit', 'slow.sh'])
  const submitted = new Promise((resolve) => submit.on('close', resolve))
  let follow: ReturnType<typeof mlSpawn> | undefined
  try {
    let id: string | undefined
    while (!id) {
      await sleep(200)
      const [run] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
      if (run?.status === 'Running' && existsSync(path.join(dir, '.ml', 'runs', run.runId, 'output.log'))) id = run.runId
    }
    follow = mlSpawn(dir, ['history', 'log', id, '--follow'])
    let followed = ''
    follow.stdout.on('data', (d: Buffer) => (followed += d.toString()))
    const ended = new Promise((resolve) => follow!.on('close', resolve))
    while (!followed.includes('before\n') && follow.exitCode === null) await sleep(100)
    assert.is(followed, 'before\n', 'it prints what the run printed so far')
    assert.is(ok(await ml(dir, ['history', 'log', id])).stdout, 'before\n', 'so does history log without --follow')
    await fs.writeFile(path.join(dir, 'go'), '')
    assert.is(await ended, 0)
    assert.is(followed, 'before\nafter\n')
    await submitted
    assert.is(ok(await ml(dir, ['history', 'log', id])).stdout, 'before\nafter\n')
  } finally {
    await fs.writeFile(path.join(dir, 'go'), '')
    follow?.kill()
    await submitted
  }
})()))

interface SweptRun {
  runId: string
  arguments: string[]
  params: Record<string, unknown>
  startTimeUtc: string
  sweepId?: string
}

/** The sweep id `experiment sweep` printed. */
function sweepIdOf(stderr: string): string {
  const id = /Sweep (sweep_\d+_[0-9a-f]+)/.exec(stderr)?.[1]
  if (!id) throw new Error(`no sweep id in: ${stderr}`)
  return id
}

test('compare --sweep orders the runs by the swept parameters (the first --grid first, numbers numerically), not by start; the table\'s columns too', () => within(150_000, (async () => {
  const dir = await project({'t.sh': 'true\n'})
  // Planned (and so started) with lr=0.3 first; 64 before 8 before -16 (passed as --bs=-16).
  const r = ok(await ml(dir, ['experiment', 'sweep', '-j', '3', '--grid', 'lr=0.3,0.01,0.1', '--grid', 'bs=64,8,-16', 't.sh', '--epochs', '2']))
  const sweepId = sweepIdOf(r.stderr)
  const compared = JSON.parse(ok(await ml(dir, ['history', 'compare', '--sweep', sweepId, '-o', 'json'])).stdout) as {runs: SweptRun[]}
  const expected = [0.01, 0.1, 0.3].flatMap((lr) => [-16, 8, 64].map((bs) => `lr=${lr} bs=${bs}`))
  assert.equal(compared.runs.map((run) => `lr=${run.params.lr} bs=${run.params.bs}`), expected)
  assert.ok(compared.runs.some((run) => run.arguments.includes('--bs=-16')), 'a negative value is one --name=value word')
  const header = ok(await ml(dir, ['history', 'compare', '--sweep', sweepId])).stdout.split('\n')[0]
  const columns = compared.runs.map((run) => header.indexOf(run.runId))
  assert.ok(columns.every((at, i) => at > 0 && (i === 0 || at > columns[i - 1])), `the table's columns in that order: ${header}`)
  // Named runs keep the order they were given in.
  const named = [compared.runs[4].runId, compared.runs[0].runId]
  assert.equal((JSON.parse(ok(await ml(dir, ['history', 'compare', ...named, '-o', 'json'])).stdout) as {runs: SweptRun[]}).runs.map((run) => run.runId), named)
})()))

test('compare --sweep: runs alike in every swept parameter stay in the order they started', () => within(150_000, (async () => {
  const dir = await project({'t.sh': 'true\n'})
  const r = ok(await ml(dir, ['experiment', 'sweep', '--random', '6', '--seed', '3', '--grid', 'opt=sgd,adam', 't.sh']))
  const sweepId = sweepIdOf(r.stderr)
  const listed = (JSON.parse(ok(await ml(dir, ['history', 'list', '--sweep', sweepId, '-o', 'json'])).stdout) as SweptRun[])
  const byStart = [...listed].sort((a, b) => a.startTimeUtc.localeCompare(b.startTimeUtc))
  const opts = byStart.map((run) => run.params.opt)
  assert.ok(opts.includes('adam') && opts.includes('sgd') && opts.indexOf('sgd') < opts.lastIndexOf('adam'), `the draws are not in order already: ${opts}`)
  const expected = [...byStart.filter((run) => run.params.opt === 'adam'), ...byStart.filter((run) => run.params.opt === 'sgd')].map((run) => run.runId)
  const compared = JSON.parse(ok(await ml(dir, ['history', 'compare', '--sweep', sweepId, '-o', 'json'])).stdout) as {runs: SweptRun[]}
  assert.equal(compared.runs.map((run) => run.runId), expected)
})()))

test.run()
