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

/** MLflow's client's HTTP (rest_utils.call_endpoint: a GET's fields as its query, any other method's as a JSON body; http_artifact_repo). */
const PRELUDE = String.raw`
import json, os, re, sys, time, urllib.error, urllib.parse, urllib.request

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
        return http(method, url + "?" + urllib.parse.urlencode(body or {}), **kw)
    return http(method, url, None if body is None else json.dumps(body).encode(), **kw)

def must(result):
    status, body = result
    if status != 200:
        sys.exit("MLflow call failed: %s %s" % (status, body))
    return body

def now():
    return int(time.time() * 1000)

def resolve(uri, *parts):
    # MlflowArtifactsRepository.resolve_uri: mlflow-artifacts:/PATH against the tracking URI.
    assert uri.startswith("mlflow-artifacts:/"), uri
    return URI + "/api/2.0/mlflow-artifacts/artifacts/" + uri[len("mlflow-artifacts:/"):].strip("/") + "/" + "/".join(parts)

def artifact_url(run_body, *parts):
    return resolve(run_body["run"]["info"]["artifact_uri"], *parts)

def attach():
    # mlflow.start_run(): MLFLOW_RUN_ID is set, so get the run, set it RUNNING, get it again.
    must(call("GET", "runs/get", {"run_uuid": RUN, "run_id": RUN}))
    must(call("POST", "runs/update", {"run_uuid": RUN, "run_id": RUN, "status": "RUNNING"}))
    return must(call("GET", "runs/get", {"run_uuid": RUN, "run_id": RUN}))
`

/** What MLflow 2.x's client does over HTTP, and a few requests it would never send. */
const CLIENT = PRELUDE + String.raw`
run = attach()
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

/**
 * What MLflow 3.x's client sends for `mlflow.pyfunc.log_model(name=..., python_model=...)` in a
 * run attached by MLFLOW_RUN_ID, in its order and shapes. Read in MLflow 3.6 (the fork
 * opendatahub-io/mlflow at 3.6.1.dev0, commit 52d13c9; mlflow/mlflow's snapshot was too big to
 * fetch): mlflow/pyfunc/__init__.py log_model returns Model.log (mlflow/models/model.py
 * L1056-1387), which sends, through mlflow/store/tracking/rest_store.py:
 *  1. runs/get, for the run's params and experiment (model.py L1159);
 *  2. POST logged-models (model.py L1167, tracking/fluent.py _create_logged_model L2291-2330 with
 *     the context tags mlflow.user, mlflow.source.*; rest_store.py create_logged_model L955-1005);
 *  3. POST runs/outputs, the model an output of the run at its step (model.py L1197,
 *     rest_store.py log_outputs L1200-1213);
 *  4. log_model_metrics_for_step (model.py L1118-1139): runs/get, each metric's
 *     metrics/get-history, then a runs/log-batch of the points at the step with the model_id;
 *  5. client.log_model_artifacts (model.py L1302): GET logged-models/{id} for its artifact_uri
 *     (tracking/_tracking_service/client.py _get_artifact_repo L634-660), then a PUT of each
 *     file saved (store/artifact/http_artifact_repo.py log_artifacts L68-80);
 *  6. DELETE logged-models/{id}/tags/mlflow.model.isExternal only for a model so tagged (L1305);
 *  7. on leaving _use_logged_model (fluent.py L2212-2225), finalize_logged_model: PATCH
 *     logged-models/{id} with status LOGGED_MODEL_READY, or LOGGED_MODEL_UPLOAD_FAILED when the
 *     logging raised (rest_store.py L1122-1140).
 * Then what a script may call besides (set_logged_model_tags L1142, log_model_params L1007,
 * delete_logged_model_tag L1157, search_logged_models L1054, log_metric with a model_id), and
 * requests the client would never send.
 */
const CLIENT3 = PRELUDE + String.raw`
def log_model(name, files, status="LOGGED_MODEL_READY", step=0):
    run = must(call("GET", "runs/get", {"run_uuid": RUN, "run_id": RUN}))
    params = [{"key": p["key"], "value": p["value"]} for p in run["run"]["data"].get("params", [])]
    tags = [{"key": "mlflow.user", "value": "me"}, {"key": "mlflow.source.name", "value": "client.py"}, {"key": "mlflow.source.type", "value": "LOCAL"}]
    model = must(call("POST", "logged-models", {"experiment_id": run["run"]["info"]["experiment_id"], "name": name, "source_run_id": RUN, "params": params, "tags": tags}))["model"]
    model_id = model["info"]["model_id"]
    must(call("POST", "runs/outputs", {"run_id": RUN, "models": [{"model_id": model_id, "step": step}]}))
    run = must(call("GET", "runs/get", {"run_uuid": RUN, "run_id": RUN}))
    linked = []
    for metric in run["run"]["data"].get("metrics", []):
        history = must(call("GET", "metrics/get-history", {"run_uuid": RUN, "run_id": RUN, "metric_key": metric["key"], "max_results": 25000}))
        linked += [dict(point, model_id=model_id) for point in history.get("metrics", []) if point["step"] == step and "model_id" not in point]
    if linked:
        must(call("POST", "runs/log-batch", {"run_id": RUN, "metrics": linked}))
    location = must(call("GET", "logged-models/" + model_id, None))["model"]["info"]["artifact_uri"]
    for path, data in files.items():
        must(http("PUT", resolve(location, path), data, content_type="application/octet-stream"))
    return must(call("PATCH", "logged-models/" + model_id, {"model_id": model_id, "status": status}))["model"]

