import {existsSync, promises as fs} from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import * as assert from 'uvu/assert'
import type {Project} from '../../src/core/project/project.js'
import {parseMetrics} from '../../src/core/runs/metrics.js'
import {paramsFromLog} from '../../src/core/runs/params.js'
import type {RunRecord} from '../../src/core/runs/runs.js'
import {trackingFromLog} from '../../src/core/runs/tracking-log.js'
import {mlflowRunId, mlRunId} from '../../src/core/tracking/mlflow-ids.js'
import {batchLines, keyProblem, metricValue, statusLines} from '../../src/core/tracking/mlflow-lines.js'
import {mlflowRun} from '../../src/core/tracking/mlflow-run.js'
import {startRunEndpoint} from '../../src/core/tracking/run-endpoint.js'
import {parseFilter, searchRuns} from '../../src/core/tracking/search-runs.js'
import {cleanup, tempDir, thrown, timedSuite} from '../helpers.js'

const test = timedSuite('tracking', 30_000)
test.after.each(cleanup)

function record(runId: string, fields: Partial<RunRecord> = {}): RunRecord {
  return {schema: 1, runId, projectId: 'id', projectName: 'p', script: 'train.py', arguments: [], compute: 'local', status: 'Completed', startTimeUtc: '2026-01-01T00:00:00.000Z', endTimeUtc: '2026-01-01T00:01:00.000Z', snapshotId: '0'.repeat(40), host: 'h', outputs: [], properties: {}, ...fields}
}

test('keys follow MLflow\'s rule: train/loss is fine, an empty, "." or ".." part, NUL, control characters and long keys are not', () => {
  for (const key of ['loss', 'train/loss', 'a b', 'x:1', 'lr-0.1', 'épochs']) assert.is(keyProblem(key), null, key)
  for (const key of ['', '../x', 'a/../b', 'a//b', '/abs', 'a/', './a', '..', '..x', 'a\0b', 'a\nb', 'a\u0001', 'a\\b', 'x'.repeat(201), 7]) assert.ok(keyProblem(key), JSON.stringify(key))
})

test('metric values: numbers and protobuf\'s JSON texts; infinities as the largest doubles (as MLflow\'s SQL store keeps them)', () => {
  assert.is(metricValue(0.5), 0.5)
  assert.is(metricValue('1e-3'), 0.001)
  assert.is(metricValue('Infinity'), Number.MAX_VALUE)
  assert.is(metricValue('-Infinity'), -Number.MAX_VALUE)
  assert.ok(Number.isNaN(metricValue('NaN')))
  for (const bad of ['abc', '', null, true, {}, '1.2.3']) thrown(() => metricValue(bad), 'INVALID_ARGUMENT')
})

test('a log-batch becomes lines that the run\'s ending reads back as params, metrics (with step and timestamp) and tags; a bad entry anywhere refuses the whole batch', () => {
  const {lines, nan} = batchLines({
    params: [{key: 'lr', value: '0.1'}, {key: 'opt', value: 'adam'}],
    metrics: [{key: 'loss', value: 0.5, timestamp: 1_700_000_000_000, step: 3}, {key: 'acc', value: 'NaN', timestamp: '1700000000001', step: '4'}],
    tags: [{key: 'mlflow.user', value: 'me'}],
  }, {}, 1)
  assert.equal(nan, ['acc'])
  const text = `${lines.join('\n')}\n`
  assert.equal(paramsFromLog(text).params, {lr: 0.1, opt: 'adam'})
  assert.equal(parseMetrics(text), {points: [{name: 'loss', value: 0.5, step: 3, timestamp: 1_700_000_000_000}], warnings: []})
  assert.equal(trackingFromLog(text), {properties: {'mlflow.user': 'me'}, warnings: []})
  const good = {key: 'm', value: 1, timestamp: 1, step: 0}
  thrown(() => batchLines({metrics: Array(1001).fill(good)}, {}, 1), 'INVALID_ARGUMENT')
  batchLines({metrics: Array(1000).fill(good), params: Array(100).fill({key: 'p', value: 'v'}), tags: Array(100).fill({key: 't', value: 'v'})}, {}, 1)
  thrown(() => batchLines({params: Array(101).fill({key: 'p', value: 'v'})}, {}, 1), 'INVALID_ARGUMENT')
  thrown(() => batchLines({tags: Array(101).fill({key: 't', value: 'v'})}, {}, 1), 'INVALID_ARGUMENT')
  thrown(() => batchLines({metrics: [good, {...good, key: '../x'}]}, {}, 1), 'INVALID_ARGUMENT')
  thrown(() => batchLines({params: [{key: 'p', value: 'x'.repeat(6001)}]}, {}, 1), 'INVALID_ARGUMENT')
  batchLines({params: [{key: 'p', value: 'x'.repeat(6000)}]}, {}, 1)
  thrown(() => batchLines({params: [{key: 'p', value: 3}]}, {}, 1), 'INVALID_ARGUMENT')
  thrown(() => batchLines({metrics: {key: 'm'}}, {}, 1), 'INVALID_ARGUMENT')
  thrown(() => batchLines({metrics: [{...good, step: 1.5}]}, {}, 1), 'INVALID_ARGUMENT')
})

