import {existsSync, promises as fs} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, ml, ok, shadowGit, tempDir, timedSuite, write} from '../helpers.js'
import {startUi, stopAllUi} from '../ui-page.js'

/**
 * MLflow's protocol, end to end: a Python script sends exactly the requests MLflow's Python
 * client sends (shapes of mlflow/store/tracking/rest_store.py, the order of fluent.py's
 * start_run with MLFLOW_RUN_ID set), with urllib only since the mlflow package is not
 * installed here; the run's record has what it logged. Then `ml ui` is read by a third-party
 * client, the npm package mlflow.
 */
const test = timedSuite('mlflow', 120_000)
test.after.each(async () => {
  await stopAllUi()
  await cleanup()
})

const MLflow = createRequire(import.meta.url)('mlflow') as typeof import('mlflow').default

/** What MLflow's client does over HTTP (rest_utils.call_endpoint, http_artifact_repo), and a few requests it would never send. */
const CLIENT = String.raw`
import json, os, sys, time, urllib.error, urllib.parse, urllib.request

URI = os.environ["MLFLOW_TRACKING_URI"]
TOKEN = os.environ["MLFLOW_TRACKING_TOKEN"]
RUN = os.environ["MLFLOW_RUN_ID"]
checks = {}

def http(method, url, body=None, token=TOKEN, content_type="application/json"):
    headers = {"User-Agent": "mlflow-python-client/2.14.1"}
    if token:
        headers["Authorization"] = "Bearer " + token
    if body is not None:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")

def call(method, endpoint, body, **kw):
    url = URI + "/api/2.0/mlflow/" + endpoint
    if method == "GET":
        return http(method, url + "?" + urllib.parse.urlencode(body), **kw)
    return http(method, url, json.dumps(body).encode(), **kw)

def must(result):
    status, body = result
    if status != 200:
        sys.exit("MLflow call failed: %s %s" % (status, body))
    return body

def now():
    return int(time.time() * 1000)

def artifact_url(run_body, *parts):
    # MlflowArtifactsRepository.resolve_uri: mlflow-artifacts:/PATH against the tracking URI.
    uri = run_body["run"]["info"]["artifact_uri"]
    assert uri.startswith("mlflow-artifacts:/"), uri
    return URI + "/api/2.0/mlflow-artifacts/artifacts/" + uri[len("mlflow-artifacts:/"):].strip("/") + "/" + "/".join(parts)

# mlflow.start_run(): MLFLOW_RUN_ID is set, so get the run, set it RUNNING, get it again.
must(call("GET", "runs/get", {"run_uuid": RUN, "run_id": RUN}))
must(call("POST", "runs/update", {"run_uuid": RUN, "run_id": RUN, "status": "RUNNING"}))
run = must(call("GET", "runs/get", {"run_uuid": RUN, "run_id": RUN}))
print("attached", run["run"]["info"]["run_id"], run["run"]["info"]["status"], flush=True)

# mlflow.log_params({"lr": 0.01, "optimizer": "adam"}): one log-batch of str() values.
must(call("POST", "runs/log-batch", {"run_id": RUN, "params": [{"key": "lr", "value": "0.01"}, {"key": "optimizer", "value": "adam"}]}))
# mlflow.log_metrics({...}, step=s): a log-batch each.
for step in range(3):
    must(call("POST", "runs/log-batch", {"run_id": RUN, "metrics": [
        {"key": "loss", "value": 1.0 / (step + 1), "timestamp": now(), "step": step},
        {"key": "train/acc", "value": 0.5 + step / 10, "timestamp": now(), "step": step}]}))
# mlflow.log_metric("best", float("inf")) and a NaN: protobuf's JSON texts.
must(call("POST", "runs/log-metric", {"run_uuid": RUN, "run_id": RUN, "key": "best", "value": "Infinity", "timestamp": now(), "step": 0}))
must(call("POST", "runs/log-metric", {"run_uuid": RUN, "run_id": RUN, "key": "unstable", "value": "NaN", "timestamp": now(), "step": 0}))
# mlflow.log_param("epochs", 3)
must(call("POST", "runs/log-parameter", {"run_uuid": RUN, "run_id": RUN, "key": "epochs", "value": "3"}))
# mlflow.log_artifact("report.txt", "reports"): the run's artifact_uri, then a PUT of the file.
with open("report.txt", "w") as f:
    f.write("all good\n")
run = must(call("GET", "runs/get", {"run_uuid": RUN, "run_id": RUN}))
with open("report.txt", "rb") as f:
    must(http("PUT", artifact_url(run, "reports", "report.txt"), f.read(), content_type="text/plain"))
# mlflow.sklearn.log_model(model, "model") in MLflow 2.x: its files, then runs/log-model with the MLmodel as JSON.
model = {"artifact_path": "model", "run_id": RUN, "flavors": {"python_function": {"loader_module": "mlflow.sklearn"}}}
must(http("PUT", artifact_url(run, "model", "MLmodel"), b"artifact_path: model\n", content_type="text/plain"))
must(call("POST", "runs/log-model", {"run_id": RUN, "model_json": json.dumps(model)}))
# mlflow.set_tag("team", "vision"), a tag set then deleted
must(call("POST", "runs/set-tag", {"run_uuid": RUN, "run_id": RUN, "key": "team", "value": "vision"}))
must(call("POST", "runs/set-tag", {"run_uuid": RUN, "run_id": RUN, "key": "scratch", "value": "x"}))
must(call("POST", "runs/delete-tag", {"run_id": RUN, "key": "scratch"}))

# mlflow.start_run(nested=True, run_name="fold-1"): the experiment by MLFLOW_EXPERIMENT_NAME, then runs/create.
experiment = must(call("GET", "experiments/get-by-name", {"experiment_name": os.environ["MLFLOW_EXPERIMENT_NAME"]}))["experiment"]
child = must(call("POST", "runs/create", {"experiment_id": experiment["experiment_id"], "start_time": now(), "run_name": "fold-1", "tags": [
    {"key": "mlflow.parentRunId", "value": RUN}, {"key": "mlflow.runName", "value": "fold-1"}, {"key": "mlflow.source.type", "value": "LOCAL"}]}))["run"]["info"]["run_id"]
must(call("POST", "runs/log-metric", {"run_uuid": child, "run_id": child, "key": "fold_acc", "value": 0.8, "timestamp": now(), "step": 0}))
must(call("POST", "runs/update", {"run_uuid": child, "run_id": child, "status": "FINISHED", "end_time": now()}))

# What a client must never get through.
other = "someone_else_1_abcd"
checks["no token"] = call("GET", "runs/get", {"run_id": RUN}, token=None)
checks["wrong token"] = call("GET", "runs/get", {"run_id": RUN}, token="0" * 48)
checks["other run get"] = call("GET", "runs/get", {"run_id": other})
checks["other run log"] = call("POST", "runs/log-metric", {"run_id": other, "key": "x", "value": 1, "timestamp": now(), "step": 0})
checks["too many metrics"] = call("POST", "runs/log-batch", {"run_id": RUN, "metrics": [{"key": "flood", "value": i, "timestamp": now(), "step": i} for i in range(1001)]})
checks["bad key in batch"] = call("POST", "runs/log-batch", {"run_id": RUN, "metrics": [{"key": "half", "value": 1, "timestamp": now(), "step": 0}, {"key": "../up", "value": 1, "timestamp": now(), "step": 0}]})
checks["control key"] = call("POST", "runs/log-parameter", {"run_id": RUN, "key": "a\u0001b", "value": "1"})
checks["long param"] = call("POST", "runs/log-parameter", {"run_id": RUN, "key": "long", "value": "x" * 6001})
checks["not json"] = http("POST", URI + "/api/2.0/mlflow/runs/log-metric", b"{not json")
checks["escaping artifact"] = http("PUT", URI + "/api/2.0/mlflow-artifacts/artifacts/" + RUN + "/%2e%2e/escaped.txt", b"x")
os.makedirs("outputs", exist_ok=True)
os.symlink(os.environ["OUTSIDE"], "outputs/link")
checks["artifact through a link"] = http("PUT", URI + "/api/2.0/mlflow-artifacts/artifacts/" + RUN + "/link/escaped.txt", b"x")
checks["huge artifact"] = http("PUT", URI + "/api/2.0/mlflow-artifacts/artifacts/" + RUN + "/huge.bin", b"\0" * 3000000)
checks["unknown endpoint"] = call("POST", "runs/frobnicate", {"run_id": RUN})
call("POST", "runs/frobnicate", {"run_id": RUN})

# mlflow.end_run(status="FAILED")
must(call("POST", "runs/update", {"run_uuid": RUN, "run_id": RUN, "status": "FAILED", "end_time": now()}))
print("CHECKS " + json.dumps(checks), flush=True)
`

