import {execFileSync} from 'node:child_process'
import {promises as fs, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, ml, mlSpawn, ok, shadowGit, tempDir, timedSuite, within, write} from '../helpers.js'
import {startRelay, startSshd} from '../servers.js'
import {type SlurmCluster, slurmAvailable, startSlurm} from '../slurm-cluster.js'

/**
 * MLflow from runs on compute targets, end to end on a real sshd and a real Slurm cluster: the
 * script is given MLflow's file store in its control folder, and a Python script writes into it
 * exactly what MLflow's FileStore writes (mlflow/store/tracking/file_store.py: meta.yaml,
 * params/, metrics/ lines "timestamp value step", tags/, the artifact folders; the order of
 * fluent.py's start_run with MLFLOW_RUN_ID set), with the stdlib only since the mlflow
 * package is not installed here; then what no MLflow client writes, as a hostile host could.
 */
const test = timedSuite('mlflow-targets', 200_000)
const closers: Array<() => Promise<void> | void> = []
let cluster: SlurmCluster | undefined
test.after.each(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})
test.after(async () => {
  await cluster?.stop()
  await cleanup()
})

const CLIENT = String.raw`
import json, os, re, shutil, sys, time, urllib.parse, urllib.request, uuid

URI = os.environ["MLFLOW_TRACKING_URI"]
print("URI", URI, os.environ.get("MLFLOW_RUN_ID"), os.environ.get("MLFLOW_EXPERIMENT_ID"), os.environ.get("MLFLOW_EXPERIMENT_NAME"), "token" if os.environ.get("MLFLOW_TRACKING_TOKEN") else "no-token", flush=True)
if not URI.startswith("file:"):
    sys.exit(0)
RUN = os.environ["MLFLOW_RUN_ID"]
EXP = os.environ["MLFLOW_EXPERIMENT_ID"]
# mlflow.utils.file_utils.local_file_uri_to_path
ROOT = urllib.request.url2pathname(urllib.parse.urlparse(URI).path)

def read_yaml(path):
    # the flat meta.yaml files, as yaml.safe_load reads them
    out = {}
    for line in open(path):
        key, _, value = line.rstrip("\n").partition(": ")
        value = value.strip()
        if len(value) > 1 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("''", "'")
        out[key] = value
    return out

def set_status(run_dir, status):
    # update_run_info: meta.yaml again, with RunStatus as its number
    path = os.path.join(run_dir, "meta.yaml")
    text = re.sub(r"^status: .*$", "status: %d" % status, open(path).read(), flags=re.M)
    open(path, "w").write(text)

def now():
    return int(time.time() * 1000)

def write_to(run_dir, folder, key, value):
    path = os.path.join(run_dir, folder, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(value)

def log_metric(run_dir, key, value, step):
    path = os.path.join(run_dir, "metrics", key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write(f"{now()} {float(value)} {step}\n")

# FileStore(root): the root exists, so it makes no default experiment; it makes .trash.
os.makedirs(os.path.join(ROOT, ".trash"), exist_ok=True)
# _get_experiment_id_from_env: get_experiment_by_name(MLFLOW_EXPERIMENT_NAME) must be MLFLOW_EXPERIMENT_ID.
named = [e for e in os.listdir(ROOT) if e != ".trash" and read_yaml(os.path.join(ROOT, e, "meta.yaml"))["name"] == os.environ["MLFLOW_EXPERIMENT_NAME"]]
assert named == [EXP], named
experiment = read_yaml(os.path.join(ROOT, EXP, "meta.yaml"))
# start_run(): get_run(MLFLOW_RUN_ID) (_find_run_root, its meta.yaml), check_run_is_active, update_run_info(RUNNING).
RUN_DIR = os.path.join(ROOT, EXP, RUN)
meta = read_yaml(os.path.join(RUN_DIR, "meta.yaml"))
assert meta["run_id"] == RUN and meta["run_uuid"] == RUN and meta["experiment_id"] == EXP and meta["lifecycle_stage"] == "active", meta
set_status(RUN_DIR, 1)
print("attached", flush=True)

# log_params({"lr": 0.01, "optimizer": "adam"}), log_metrics(..., step=s), log_param("epochs", 3)
write_to(RUN_DIR, "params", "lr", "0.01")
write_to(RUN_DIR, "params", "optimizer", "adam")
for step in range(3):
    log_metric(RUN_DIR, "loss", 1.0 / (step + 1), step)
    log_metric(RUN_DIR, "train/acc", 0.5 + step / 10, step)
    if os.path.exists("sleep.txt") and step == 0:
        time.sleep(float(open("sleep.txt").read()))
log_metric(RUN_DIR, "best", float("inf"), 0)
log_metric(RUN_DIR, "unstable", float("nan"), 0)
write_to(RUN_DIR, "params", "epochs", "3")
# set_tag("team", "vision"); a tag set, then delete_tag
write_to(RUN_DIR, "tags", "team", "vision")
write_to(RUN_DIR, "tags", "scratch", "x")
os.remove(os.path.join(RUN_DIR, "tags", "scratch"))
# log_artifact("report.txt", "reports"): LocalArtifactRepository copies into the run's artifact_uri.
ART = meta["artifact_uri"]
os.makedirs(os.path.join(ART, "reports"), exist_ok=True)
open(os.path.join(ART, "reports", "report.txt"), "w").write("all good\n")
# ... with shutil.copy2, which keeps the file's time: a file of the snapshot is older than the run's start.
os.makedirs(os.path.join(ART, "code"), exist_ok=True)
shutil.copy2("client.py", os.path.join(ART, "code"))
# MLflow 2.x log_model: its files, then record_logged_model: the tag mlflow.log-model.history
os.makedirs(os.path.join(ART, "model"), exist_ok=True)
open(os.path.join(ART, "model", "MLmodel"), "w").write("artifact_path: model\n")
model = {"artifact_path": "model", "run_id": RUN, "flavors": {"python_function": {"loader_module": "mlflow.sklearn"}}, "signature": "x" * 9000}
write_to(RUN_DIR, "tags", "mlflow.log-model.history", json.dumps([model]))

# start_run(nested=True, run_name="fold-1"): create_run makes a run of a new uuid beside it.
child = uuid.uuid4().hex
CHILD = os.path.join(ROOT, EXP, child)
for folder in ("metrics", "params", "artifacts"):
    os.makedirs(os.path.join(CHILD, folder))
child_art = experiment["artifact_location"] + "/" + child + "/artifacts"
with open(os.path.join(CHILD, "meta.yaml"), "w") as f:
    f.write("artifact_uri: %s\ndeleted_time: null\nend_time: null\nentry_point_name: ''\nexperiment_id: '%s'\nlifecycle_stage: active\nrun_id: %s\nrun_name: fold-1\nrun_uuid: %s\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: %d\nstatus: 1\ntags: []\nuser_id: root\n" % (child_art, EXP, child, child, now()))
for key, value in (("mlflow.parentRunId", RUN), ("mlflow.runName", "fold-1"), ("mlflow.source.type", "LOCAL")):
    write_to(CHILD, "tags", key, value)
log_metric(CHILD, "fold_acc", 0.8, 0)
open(os.path.join(child_art, "preds.csv"), "w").write("id,pred\n1,0\n")
set_status(CHILD, 3)

# What no MLflow client writes: a host's store is untrusted.
write_to(RUN_DIR, "params", "a\u0001b", "1")
write_to(RUN_DIR, "params", "long", "x" * 6001)
write_to(RUN_DIR, "tags", "huge", "y" * 9000)
open(os.path.join(RUN_DIR, "metrics", "garbled"), "w").write("not a metric line\n1700000000000 2.5 1\n")
open("not-in-store.txt", "w").write("1700000000000 42 0\n")
os.symlink(os.path.abspath("not-in-store.txt"), os.path.join(RUN_DIR, "metrics", "leak"))
os.makedirs("elsewhere")
open("elsewhere/stolen.txt", "w").write("secret\n")
os.symlink(os.path.abspath("elsewhere"), os.path.join(child_art, "linked"))
write_to(CHILD, "artifacts", ".git/config", "[core]\n")

# end_run(status="FAILED")
set_status(RUN_DIR, 4)
print("logged", flush=True)
`