test('tags, a deleted tag, the script\'s status and a nested run are read into properties; old metric and param lines stay as they were', () => {
  const text = [
    '{"name":"loss","value":1,"step":null}',
    '{"param":"lr","value":0.1}',
    '{"tag":"team","value":"vision"}',
    '{"tag":"gone","value":"x"}',
    '{"tag":"gone","value":null}',
    ...statusLines('FAILED', {}),
    '{"run":"r-nested-1","tag":"mlflow.runName","value":"fold"}',
    '{"run":"r-nested-1","name":"acc","value":0.8,"step":0,"timestamp":5}',
    '{"run":"r-nested-1","param":"k","value":2}',
    '{"run":"r-nested-1","status":"FINISHED"}',
    '{"tag":7}',
  ].join('\n')
  assert.equal(parseMetrics(text), {points: [{name: 'loss', value: 1, step: null}], warnings: []})
  assert.equal(paramsFromLog(text), {params: {lr: 0.1}, warnings: []})
  const {properties, warnings} = trackingFromLog(text)
  assert.equal(properties, {'team': 'vision', 'ml.mlflow.status': 'FAILED', 'ml.mlflow.nested.r-nested-1': JSON.stringify({params: {k: 2}, metrics: {acc: 0.8}, tags: {'mlflow.runName': 'fold'}, status: 'FINISHED'})})
  assert.is(warnings.length, 1)
  assert.match(warnings[0], /metrics line 11/)
  assert.equal(statusLines('RUNNING', {}), [])
  thrown(() => statusLines('DONE', {}), 'INVALID_ARGUMENT')
})

test('an ml run reads as MLflow\'s Run: status, times in ms, params as text, metrics and properties as tags', () => {
  const run = mlflowRun(record('p_1_abcd', {status: 'Canceled', params: {lr: 0.1, flag: true, none: null}, metrics: {acc: 0.9}, properties: {team: 'x'}}))
  assert.equal(run.info, {run_id: 'p_1_abcd', run_uuid: 'p_1_abcd', run_name: 'p_1_abcd', experiment_id: '0', user_id: '', status: 'KILLED', start_time: 1767225600000, end_time: 1767225660000, artifact_uri: 'mlflow-artifacts:/p_1_abcd', lifecycle_stage: 'active'})
  assert.equal(run.data.params, [{key: 'lr', value: '0.1'}, {key: 'flag', value: 'true'}, {key: 'none', value: 'null'}])
  assert.equal(run.data.metrics, [{key: 'acc', value: 0.9, timestamp: 1767225660000, step: 0}])
  assert.equal(run.data.tags, [{key: 'mlflow.runName', value: 'p_1_abcd'}, {key: 'ml.script', value: 'train.py'}, {key: 'team', value: 'x'}])
})