async function project(): Promise<string> {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p', '-q']))
  const dir = path.join(root, 'p')
  // A small size limit, so that a 3 MB artifact is over it.
  const config = path.join(dir, '.ml', 'project.json')
  await fs.writeFile(config, JSON.stringify({...JSON.parse(await fs.readFile(config, 'utf8')), limits: {maxBytes: 2e6}}))
  return dir
}

/** Submits the MLflow-like client script; its run's id, the checks it printed, and ml's stderr. */
async function submitClient(dir: string, outside: string): Promise<{runId: string; checks: Record<string, [number, {error_code?: string}]>; stderr: string}> {
  await write(dir, {'client.py': CLIENT})
  const r = ok(await ml(dir, ['experiment', 'submit', 'client.py'], {OUTSIDE: outside}))
  const checks = JSON.parse(/^CHECKS (.*)$/m.exec(r.stdout)?.[1] ?? 'null')
  assert.ok(checks, r.stdout + r.stderr)
  const runs = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  return {runId: runs[0].runId, checks, stderr: r.stderr}
}

test('a script logging as MLflow\'s client does lands in its ml run: params, metrics with steps, artifacts, tags, its status, a nested run', async () => {
  const dir = await project()
  const outside = tempDir('ml-outside-')
  const {runId, checks, stderr} = await submitClient(dir, outside)
  const run = JSON.parse(ok(await ml(dir, ['history', 'info', runId, '-o', 'json'])).stdout)
  assert.is(run.status, 'Completed', 'the run\'s status is what ml saw (exit 0), not what the script set')
  assert.equal(run.params, {lr: 0.01, optimizer: 'adam', epochs: 3})
  assert.equal(run.metrics, {'loss': 1 / 3, 'train/acc': 0.7, 'best': Number.MAX_VALUE})
  assert.is(run.properties.team, 'vision')
  assert.not.ok('scratch' in run.properties)
  assert.is(run.properties['ml.mlflow.status'], 'FAILED')
  const nested = JSON.parse(run.properties[`ml.mlflow.nested.${runId}-nested-1`])
  assert.equal(nested.metrics, {fold_acc: 0.8})
  assert.is(nested.status, 'FINISHED')
  assert.is(nested.tags['mlflow.parentRunId'], runId)
  assert.is(nested.tags['mlflow.runName'], 'fold-1')
  assert.equal(run.outputs.map((o: {path: string}) => o.path).sort(), ['model/MLmodel', 'reports/report.txt'])
  assert.equal(JSON.parse(run.properties['mlflow.log-model.history']).map((m: {flavors: object}) => Object.keys(m.flavors)), [['python_function']])
  assert.is(shadowGit(dir, ['show', `refs/ml/runs/${runId}:outputs/reports/report.txt`]), 'all good')
  const points = JSON.parse(ok(await ml(dir, ['history', 'metrics', runId, '-o', 'json'])).stdout)
  const loss = points.filter((p: {name: string}) => p.name === 'loss')
  assert.equal(loss.map((p: {step: number}) => p.step), [0, 1, 2])
  assert.ok(loss.every((p: {timestamp: number}) => Number.isInteger(p.timestamp) && p.timestamp > 1.7e12))
  assert.match(stderr, /"unstable" was logged as NaN/)

  const code = (name: string) => [checks[name][0], checks[name][1].error_code]
  assert.equal(code('no token'), [401, 'UNAUTHENTICATED'])
  assert.equal(code('wrong token'), [401, 'UNAUTHENTICATED'])
  assert.equal(code('other run get'), [403, 'PERMISSION_DENIED'])
  assert.equal(code('other run log'), [403, 'PERMISSION_DENIED'])
  for (const name of ['too many metrics', 'bad key in batch', 'control key', 'long param', 'not json', 'escaping artifact', 'artifact through a link', 'huge artifact']) {
    assert.equal(code(name), [400, 'INVALID_PARAMETER_VALUE'], name)
  }
  assert.equal(code('unknown endpoint'), [404, 'ENDPOINT_NOT_FOUND'])
  assert.is(stderr.match(/runs\/frobnicate, which ml does not serve/g)?.length, 1, 'an endpoint not served is named once')
  // Nothing of a refused request was kept.
  assert.not.ok(points.some((p: {name: string}) => ['flood', 'half', 'x'].includes(p.name)))
  assert.not.ok('long' in run.params)
  assert.equal(await fs.readdir(outside), [])
  assert.not.ok(existsSync(path.join(dir, 'escaped.txt')))
  assert.not.ok(existsSync(path.join(dir, 'outputs', 'huge.bin')))
})