type Run = {runId: string; status: string; params?: Record<string, unknown>; metrics?: Record<string, number>; outputs: Array<{path: string}>; properties: Record<string, string>}

/** What the CLIENT logged, as the run's record has it (as a local run's endpoint records it), and none of what it must not. */
async function assertLogged(dir: string, env: NodeJS.ProcessEnv, warnings: string): Promise<Run> {
  const [listed] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'], env)).stdout) as Run[]
  const run: Run = JSON.parse(ok(await ml(dir, ['history', 'info', listed.runId, '-o', 'json'], env)).stdout)
  const {runId} = run
  assert.is(run.status, 'Completed', 'the run\'s status is what ml saw (exit 0), not what the script set')
  assert.equal(run.params, {lr: 0.01, optimizer: 'adam', epochs: 3})
  assert.equal(run.metrics, {'loss': 1 / 3, 'train/acc': 0.7, 'best': Number.MAX_VALUE, 'garbled': 2.5})
  assert.is(run.properties.team, 'vision')
  assert.not.ok('scratch' in run.properties || 'huge' in run.properties)
  assert.is(run.properties['ml.mlflow.status'], 'FAILED')
  assert.equal(JSON.parse(run.properties['mlflow.log-model.history']).map((m: {flavors: object}) => Object.keys(m.flavors)), [['python_function']])
  const nested = JSON.parse(run.properties[`ml.mlflow.nested.${runId}-nested-1`])
  assert.equal(nested.metrics, {fold_acc: 0.8})
  assert.is(nested.status, 'FINISHED')
  assert.is(nested.tags['mlflow.parentRunId'], runId.replaceAll('.', '-_d'), 'the parent as MLflow knows it (a dot escaped, see mlflow-ids.ts)')
  assert.is(nested.tags['mlflow.runName'], 'fold-1')
  assert.equal(run.outputs.map((o) => o.path).sort(), ['code/client.py', 'model/MLmodel', `${runId}-nested-1/preds.csv`, 'reports/report.txt'])
  assert.is(shadowGit(dir, ['show', `refs/ml/runs/${runId}:outputs/reports/report.txt`]), 'all good')
  assert.is(shadowGit(dir, ['show', `refs/ml/runs/${runId}:outputs/${runId}-nested-1/preds.csv`]), 'id,pred\n1,0')
  const points = JSON.parse(ok(await ml(dir, ['history', 'metrics', runId, '-o', 'json'], env)).stdout) as Array<{name: string; step: number; timestamp: number}>
  const loss = points.filter((p) => p.name === 'loss')
  assert.equal(loss.map((p) => p.step), [0, 1, 2])
  assert.ok(loss.every((p) => Number.isInteger(p.timestamp) && p.timestamp > 1.7e12))
  assert.not.ok(points.some((p) => p.name === 'leak'), 'a link in the store is not followed')
  assert.not.ok(run.outputs.some((o) => o.path.includes('stolen') || o.path.includes('.git')))
  assert.match(warnings, /"unstable" was logged as NaN/)
  for (const refused of [/the param "a\\u0001b", whose key may hold only/, /the param long: .*6001 characters/, /the tag huge: .*9000 characters/, /a line of metric garbled that is not "timestamp value step"/, /the artifact ".*\.git\/config", whose path names a git folder/]) {
    assert.match(warnings, refused)
  }
  return run
}