test('search filters as MLflow does: metrics as numbers, params and tags as text (LIKE, ILIKE), attributes (IN); order_by and pages', () => {
  const runs = [
    mlflowRun(record('c', {metrics: {acc: 0.95}, params: {lr: 0.1}, properties: {team: 'Vision'}})),
    mlflowRun(record('b', {status: 'Failed', metrics: {acc: 0.5}, params: {lr: 0.01}})),
    mlflowRun(record('a', {metrics: {acc: 0.91}, params: {lr: '0.1'}, startTimeUtc: '2025-01-01T00:00:00.000Z'})),
  ]
  const ids = (filter: string, more = {}) => searchRuns(runs, {filter, ...more}).runs.map((r) => r.info.run_id)
  assert.equal(ids('metrics.acc > 0.9'), ['c', 'a'])
  assert.equal(ids("params.lr = '0.1' and metrics.acc >= 0.95"), ['c'])
  assert.equal(ids("tags.team ILIKE 'vis%'"), ['c'])
  assert.equal(ids("tags.team LIKE 'vis%'"), [])
  assert.equal(ids("attributes.status = 'FAILED'"), ['b'])
  assert.equal(ids("attributes.status != 'FAILED'"), ['c', 'a'])
  assert.equal(ids("attributes.run_id IN ('a', 'b')"), ['b', 'a'])
  assert.equal(ids("attributes.run_id NOT IN ('a')"), ['c', 'b'])
  assert.equal(ids('attributes.start_time < 1767225600000'), ['a'])
  assert.equal(ids('metrics.`acc` < 0.6'), ['b'])
  assert.equal(ids('metrics.missing > 0'), [])
  assert.equal(ids('', {order_by: ['metrics.acc DESC']}), ['c', 'a', 'b'])
  assert.equal(ids('', {order_by: ['params.lr', 'metrics.acc ASC']}), ['b', 'a', 'c'])
  const first = searchRuns(runs, {max_results: 2})
  assert.equal(first.runs.map((r) => r.info.run_id), ['c', 'b'])
  assert.equal(searchRuns(runs, {max_results: 2, page_token: first.next_page_token}), {runs: [runs[2]]})
  for (const bad of ['acc > 1', 'metrics.acc > 0.9 OR metrics.acc < 0.1', "metrics.acc = 'x'", 'params.lr > 1', 'attributes.colour = \'x\'', 'metrics.acc ~ 1', "params.lr IN ('a')", "params.lr = 'unterminated"]) {
    thrown(() => parseFilter(bad), 'INVALID_ARGUMENT')
  }
  thrown(() => searchRuns(runs, {max_results: 0}), 'INVALID_ARGUMENT')
  thrown(() => searchRuns(runs, {page_token: 'bm90IGEgbnVtYmVy'}), 'INVALID_ARGUMENT')
})

/** MLflow's _RUN_ID_REGEX of mlflow/utils/validation.py (2.x and 3.6): `^[a-zA-Z0-9][\w\-]{0,255}$`. */
const MLFLOW_RUN_ID = /^[a-zA-Z0-9][\w-]{0,255}$/

/** Every string of `alphabet` up to `length` characters. */
function strings(alphabet: string[], length: number): string[] {
  let level = ['']
  const all: string[] = []
  for (let i = 0; i < length; i++) {
    level = level.flatMap((prefix) => alphabet.map((c) => prefix + c))
    all.push(...level)
  }
  return all
}

test('MLflow run ids: a dot is escaped into an id MLflow\'s client accepts, read back exactly; no two ml ids give one MLflow id, and no MLflow id reads back as two', () => {
  assert.is(mlflowRunId('p_1767225600000_abcd'), 'p_1767225600000_abcd', 'an id without a dot is unchanged')
  assert.is(mlflowRunId('my.proj_1767225600000_abcd'), 'my-_dproj_1767225600000_abcd')
  assert.is(mlflowRunId('a-_b.c_1_abcd'), 'a-__b-_dc_1_abcd')
  // Every id of these characters: ml's own (trust/ids.ts) start with a letter or digit.
  const ids = strings(['a', '.', '-', '_', 'd'], 7).filter((id) => /^[a-z]/.test(id))
  const given = new Map<string, string>()
  for (const id of ids) {
    const mlflow = mlflowRunId(id)
    assert.ok(MLFLOW_RUN_ID.test(mlflow), `${id} gave ${mlflow}, which MLflow refuses`)
    assert.is(mlRunId(mlflow), id)
    assert.is(given.get(mlflow), undefined, `${id} and ${given.get(mlflow)} both give ${mlflow}`)
    given.set(mlflow, id)
  }
  // And back: an MLflow id reads as at most one ml id, the one that gives it.
  for (const id of strings(['a', '-', '_', 'd'], 7)) {
    const back = mlRunId(id)
    if (back !== undefined) assert.is(mlflowRunId(back), id)
  }
  for (const id of ['a.b', 'a-_x', 'a-_', 'a-_-_d']) assert.is(mlRunId(id), undefined, id)
})

/** A request to the endpoint at `port`; `chunks`, when given, are sent without a Content-Length, one by one. */
function request(port: number, method: string, url: string, token: string | undefined, body?: Buffer | Buffer[]): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, method, path: url, headers: token ? {Authorization: `Bearer ${token}`} : {}}, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => (text += d.toString()))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: text}))
    })
    req.on('error', reject)
    for (const chunk of Array.isArray(body) ? body : body ? [body] : []) req.write(chunk)
    req.end()
  })
}

