import {existsSync, promises as fs} from 'node:fs'
import {hostname} from 'node:os'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {parse as parseYaml} from 'yaml'
import {checkRunRecord} from '../../src/core/trust/run-record.js'
import {cleanup, errorCode, folderState, ml, ok, type Result, shadowGit, shadowRefs, tempDir, timedSuite, within, write} from '../helpers.js'

const test = timedSuite('records-trust')
test.after.each(cleanup)

/** Every CLI test here is bounded: a hang fails the test instead of the suite. */

/** What a terminal may take as a command: C0 but tab and newline, DEL, C1. */
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/

/** A well-formed record of `runId` on the project's current snapshot; cases change it. */
function goodRecord(dir: string, runId: string): Record<string, unknown> {
  return {
    schema: 1, runId, projectId: 'x', projectName: 'p', script: 'train.py', arguments: [], compute: 'local', status: 'Completed',
    startTimeUtc: '2023-11-14T22:13:20.000Z', snapshotId: shadowGit(dir, ['rev-parse', 'HEAD']), host: 'elsewhere', outputs: [], properties: {},
  }
}

/**
 * Points refs/ml/runs/<name> at a commit whose tree holds `runJson` (bytes as given, or no
 * run.json at all with null) and `files`, built with git's plumbing as a remote could deliver it.
 */
function craftRun(dir: string, name: string, runJson: string | null, files: Record<string, string> = {}): void {
  const all = runJson === null ? files : {'run.json': runJson, ...files}
  const outputs = Object.entries(all).filter(([f]) => f.startsWith('outputs/'))
  const top = Object.entries(all).filter(([f]) => !f.startsWith('outputs/'))
  const blob = (content: string) => shadowGit(dir, ['hash-object', '-w', '--stdin'], {}, content)
  const entries = top.map(([f, content]) => `100644 blob ${blob(content)}\t${f}`)
  if (outputs.length > 0) {
    const sub = shadowGit(dir, ['mktree'], {}, outputs.map(([f, content]) => `100644 blob ${blob(content)}\t${f.slice('outputs/'.length)}\n`).join(''))
    entries.push(`040000 tree ${sub}\toutputs`)
  }
  const tree = shadowGit(dir, ['mktree'], {}, entries.map((e) => `${e}\n`).join(''))
  shadowGit(dir, ['update-ref', `refs/ml/runs/${name}`, shadowGit(dir, ['commit-tree', tree, '-p', 'HEAD', '-m', 'crafted'])])
}

/** A project in root/project with one real run, and files outside it that a crafted record must not reach. */
async function project(): Promise<{root: string; dir: string; good: string}> {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'project']))
  const dir = path.join(root, 'project')
  await write(root, {'home/.ssh/id_ed25519': 'PRIVATE KEY\n', 'tell-tale.txt': 'untouched\n'})
  await write(dir, {'run.sh': 'echo hello\n'})
  ok(await ml(dir, ['experiment', 'submit', 'run.sh']))
  const [run] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  return {root, dir, good: run.runId}
}

/** Everything in and around the project but its caches, to show that a command wrote nothing. */
async function state(root: string): Promise<Record<string, string>> {
  const all = await folderState(root, [])
  for (const file of Object.keys(all)) if (file.endsWith('/.ml/runs-cache.ndjson')) delete all[file]
  return all
}

function noStackTrace(r: Result): void {
  assert.not.match(r.stderr, /\n\s+at |TypeError|SyntaxError/, r.stderr)
}

