import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/**
 * `node dist/bench/mlflow-bench.js`: the time of MLflow calls against a run's endpoint, from
 * inside one `ml experiment submit` run. One python3 process sends 10,000 runs/log-metric
 * calls over one keep-alive connection (as MLflow's client does through a requests session),
 * then log-batch calls of 1,000 metrics; the floor is the same 10,000 lines appended by
 * run_logger.log. Issue 30's targets: <= 1 ms per log_metric, <= 20 ms per log-batch of 1,000.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = path.join(ROOT, 'bin', 'run.js')
const CALLS = 10_000
const BATCHES = 20

const SCRIPT = `
import http.client, json, os, statistics, time, urllib.parse
from run_logger import log

uri = urllib.parse.urlparse(os.environ["MLFLOW_TRACKING_URI"])
headers = {"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"], "Content-Type": "application/json"}
run = os.environ["MLFLOW_RUN_ID"]
conn = http.client.HTTPConnection(uri.hostname, uri.port)

def post(endpoint, body):
    conn.request("POST", "/api/2.0/mlflow/" + endpoint, json.dumps(body), headers)
    r = conn.getresponse()
    r.read()
    assert r.status == 200, r.status

def now():
    return int(time.time() * 1000)

for i in range(100):  # warm-up
    post("runs/log-metric", {"run_uuid": run, "run_id": run, "key": "warm", "value": i, "timestamp": now(), "step": i})
t = time.perf_counter()
for i in range(${CALLS}):
    post("runs/log-metric", {"run_uuid": run, "run_id": run, "key": "loss", "value": 1 / (i + 1), "timestamp": now(), "step": i})
metric = (time.perf_counter() - t) / ${CALLS}

batches = []
for b in range(${BATCHES}):
    body = {"run_id": run, "metrics": [{"key": "batch%d" % (j % 10), "value": j, "timestamp": now(), "step": b * 1000 + j} for j in range(1000)]}
    t = time.perf_counter()
    post("runs/log-batch", body)
    batches.append(time.perf_counter() - t)

t = time.perf_counter()
for i in range(${CALLS}):
    log("floor", 1 / (i + 1), step=i)
floor = (time.perf_counter() - t) / ${CALLS}
print("BENCH " + json.dumps({"log_metric_ms": metric * 1000, "log_batch_ms_median": statistics.median(batches) * 1000, "log_batch_ms_max": max(batches) * 1000, "run_logger_ms": floor * 1000}), flush=True)
`

const root = mkdtempSync(path.join(os.tmpdir(), 'ml-mlflow-bench-'))
try {
  execFileSync(process.execPath, [BIN, 'project', 'init', 'p', '-q'], {cwd: root})
  const dir = path.join(root, 'p')
  writeFileSync(path.join(dir, 'bench.py'), SCRIPT)
  const out = execFileSync(process.execPath, [BIN, 'experiment', 'submit', 'bench.py'], {cwd: dir, encoding: 'utf8', maxBuffer: 64 * 2 ** 20, stdio: ['ignore', 'pipe', 'inherit']})
  const line = /^BENCH (.*)$/m.exec(out)
  if (!line) throw new Error(`the bench script printed no result:\n${out.slice(-2000)}`)
  const r = JSON.parse(line[1]) as Record<string, number>
  const ms = (n: number) => `${n.toFixed(3)} ms`
  console.log(`runs/log-metric, ${CALLS} calls, keep-alive:   ${ms(r.log_metric_ms)} per call (target <= 1 ms)`)
  console.log(`run_logger.log, ${CALLS} lines (the floor):   ${ms(r.run_logger_ms)} per call`)
  console.log(`runs/log-batch of 1,000 metrics, ${BATCHES} batches: median ${ms(r.log_batch_ms_median)}, max ${ms(r.log_batch_ms_max)} (target <= 20 ms)`)
} finally {
  rmSync(root, {recursive: true, force: true})
}