test('the endpoint streams an artifact into outputs through a scratch file, and refuses one over the limit while it streams, leaving nothing', async () => {
  const dir = tempDir()
  const outputsDir = path.join(dir, 'outputs')
  const scratchDir = path.join(dir, 'scratch')
  await fs.mkdir(outputsDir)
  const project = {dir, config: {schema: 1, id: 'id', name: 'p', historyBranch: 'b', createdAt: '2026-01-01T00:00:00.000Z'}} as Project
  const endpoint = await startRunEndpoint({env: {}, project, record: record('p_1_abcd', {status: 'Running'}), metricsFile: path.join(dir, 'metrics.jsonl'), outputsDir, scratchDir, maxArtifactBytes: 1_000_000})
  try {
    const env = endpoint.scriptEnv({MLFLOW_TRACKING_USERNAME: 'u'})
    assert.not.ok('MLFLOW_TRACKING_USERNAME' in env)
    const port = Number(new URL(env.MLFLOW_TRACKING_URI!).port)
    const token = env.MLFLOW_TRACKING_TOKEN
    const put = (file: string, chunks: Buffer[]) => request(port, 'PUT', `/api/2.0/mlflow-artifacts/artifacts/p_1_abcd/${file}`, token, chunks)
    assert.is((await put('model/weights.bin', [Buffer.alloc(600_000, 1), Buffer.alloc(400_000, 2)])).status, 200)
    assert.is((await fs.stat(path.join(outputsDir, 'model', 'weights.bin'))).size, 1_000_000)
    const over = await put('big.bin', Array.from({length: 20}, () => Buffer.alloc(100_000)))
    assert.is(over.status, 400)
    assert.is(JSON.parse(over.body).error_code, 'INVALID_PARAMETER_VALUE')
    assert.not.ok(existsSync(path.join(outputsDir, 'big.bin')))
    assert.equal(await fs.readdir(scratchDir), [])
    const list = await request(port, 'GET', '/api/2.0/mlflow-artifacts/artifacts?path=p_1_abcd/model', token)
    assert.equal(JSON.parse(list.body), {files: [{path: 'weights.bin', is_dir: false, file_size: 1_000_000}]})
    const batch = await request(port, 'POST', '/api/2.0/mlflow/runs/log-batch', token, Buffer.from(JSON.stringify({run_id: 'p_1_abcd', metrics: [{key: 'a', value: 1, timestamp: 2, step: 0}]})))
    assert.is(batch.status, 200)
    const got = JSON.parse((await request(port, 'GET', '/api/2.0/mlflow/runs/get?run_id=p_1_abcd', token)).body)
    assert.equal(got.run.data.metrics, [{key: 'a', value: 1, timestamp: 2, step: 0}])
    assert.is(got.run.info.status, 'RUNNING')
    // Valid JSON (spaces between fields), only too big.
    const huge = await request(port, 'POST', '/api/2.0/mlflow/runs/log-batch', token, [Buffer.from('{"run_id": "p_1_abcd",'), ...Array.from({length: 5}, () => Buffer.alloc(1_000_000, 32)), Buffer.from('"metrics": []}')])
    assert.equal([huge.status, JSON.parse(huge.body).error_code], [400, 'INVALID_PARAMETER_VALUE'])
    const anonymous = await request(port, 'GET', '/api/2.0/mlflow/runs/get?run_id=p_1_abcd', undefined)
    assert.equal([anonymous.status, JSON.parse(anonymous.body).error_code], [401, 'UNAUTHENTICATED'])
  } finally {
    await endpoint.close()
  }
  assert.is(await fs.readFile(path.join(dir, 'metrics.jsonl'), 'utf8'), '{"name":"a","value":1,"step":0,"timestamp":2}\n')
})