run = attach()
must(call("POST", "runs/log-batch", {"run_id": RUN, "params": [{"key": "lr", "value": "0.01"}]}))
for step in range(3):
    must(call("POST", "runs/log-batch", {"run_id": RUN, "metrics": [{"key": "loss", "value": 1.0 / (step + 1), "timestamp": now(), "step": step}]}))

files = {"MLmodel": b"flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n", "python_model.pkl": b"\x80\x04pickled", "requirements.txt": b"mlflow==3.6.0\n", "code/helper.py": b"x = 1\n"}
first = log_model("model", files)
checks["first"] = first
checks["outputs"] = must(call("GET", "runs/get", {"run_uuid": RUN, "run_id": RUN}))["run"].get("outputs")
# The same name again: its files must not mix with the first's. Its upload "failed".
second = log_model("model", {"MLmodel": b"flavors: {}\n"}, status="LOGGED_MODEL_UPLOAD_FAILED")
checks["second"] = second
mid = first["info"]["model_id"]
must(call("PATCH", "logged-models/" + mid + "/tags", {"model_id": mid, "tags": [{"key": "team", "value": "vision"}, {"key": "scratch", "value": "x"}]}))
must(call("DELETE", "logged-models/" + mid + "/tags/scratch", None))
must(call("POST", "logged-models/" + mid + "/params", {"model_id": mid, "params": [{"key": "extra", "value": "1"}]}))
# mlflow.log_metric("val", 0.9, model_id=mid): a new point, linked to the model.
must(call("POST", "runs/log-metric", {"run_uuid": RUN, "run_id": RUN, "key": "val", "value": 0.9, "timestamp": now(), "step": 0, "model_id": mid}))
checks["search"] = must(call("POST", "logged-models/search", {"experiment_ids": ["0"], "max_results": 1}))
checks["search page 2"] = must(call("POST", "logged-models/search", {"experiment_ids": ["0"], "max_results": 1, "page_token": checks["search"]["next_page_token"]}))
checks["got"] = must(call("GET", "logged-models/" + mid, None))["model"]