/** A project with the ssh target `box` (through a relay that can cut the connection) and the client script. */
async function sshProject(): Promise<{dir: string; env: NodeJS.ProcessEnv; workDir: string; cut: () => void}> {
  const sshd = await startSshd()
  closers.push(() => sshd.close())
  const relay = await startRelay(sshd.port)
  closers.push(relay.close)
  const {port, cut} = relay
  const root = tempDir()
  const home = tempDir('ml-home-')
  const knownHosts = path.join(home, 'known_hosts')
  writeFileSync(knownHosts, sshd.knownHostsLine.replace(`]:${sshd.port} `, `]:${port} `))
  const env = {HOME: home, SSH_AUTH_SOCK: '', ML_SSH_KEY: '', ML_SSH_KNOWN_HOSTS: knownHosts}
  ok(await ml(root, ['project', 'init', 'p', '-q'], env))
  const dir = path.join(root, 'p')
  const workDir = tempDir('ml-host-')
  ok(await ml(dir, ['compute', 'attach', 'box', '--type', 'ssh', '--host', '127.0.0.1', '--port', String(port), '--identity', sshd.userKey, '--work-dir', workDir], env))
  await write(dir, {'client.py': CLIENT})
  return {dir, env, workDir, cut}
}

test('on an ssh host, what a script logs with MLflow (its file store there) lands in its ml run as a local run\'s does', async () => {
  const {dir, env, workDir} = await sshProject()
  const r = ok(await ml(dir, ['experiment', 'submit', '-c', 'box', 'client.py'], env))
  const [projectFolder] = readdirSync(workDir)
  assert.match(r.stdout, new RegExp(`^URI file://${workDir}/${projectFolder}/(p_\\d+_[0-9a-f]{4})\\.ml/mlruns \\1 0 p no-token$`, 'm'), 'the store is in the run\'s control folder, not in its snapshot\'s folder')
  assert.match(r.stdout, /logged/)
  await assertLogged(dir, env, r.stderr)
  assert.equal(readdirSync(path.join(workDir, projectFolder)), ['objects'], 'the store goes with the run\'s folders once recorded')
})