test('checkRunRecord: ids, paths, hashes and types are checked, and a record names its own ref', () => {
  const snapshotId = 'a'.repeat(40)
  const base = {schema: 1, runId: 'p_1_aaaa', projectId: 'x', projectName: 'p', script: 't.py', arguments: [], compute: 'local', status: 'Completed', startTimeUtc: '2023-11-14T22:13:20.000Z', snapshotId, host: 'h', outputs: [], properties: {}}
  const check = (record: unknown, ref = 'p_1_aaaa') => checkRunRecord(Buffer.from(typeof record === 'string' ? record : JSON.stringify(record)), ref)
  assert.equal(check(base), {record: base})
  const bad: Array<[string, unknown, RegExp]> = [
    ['invalid JSON', '{"schema":', /not JSON/],
    ['null', null, /expected object/],
    ['an array', [base], /expected object/],
    ['no startTimeUtc', {...base, startTimeUtc: undefined}, /startTimeUtc/],
    ['a metric that is a string', {...base, metrics: {acc: 'high'}}, /metrics\.acc/],
    ['a runId with ../', {...base, runId: '../p_1_aaaa'}, /runId is not a valid run id/],
    ['an absolute runId', {...base, runId: '/tmp/x'}, /runId/],
    ['an output path with ..', {...base, outputs: [{path: '../../x', size: 1}]}, /outputs\.0\.path/],
    ['an output path into .ml', {...base, outputs: [{path: 'a/.ML/x', size: 1}]}, /outputs\.0\.path/],
    ['a sha256 that is a path', {...base, outputs: [{path: 'm.bin', size: 1, sha256: '../../.ssh/id_ed25519'}]}, /sha256/],
    ['one output inside another', {...base, outputs: [{path: 'm', size: 1}, {path: 'm/x', size: 1}]}, /outputs/],
    ['a snapshotId that is no commit id', {...base, snapshotId: 'HEAD'}, /snapshotId/],
    ['status Corrupt', {...base, status: 'Corrupt'}, /status/],
    ['a pid that is not a process', {...base, pid: -1}, /pid/],
    ['a parameter that is an object', {...base, params: {lr: {nested: 1}}}, /params\.lr/],
    ['a parameter with an empty name', {...base, params: {'': 1}}, /params/],
    ['a parameter value of 20,000 characters', {...base, params: {note: 'x'.repeat(20_000)}}, /params\.note/],
    ['a sweepId that is a path', {...base, sweepId: '../sweep'}, /sweepId/],
    ['isolated that is not a boolean', {...base, isolated: 'yes'}, /isolated/],
    ['a queue time that is no time', {...base, status: 'Queued', queuedTimeUtc: 'soon'}, /queuedTimeUtc/],
  ]
  for (const [name, record, reason] of bad) {
    const result = check(record)
    assert.ok('reason' in result, name)
    assert.match((result as {reason: string}).reason, reason, name)
  }
  assert.match((check(base, 'p_2_bbbb') as {reason: string}).reason, /names the run p_1_aaaa/)
  assert.equal(checkRunRecord(null, 'p_1_aaaa'), {reason: 'the run has no run.json'})
})

test('history download of a crafted record writes nothing outside its folder and copies no local file', () => within(60_000, (async () => {
  const {root, dir, good} = await project()
  const cases: Array<[string, (r: Record<string, unknown>) => Record<string, unknown>, Record<string, string>]> = [
    ['evil_1_aaaa', (r) => ({...r, outputs: [{path: '../../../pwned.txt', size: 3}]}), {'outputs/x': 'pwn'}],
    ['evil_2_aaaa', (r) => ({...r, runId: '../../pwned'}), {}],
    ['evil_3_aaaa', (r) => ({...r, runId: `${root}/pwned`}), {}],
    ['evil_4_aaaa', (r) => ({...r, outputs: [{path: 'key', size: 12, sha256: '../../../home/.ssh/id_ed25519'}]}), {}],
  ]
  for (const [name, change] of cases) craftRun(dir, name, JSON.stringify(change(goodRecord(dir, name))))
  const refs = shadowRefs(dir)
  const listed = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  const before = await state(root)
  for (const [name] of cases) {
    const run = listed.find((r: {runId: string}) => r.runId === name)
    assert.is(run?.status, 'Corrupt', name)
    for (const args of [['--run-id', name], ['--run-id', name, '--dir', path.join(root, 'dl')]]) {
      const r = await ml(dir, ['history', 'download', ...args])
      assert.is(errorCode(r), 'RUN_CORRUPT', r.stderr)
      assert.is(r.code, 1)
      noStackTrace(r)
    }
  }
  assert.equal(await state(root), before, 'nothing was written anywhere, .ml/ included')
  assert.not.ok(existsSync(path.join(root, 'pwned.txt')))
  assert.is(shadowRefs(dir), refs, 'no ref moved')
  ok(await ml(dir, ['history', 'download', '--run-id', good, '--dir', path.join(root, 'good')]))
  assert.ok(existsSync(path.join(root, 'good', 'output.log')), 'the project still downloads its good runs')
})()))