checks["bad name"] = call("POST", "logged-models", {"experiment_id": "0", "name": "a.b", "source_run_id": RUN})
checks["other experiment"] = call("POST", "logged-models", {"experiment_id": "5", "name": "m", "source_run_id": RUN})
checks["other source run"] = call("POST", "logged-models", {"experiment_id": "0", "name": "m", "source_run_id": "someone_else_1_abcd"})
checks["too many params"] = call("POST", "logged-models", {"experiment_id": "0", "name": "m", "params": [{"key": "p%d" % i, "value": "1"} for i in range(101)]})
checks["unknown model"] = call("GET", "logged-models/m-0000", None)
checks["finalize pending"] = call("PATCH", "logged-models/" + mid, {"model_id": mid, "status": "LOGGED_MODEL_PENDING"})
checks["finalize unknown"] = call("PATCH", "logged-models/m-0000", {"model_id": "m-0000", "status": "LOGGED_MODEL_READY"})
checks["missing tag"] = call("DELETE", "logged-models/" + mid + "/tags/nope", None)
checks["bad param key"] = call("POST", "logged-models/" + mid + "/params", {"model_id": mid, "params": [{"key": "fine", "value": "1"}, {"key": "../x", "value": "1"}]})
checks["bad tag value"] = call("PATCH", "logged-models/" + mid + "/tags", {"model_id": mid, "tags": [{"key": "fine", "value": "1"}, {"key": "long", "value": "x" * 8001}]})
checks["outputs of unknown model"] = call("POST", "runs/outputs", {"run_id": RUN, "models": [{"model_id": "m-0000", "step": 0}]})
checks["metric of unknown model"] = call("POST", "runs/log-batch", {"run_id": RUN, "metrics": [{"key": "half", "value": 1, "timestamp": now(), "step": 0}, {"key": "x", "value": 1, "timestamp": now(), "step": 0, "model_id": "m-0000"}]})
checks["search with filter"] = call("POST", "logged-models/search", {"experiment_ids": ["0"], "filter": "name = 'model'"})
checks["model file escaping"] = http("PUT", resolve(first["info"]["artifact_uri"], "%2e%2e", "%2e%2e", "escaped.txt"), b"x")
must(call("POST", "runs/update", {"run_uuid": RUN, "run_id": RUN, "status": "FINISHED", "end_time": now()}))
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