test('the run\'s endpoint is given to the script, and a tracking URI of the user\'s own wins only with ML_MLFLOW_PASSTHROUGH=1', async () => {
  const dir = await project()
  await write(dir, {'env.py': 'import os\nprint("URI", os.environ["MLFLOW_TRACKING_URI"], os.environ.get("MLFLOW_RUN_ID"), os.environ.get("MLFLOW_EXPERIMENT_NAME"), bool(os.environ.get("MLFLOW_TRACKING_TOKEN")))\n'})
  const own = {MLFLOW_TRACKING_URI: 'http://127.0.0.1:9/mine'}
  const ours = ok(await ml(dir, ['experiment', 'submit', 'env.py'], own)).stdout
  assert.match(ours, /^URI http:\/\/127\.0\.0\.1:\d+ p_\d+_[0-9a-f]{4} p True$/m)
  assert.not.match(ours, /:9\/mine/)
  // An isolated run (as a sweep's or the queue's) gets one too.
  assert.match(ok(await ml(dir, ['experiment', 'submit', '--isolated', 'env.py'])).stdout, /^URI http:\/\/127\.0\.0\.1:\d+ p_\d+_[0-9a-f]{4} p True$/m)
  const theirs = ok(await ml(dir, ['experiment', 'submit', 'env.py'], {...own, ML_MLFLOW_PASSTHROUGH: '1'})).stdout
  assert.match(theirs, /^URI http:\/\/127\.0\.0\.1:9\/mine None None False$/m)
})