test('a crafted record never rewrites another run, however it is listed', () => within(60_000, (async () => {
  const {dir, good} = await project()
  // Running, on this machine, with a pid that is no process: ml settled such a run as Failed on the ref the record names.
  const record = {...goodRecord(dir, good), status: 'Running', host: hostname(), pid: 2 ** 22 + 12345}
  craftRun(dir, 'evil_1_aaaa', JSON.stringify(record))
  const victim = shadowGit(dir, ['rev-parse', `refs/ml/runs/${good}`])
  const refs = shadowRefs(dir)
  for (let i = 0; i < 2; i++) {
    const runs = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
    assert.equal(runs.map((r: {runId: string; status: string}) => [r.runId, r.status]), [[good, 'Completed'], ['evil_1_aaaa', 'Corrupt']])
    assert.match(runs[1].error, new RegExp(`names the run ${good}`))
  }
  ok(await ml(dir, ['history', 'info', '--run-id', 'evil_1_aaaa']))
  assert.is(errorCode(await ml(dir, ['project', 'restore', '--run-id', 'evil_1_aaaa', '--yes'])), 'RUN_CORRUPT')
  assert.is(shadowGit(dir, ['rev-parse', `refs/ml/runs/${good}`]), victim, 'the other run is untouched')
  assert.is(shadowRefs(dir), refs)

  // The same record on its own ref is settled as Failed there, and nowhere else.
  craftRun(dir, 'own_1_aaaa', JSON.stringify({...record, runId: 'own_1_aaaa'}))
  const runs = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.is(runs.find((r: {runId: string}) => r.runId === 'own_1_aaaa').status, 'Failed')
  assert.is(shadowGit(dir, ['rev-parse', `refs/ml/runs/${good}`]), victim)
  assert.is(JSON.parse(shadowGit(dir, ['show', 'refs/ml/runs/own_1_aaaa:run.json'])).status, 'Failed')
})()))

test('one bad record is listed as Corrupt and breaks no command', () => within(120_000, (async () => {
  const {dir, good} = await project()
  const bad: Array<[string, string | null]> = [
    ['bad_1_json', '{"schema": 1, "runId": '],
    ['bad_2_null', 'null'],
    ['bad_3_array', '[]'],
    ['bad_4_nostart', JSON.stringify({...goodRecord(dir, 'bad_4_nostart'), startTimeUtc: undefined})],
    ['bad_5_metrics', JSON.stringify({...goodRecord(dir, 'bad_5_metrics'), metrics: {loss: 'low'}})],
    ['bad_6_none', null],
  ]
  for (const [name, json] of bad) craftRun(dir, name, json, {'output.log': 'a log\n'})
  const refs = shadowRefs(dir)
  const runs = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.is(runs[0].runId, good)
  assert.equal(runs.slice(1).map((r: {runId: string; status: string}) => [r.runId, r.status]).sort(), bad.map(([name]) => [name, 'Corrupt']))
  assert.ok(runs.slice(1).every((r: {error: string}) => r.error.length > 0))
  const table = ok(await ml(dir, ['history', 'list'])).stdout
  assert.match(table, /bad_1_json\s+Corrupt/)
  assert.is(JSON.parse(ok(await ml(dir, ['history', 'list', '--status', 'corrupt', '-o', 'json'])).stdout).length, bad.length)
  ok(await ml(dir, ['history', 'list', '--last', '2']))
  for (const [name] of bad) {
    const info = ok(await ml(dir, ['history', 'info', '--run-id', name])).stdout
    assert.match(info, /Status\s+Corrupt/)
    assert.match(info, /Error\s+\S/)
    ok(await ml(dir, ['history', 'compare', good, name]))
    ok(await ml(dir, ['history', 'metrics', '--run-id', name, '-o', 'json']))
    for (const args of [['diff', good, name], ['diff', name, good], ['download', '--run-id', name]]) {
      const r = await ml(dir, ['history', ...args])
      assert.is(errorCode(r), 'RUN_CORRUPT', `${args.join(' ')}: ${r.stderr}`)
      noStackTrace(r)
    }
    assert.is(errorCode(await ml(dir, ['project', 'restore', '--run-id', name, '--yes'])), 'RUN_CORRUPT')
  }
  assert.is(JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'])).stdout).runId, good)
  assert.is(shadowRefs(dir), refs)
  ok(await ml(dir, ['experiment', 'submit', 'run.sh']))
  assert.is(JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout).length, bad.length + 2, 'the project goes on')
})()))