/** Submits an MLflow-like client script; its run's id, the checks it printed, and ml's stderr. */
async function submitClient(dir: string, outside: string, client = CLIENT): Promise<{runId: string; checks: Record<string, [number, {error_code?: string}]>; stderr: string}> {
  await write(dir, {'client.py': client})
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

test('MLflow 3.x\'s pyfunc.log_model logs a model into the run: its files in outputs/models/<name>/, its record in ml.mlflow.models; a wrong request changes nothing', async () => {
  const dir = await project()
  const {runId, checks: raw, stderr} = await submitClient(dir, tempDir('ml-outside-'), CLIENT3)
  const checks = raw as unknown as Record<string, any>
  const run = JSON.parse(ok(await ml(dir, ['history', 'info', runId, '-o', 'json'])).stdout)
  const first = checks.first.info
  const second = checks.second.info
  assert.match(first.model_id, /^m-[0-9a-f]{32}$/)
  assert.is(first.artifact_uri, `mlflow-artifacts:/${runId}/models/model`)
  assert.is(first.status, 'LOGGED_MODEL_READY')
  assert.is(first.source_run_id, runId)
  assert.is(second.artifact_uri, `mlflow-artifacts:/${runId}/models/${second.model_id}`, 'a name already taken gives the model its id as folder')
  assert.is(second.status, 'LOGGED_MODEL_UPLOAD_FAILED')
  assert.equal(checks.outputs, {model_outputs: [{model_id: first.model_id, step: 0}]})
  assert.equal(run.outputs.map((o: {path: string}) => o.path).sort(), ['models/model/MLmodel', 'models/model/code/helper.py', 'models/model/python_model.pkl', 'models/model/requirements.txt', `models/${second.model_id}/MLmodel`].sort())
  assert.is(shadowGit(dir, ['show', `refs/ml/runs/${runId}:outputs/models/model/requirements.txt`]), 'mlflow==3.6.0')
  const models = JSON.parse(run.properties['ml.mlflow.models'])
  assert.equal(models.map((m: {model_id: string; name: string; path: string; status: string; step: number}) => [m.model_id, m.name, m.path, m.status, m.step]), [[first.model_id, 'model', 'models/model', 'READY', 0], [second.model_id, 'model', `models/${second.model_id}`, 'FAILED', 0]])
  assert.equal(models[0].params, {lr: '0.01', extra: '1'}, 'the run\'s params, then log_model_params')
  assert.equal(models[0].tags, {'mlflow.user': 'me', 'mlflow.source.name': 'client.py', 'mlflow.source.type': 'LOCAL', 'team': 'vision'})
  assert.equal(models[0].metrics, {loss: 1, val: 0.9}, 'the run\'s metrics of its step, and one logged with its model_id')
  assert.equal(checks.got.data.params, [{key: 'lr', value: '0.01'}, {key: 'extra', value: '1'}])
  assert.equal(checks.search.models.map((m: {info: {model_id: string}}) => m.info.model_id), [second.model_id], 'newest first, a page of one')
  assert.equal(checks['search page 2'].models.map((m: {info: {model_id: string}}) => m.info.model_id), [first.model_id])
  assert.not.ok('next_page_token' in checks['search page 2'])
  assert.not.ok('mlflow.log-model.history' in run.properties, 'MLflow 3.x does not call runs/log-model')
  // log_model logs the metrics of its step again, with the model's id: they are not kept twice.
  const points = JSON.parse(ok(await ml(dir, ['history', 'metrics', runId, '-o', 'json'])).stdout)
  assert.equal(points.map((p: {name: string; step: number}) => `${p.name}@${p.step}`), ['loss@0', 'loss@1', 'loss@2', 'val@0'])
  assert.equal(run.metrics, {loss: 1 / 3, val: 0.9})

  const code = (name: string) => [checks[name][0], checks[name][1].error_code]
  for (const name of ['bad name', 'other source run', 'too many params', 'finalize pending', 'bad param key', 'bad tag value', 'search with filter', 'model file escaping']) assert.equal(code(name), [400, 'INVALID_PARAMETER_VALUE'], name)
  for (const name of ['other experiment', 'unknown model', 'finalize unknown', 'missing tag', 'outputs of unknown model', 'metric of unknown model']) assert.equal(code(name), [404, 'RESOURCE_DOES_NOT_EXIST'], name)
  assert.not.match(stderr, /which ml does not serve/)
  // Nothing of a refused request was kept.
  assert.equal(models.length, 2)
  assert.not.ok('fine' in models[0].params || 'fine' in models[0].tags)
  assert.not.ok(points.some((p: {name: string}) => ['half', 'x'].includes(p.name)))
  assert.not.ok(existsSync(path.join(dir, 'escaped.txt')))
})

/** A script that checks MLFLOW_RUN_ID as MLflow's client does before it attaches, then logs a metric, an artifact and a nested run. */
const DOTTED = PRELUDE + String.raw`
# mlflow/utils/validation.py (2.x and 3.6 alike): _RUN_ID_REGEX, which _validate_run_id applies in fluent.py's start_run.
_RUN_ID_REGEX = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
if _RUN_ID_REGEX.match(RUN) is None:
    sys.exit("MlflowException: Invalid run ID: '%s'" % RUN)
run = attach()
must(call("POST", "runs/log-metric", {"run_uuid": RUN, "run_id": RUN, "key": "acc", "value": 0.5, "timestamp": now(), "step": 0}))
must(http("PUT", artifact_url(run, "reports", "r.txt"), b"dotted\n"))
child = must(call("POST", "runs/create", {"experiment_id": "0", "start_time": now(), "run_name": "fold", "tags": [{"key": "mlflow.parentRunId", "value": RUN}]}))["run"]["info"]
if _RUN_ID_REGEX.match(child["run_id"]) is None:
    sys.exit("MlflowException: Invalid run ID: '%s'" % child["run_id"])
must(call("POST", "runs/log-metric", {"run_id": child["run_id"], "key": "fold_acc", "value": 0.7, "timestamp": now(), "step": 0}))
must(http("PUT", resolve(child["artifact_uri"], "fold.txt"), b"fold\n"))
found = must(call("POST", "runs/search", {"experiment_ids": ["0"], "filter": "attributes.run_id = '%s'" % RUN}))
print("RUN " + json.dumps({"run": RUN, "search": [r["info"]["run_id"] for r in found["runs"]], "child": child["run_id"]}), flush=True)
`

test('a project with a dot in its name: MLflow gets a run id its client accepts, logs through it, and ml ui answers with the same id', async () => {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'my.proj', '-q']))
  const dir = path.join(root, 'my.proj')
  await write(dir, {'client.py': DOTTED})
  const r = ok(await ml(dir, ['experiment', 'submit', 'client.py']))
  const seen = JSON.parse(/^RUN (.*)$/m.exec(r.stdout)?.[1] ?? 'null')
  assert.ok(seen, r.stdout + r.stderr)
  const [{runId}] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.match(runId, /^my\.proj_\d+_[0-9a-f]{4}$/)
  // MLflow's _RUN_ID_REGEX (mlflow/utils/validation.py), as the script applied it.
  assert.match(seen.run, /^[a-zA-Z0-9][\w-]{0,255}$/)
  assert.is(seen.run, runId.replace('.', '-_d'))
  assert.equal(seen.search, [seen.run])
  assert.is(seen.child, `${seen.run}-nested-1`)
  const run = JSON.parse(ok(await ml(dir, ['history', 'info', runId, '-o', 'json'])).stdout)
  assert.equal(run.metrics, {acc: 0.5})
  assert.equal(run.outputs.map((o: {path: string}) => o.path).sort(), [`${runId}-nested-1/fold.txt`, 'reports/r.txt'], 'a nested run\'s files are under its ml id')
  assert.equal(JSON.parse(run.properties[`ml.mlflow.nested.${runId}-nested-1`]).metrics, {fold_acc: 0.7})

  const ui = await startUi(dir)
  const api = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${ui.base}/api/2.0/${route}`, {method, headers: {'Authorization': `Bearer ${ui.token}`, 'Content-Type': 'application/json'}, ...(body !== undefined && {body: JSON.stringify(body)})})
    return {status: res.status, body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text()}
  }
  const searched = await api('POST', 'mlflow/runs/search', {experiment_ids: ['0']})
  assert.equal(searched.body.runs.map((x: {info: {run_id: string}}) => x.info.run_id), [seen.run])
  const filtered = await api('POST', 'mlflow/runs/search', {experiment_ids: ['0'], filter: `attributes.run_id IN ('${seen.run}')`})
  assert.equal(filtered.body.runs.map((x: {info: {run_id: string}}) => x.info.run_id), [seen.run])
  const got = await api('GET', `mlflow/runs/get?run_id=${seen.run}`)
  assert.equal([got.body.run.info.run_id, got.body.run.info.artifact_uri, got.body.run.info.run_name], [seen.run, `mlflow-artifacts:/${seen.run}`, runId])
  assert.equal((await api('GET', `mlflow/metrics/get-history?run_id=${seen.run}&metric_key=acc`)).body.metrics.map((m: {value: number}) => m.value), [0.5])
  assert.equal((await api('GET', `mlflow/artifacts/list?run_id=${seen.run}&path=reports`)).body, {root_uri: `mlflow-artifacts:/${seen.run}`, files: [{path: 'reports/r.txt', is_dir: false, file_size: 7}]})
  assert.is((await api('GET', `mlflow-artifacts/artifacts/${seen.run}/reports/r.txt`)).body, 'dotted\n')
  // ml's own id is not MLflow's: asked for it, ml ui has no such run.
  const mlId = await api('GET', `mlflow/runs/get?run_id=${runId}`)
  assert.equal([mlId.status, mlId.body.error_code], [404, 'RESOURCE_DOES_NOT_EXIST'])
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