test('ml ui is a read-only MLflow tracking server: the npm mlflow client searches runs with a filter, gets a run and a metric\'s history; a write is refused', async () => {
  const dir = await project()
  await write(dir, {'train.py': 'import os, sys\nfrom run_logger import log, log_param\nlr = float(sys.argv[1])\nlog_param("optimizer", "adam")\nfor step in range(3):\n    log("acc", lr * 10 * (step + 1), step=step)\nos.makedirs("outputs/model", exist_ok=True)\nopen("outputs/model/w.txt", "w").write(str(lr))\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '0.01']))
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '0.03']))
  const [high, low] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout).map((r: {runId: string}) => r.runId)
  const ui = await startUi(dir)
  const client = new MLflow({endpoint: ui.base, headers: {Authorization: `Bearer ${ui.token}`}})
  const quiet = console.log
  console.log = () => {} // the npm client prints every request body it POSTs
  try {
    const all = await client.Runs.search({experiment_ids: ['0'], order_by: ['metrics.acc ASC']})
    assert.equal(all.runs.map((r) => r.info.run_id), [low, high])
    const found = await client.Runs.search({experiment_ids: ['0'], filter: "metrics.acc > 0.5 AND params.optimizer = 'adam' AND attributes.status = 'FINISHED'"})
    assert.equal(found.runs.map((r) => r.info.run_id), [high])
    const page = await client.Runs.search({experiment_ids: ['0'], max_results: 1})
    assert.equal(page.runs.map((r) => r.info.run_id), [high])
    const next = await client.Runs.search({experiment_ids: ['0'], max_results: 1, page_token: page.next_page_token})
    assert.equal(next.runs.map((r) => r.info.run_id), [low])
    const {run} = await client.Runs.get({run_id: high})
    assert.is(run.info.status, 'FINISHED')
    assert.is(run.data.params?.find((p) => p.key === 'optimizer')?.value, 'adam')
    assert.equal(run.data.metrics?.find((m) => m.key === 'acc'), {key: 'acc', value: 0.8999999999999999, timestamp: run.data.metrics?.find((m) => m.key === 'acc')?.timestamp, step: 2})
    const history = await client.Metrics.getHistory({run_id: high, metric_key: 'acc'})
    assert.equal(history.metrics.map((m) => m.step), [0, 1, 2])
    const listed = await client.Artifacts.list({run_id: high, path: 'model'})
    assert.equal(listed, {root_uri: `mlflow-artifacts:/${high}`, files: [{path: 'model/w.txt', is_dir: false, file_size: 4}]})
    // What MLflow's artifact repository does with that root: the proxy's list and download.
    const proxy = (query: string) => fetch(`${ui.base}/api/2.0/mlflow-artifacts/artifacts${query}`, {headers: {Authorization: `Bearer ${ui.token}`}})
    assert.equal(await (await proxy(`?path=${high}/model`)).json(), {files: [{path: 'w.txt', is_dir: false, file_size: 4}]})
    assert.is(await (await proxy(`/${high}/model/w.txt`)).text(), '0.03')
    assert.is((await proxy(`/${high}/model/missing.txt`)).status, 404)
    const unknown = await (await fetch(`${ui.base}/api/2.0/mlflow/runs/get-everything`, {headers: {Authorization: `Bearer ${ui.token}`}})).json()
    assert.is(unknown.error_code, 'ENDPOINT_NOT_FOUND')
    const refused = await client.Runs.logMetric({run_id: high, key: 'acc', value: 1, timestamp: Date.now()}).then(() => 'accepted', (error: Error) => error.message)
    assert.match(refused, /"status":403.*"error_code":"PERMISSION_DENIED"/)
    const anonymous = await new MLflow({endpoint: ui.base}).Runs.get({run_id: high}).then(() => 'accepted', (error: Error) => error.message)
    assert.match(anonymous, /"status":401.*"error_code":"UNAUTHENTICATED"/)
  } finally {
    console.log = quiet
  }
  const after = JSON.parse(ok(await ml(dir, ['history', 'info', high, '-o', 'json'])).stdout)
  assert.is(after.metrics.acc, 0.8999999999999999, 'the refused write changed nothing')
})

test.run()