test('control characters in records and file names are escaped in every format and in errors', () => within(60_000, (async () => {
  const {dir} = await project()
  const esc = '\x1b]0;pwned\x07\x1b[2J'
  const record = {
    ...goodRecord(dir, 'ctl_1_aaaa'),
    script: `train${esc}.py`, arguments: ['--x', 'del\x7f c1\x9b tab\there nl\nhere'], host: `h${esc}`,
    properties: {[`key${esc}`]: `value${esc}`}, metrics: {[`acc${esc}`]: 1}, outputs: [{path: `m${esc}.bin`, size: 1}],
  }
  craftRun(dir, 'ctl_1_aaaa', JSON.stringify(record))
  craftRun(dir, 'ctl_2_aaaa', `{"runId": "${esc}\x9b`)
  const json = ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout
  const runs = JSON.parse(json)
  assert.equal(runs.find((r: {runId: string}) => r.runId === 'ctl_1_aaaa').properties, record.properties, 'JSON is valid and holds the same text')
  for (const format of ['table', 'tsv', 'yaml', 'json', 'jsonc']) {
    for (const args of [['list'], ['info', '--run-id', 'ctl_1_aaaa'], ['info', '--run-id', 'ctl_2_aaaa'], ['compare', 'ctl_1_aaaa', 'ctl_2_aaaa'], ['list', '--query', '[].script']]) {
      const out = ok(await ml(dir, ['history', ...args, '-o', format])).stdout
      assert.not.match(out, RAW_CONTROL, `${args.join(' ')} -o ${format}: ${JSON.stringify(out)}`)
      if (format === 'yaml' && args[0] === 'list' && args.length === 1) assert.equal(parseYaml(out), runs, 'YAML holds the same text')
    }
  }
  assert.match(ok(await ml(dir, ['history', 'list'])).stdout, /train\\x1b\]0;pwned\\x07\\x1b\[2J\.py/)
  const missing = ok(await ml(dir, ['history', 'download', '--run-id', 'ctl_1_aaaa']))
  assert.match(missing.stderr, /m\\x1b/)
  for (const args of [['history', 'info', '--run-id', esc], ['history', 'download', '--run-id', 'ctl_2_aaaa']]) {
    const r = await ml(dir, args)
    assert.ok(errorCode(r), r.stderr)
    assert.not.match(r.stderr, RAW_CONTROL, JSON.stringify(r.stderr))
  }
})()))

test('a record that says Queued, with this machine as its host, is never run: only runs queued here are', async () => {
  const {root, dir} = await project()
  const pwned = path.join(root, 'PWNED')
  await write(dir, {'evil.sh': `touch ${pwned}\n`})
  ok(await ml(dir, ['project', 'snapshot', '-q']))
  const now = new Date().toISOString()
  craftRun(dir, 'evil_1700000000000_beef', JSON.stringify({...goodRecord(dir, 'evil_1700000000000_beef'), status: 'Queued', host: hostname(), script: 'evil.sh', isolated: true, queuedTimeUtc: now, startTimeUtc: now}))
  ok(await ml(dir, ['experiment', 'submit', '--queue', 'run.sh']))
  const status = JSON.parse(ok(await ml(dir, ['queue', 'status', '-o', 'json'])).stdout)
  assert.equal(status.queued.map((r: {script: string}) => r.script), ['run.sh'], 'the crafted run is not in the queue')
  const r = ok(await within(60_000, ml(dir, ['queue', 'start'])))
  assert.match(r.stderr, /ran 1 run/)
  assert.not.ok(existsSync(pwned), 'the crafted run\'s script never ran')
  const runs = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.is(runs.find((run: {runId: string}) => run.runId === 'evil_1700000000000_beef').status, 'Queued', 'it is listed as what it says, and left alone')
})

test('a record that says it runs on an attached target, in a folder or as a Slurm job, is never synced or canceled', async () => {
  const {root, dir} = await project()
  const victim = path.join(root, 'victim')
  await write(victim, {'keep.txt': 'mine\n'})
  ok(await ml(dir, ['compute', 'attach', 'box', '--type', 'ssh', '--host', '127.0.0.1', '--port', '1']))
  ok(await ml(dir, ['compute', 'attach', 'hpc', '--type', 'slurm', '--work-dir', victim]))
  const now = new Date().toISOString()
  for (const [id, compute, properties] of [['evil_1700000000000_aaaa', 'box', {'compute.dir': victim}], ['evil_1700000000000_bbbb', 'hpc', {'slurm.job_id': '1', 'compute.dir': victim}]] as const) {
    craftRun(dir, id, JSON.stringify({...goodRecord(dir, id), status: 'Running', compute, host: hostname(), startTimeUtc: now, properties}))
  }
  assert.match(ok(await ml(dir, ['history', 'sync'])).stderr, /No run is out on a compute target/)
  for (const id of ['evil_1700000000000_aaaa', 'evil_1700000000000_bbbb']) {
    const r = await ml(dir, ['experiment', 'cancel', id])
    assert.is(errorCode(r), 'RUN_NOT_CANCELABLE', r.stderr)
  }
  assert.is(await fs.readFile(path.join(victim, 'keep.txt'), 'utf8'), 'mine\n')
  const runs = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.equal(runs.filter((run: {runId: string}) => run.runId.startsWith('evil_')).map((run: {status: string}) => run.status), ['Running', 'Running'])
})

test.run()