test('on an ssh host, a run whose connection dropped still has what it logged with MLflow once history sync records it', async () => {
  const {dir, env, cut} = await sshProject()
  await write(dir, {'sleep.txt': '3'})
  const child = mlSpawn(dir, ['experiment', 'submit', '-c', 'box', 'client.py'], env)
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const closed = new Promise<number | null>((resolve) => child.once('close', resolve))
  await within(30_000, new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('attached') && resolve())))
  cut()
  assert.is(await within(40_000, closed), 1, err)
  assert.match(err, /COMPUTE_CONNECTION_LOST/)
  await new Promise((resolve) => setTimeout(resolve, 4000))
  const synced = ok(await ml(dir, ['history', 'sync'], env))
  assert.match(synced.stdout, /Completed \(exit code 0\)/)
  await assertLogged(dir, env, synced.stderr)
})

test('on Slurm, what a script logs with MLflow is in its ml run once history sync records it; ML_MLFLOW_PASSTHROUGH=1 keeps the user\'s server', async () => {
  assert.ok(slurmAvailable(), 'this test needs root and Debian\'s slurmctld, slurmd, slurm-client and munge (bin/setup.sh installs them)')
  cluster = await startSlurm({cpus: 2})
  const root = tempDir()
  const env = {...cluster.env, HOME: tempDir('ml-home-')}
  // A dot in the project's name, so in its run ids, which MLflow's client refuses: the job is given the escaped id.
  ok(await ml(root, ['project', 'init', 'p.v2', '-q'], env))
  const dir = path.join(root, 'p.v2')
  const workDir = tempDir('ml-slurm-work-')
  ok(await ml(dir, ['compute', 'attach', 'hpc', '--type', 'slurm', '--work-dir', workDir], env))
  await write(dir, {'client.py': CLIENT})
  ok(await ml(dir, ['experiment', 'submit', '-c', 'hpc', 'client.py'], env))
  let synced = ''
  for (const until = Date.now() + 90_000; ;) {
    const r = ok(await ml(dir, ['history', 'sync'], env))
    synced += r.stderr
    if (/Completed|Failed/.test(r.stdout)) break
    if (Date.now() > until) throw new Error(`the job did not end: ${r.stdout}${r.stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  const run = await assertLogged(dir, env, synced)
  const [projectFolder] = readdirSync(workDir)
  const literal = (text: string) => text.replaceAll('.', '\\.')
  assert.match(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:output.log`]), new RegExp(`^URI file://${workDir}/${projectFolder}/${literal(run.runId)}\\.ml/mlruns ${run.runId.replace('p.v2_', 'p-_dv2_')} 0 p\\.v2 no-token$`, 'm'))

  const own = {ML_MLFLOW_PASSTHROUGH: '1', MLFLOW_TRACKING_URI: 'http://127.0.0.1:9/mine'}
  const waited = ok(await within(90_000, ml(dir, ['experiment', 'submit', '-c', 'hpc', '--wait', 'client.py'], {...env, ...own})))
  assert.match(waited.stdout, /^URI http:\/\/127\.0\.0\.1:9\/mine /m)
  execFileSync('scancel', ['--user', 'root'], {env: {...process.env, ...cluster.env}})
  await fs.rm(workDir, {recursive: true, force: true})
})

test.run()