test('the endpoint of a run with a dot in its id: MLflow\'s id everywhere, logged models in folders of their own, a nested run\'s model under its folder, a point logged again for a model kept once', async () => {
  const dir = tempDir()
  const outputsDir = path.join(dir, 'outputs')
  const metricsFile = path.join(dir, 'metrics.jsonl')
  await fs.mkdir(path.join(outputsDir, 'models', 'net'), {recursive: true})
  const project = {dir, config: {schema: 1, id: 'id', name: 'p.q', historyBranch: 'b', createdAt: '2026-01-01T00:00:00.000Z'}} as Project
  const endpoint = await startRunEndpoint({env: {}, project, record: record('p.q_1_abcd', {status: 'Running'}), metricsFile, outputsDir, scratchDir: path.join(dir, 'scratch'), maxArtifactBytes: 1_000_000})
  try {
    const env = endpoint.scriptEnv({})
    const id = env.MLFLOW_RUN_ID!
    assert.is(id, 'p-_dq_1_abcd')
    const port = Number(new URL(env.MLFLOW_TRACKING_URI!).port)
    const call = async (method: string, route: string, body?: unknown) => {
      const res = await request(port, method, `/api/2.0/${route}`, env.MLFLOW_TRACKING_TOKEN, body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)))
      return {status: res.status, body: JSON.parse(res.body || '{}')}
    }
    assert.is((await call('GET', `mlflow/runs/get?run_id=${id}`)).body.run.info.artifact_uri, `mlflow-artifacts:/${id}`)
    assert.equal((await call('GET', 'mlflow/runs/get?run_id=p.q_1_abcd')).body.error_code, 'PERMISSION_DENIED', 'ml\'s own id is not the one MLflow was given')
    assert.is((await call('PUT', 'mlflow-artifacts/artifacts/p.q_1_abcd/x.txt', 'x')).status, 403)
    // The script made outputs/models/net itself: the model "net" takes its id as folder.
    const net = (await call('POST', 'mlflow/logged-models', {experiment_id: '0', name: 'net', source_run_id: id})).body.model.info
    assert.is(net.artifact_uri, `mlflow-artifacts:/${id}/models/${net.model_id}`)
    // A point run_logger appended, logged again for the model: kept once; a new one is written.
    await fs.appendFile(metricsFile, '{"name":"acc","value":0.5,"step":1}\n')
    const linked = await call('POST', 'mlflow/runs/log-batch', {run_id: id, metrics: [{key: 'acc', value: 0.5, timestamp: 5, step: 1, model_id: net.model_id}, {key: 'acc', value: 0.6, timestamp: 6, step: 2, model_id: net.model_id}]})
    assert.is(linked.status, 200)
    const child = (await call('POST', 'mlflow/runs/create', {experiment_id: '0', run_name: 'fold'})).body.run.info
    assert.is(child.run_id, `${id}-nested-1`)
    const inner = (await call('POST', 'mlflow/logged-models', {experiment_id: '0', name: 'm', source_run_id: child.run_id})).body.model.info
    assert.equal([inner.artifact_uri, inner.source_run_id], [`mlflow-artifacts:/${id}/p.q_1_abcd-nested-1/models/m`, child.run_id])
    assert.is((await call('POST', 'mlflow/runs/outputs', {run_id: child.run_id, models: [{model_id: inner.model_id, step: 3}]})).status, 200)
    assert.equal((await call('GET', `mlflow/runs/get?run_id=${child.run_id}`)).body.run.outputs, {model_outputs: [{model_id: inner.model_id, step: 3}]})
    const crossed = await call('POST', 'mlflow/runs/outputs', {run_id: id, models: [{model_id: inner.model_id, step: 0}]})
    assert.equal([crossed.status, crossed.body.error_code], [400, 'INVALID_PARAMETER_VALUE'], 'a nested run\'s model is not the run\'s output')
    assert.is((await call('PUT', `mlflow-artifacts/artifacts/${id}/p.q_1_abcd-nested-1/models/m/MLmodel`, 'flavors: {}')).status, 200)
    assert.is(await fs.readFile(path.join(outputsDir, 'p.q_1_abcd-nested-1', 'models', 'm', 'MLmodel'), 'utf8'), 'flavors: {}')
  } finally {
    await endpoint.close()
  }
  const text = await fs.readFile(metricsFile, 'utf8')
  assert.equal(parseMetrics(text).points.map((p) => [p.name, p.value, p.step]), [['acc', 0.5, 1], ['acc', 0.6, 2]])
  const {properties} = trackingFromLog(text)
  const [net] = JSON.parse(properties['ml.mlflow.models'])
  assert.equal([net.status, net.metrics, net.step], ['PENDING', {acc: 0.6}, undefined])
  const nested = JSON.parse(properties['ml.mlflow.nested.p.q_1_abcd-nested-1'])
  assert.equal(JSON.parse(nested.tags['ml.mlflow.models']).map((m: {name: string; path: string; step: number}) => [m.name, m.path, m.step]), [['m', 'p.q_1_abcd-nested-1/models/m', 3]])
  assert.is(nested.tags['mlflow.parentRunId'], 'p.q_1_abcd')
})

test.run()
