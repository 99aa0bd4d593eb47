import {execFileSync} from 'node:child_process'
import {existsSync, promises as fs, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, errorCode, ml, mlSpawn, ok, shadowGit, shadowRefs, tempDir, timedSuite, within, write} from '../helpers.js'
import {startSshd} from '../servers.js'
import {type SlurmCluster, slurmAvailable, startSlurm} from '../slurm-cluster.js'

const test = timedSuite('compute-slurm', 240_000)
let cluster: SlurmCluster
const closers: Array<() => Promise<void>> = []

test.before(async () => {
  assert.ok(slurmAvailable(), 'these tests need root and Debian\'s slurmctld, slurmd, slurm-client and munge (bin/setup.sh installs them)')
  cluster = await startSlurm({cpus: 4})
})
test.after.each(async () => {
  for (const close of closers.splice(0)) await close()
  execFileSync('scancel', ['--user', 'root'], {env: {...process.env, ...cluster.env}})
})
test.after(async () => {
  await cluster?.stop()
  await cleanup()
})

type Run = {runId: string; status: string; exitCode?: number; host: string; error?: string; params?: Record<string, unknown>; metrics?: Record<string, number>; outputs: Array<{path: string}>; properties: Record<string, string>}

/** A project with the Slurm target `hpc` (Slurm's commands on this machine, a shared work dir). */
async function project(sbatchArgs: string[] = []): Promise<{dir: string; env: NodeJS.ProcessEnv; workDir: string}> {
  const root = tempDir()
  const env = {...cluster.env, HOME: tempDir('ml-home-')}
  ok(await ml(root, ['project', 'init', 'p', '-q'], env))
  const dir = path.join(root, 'p')
  const workDir = tempDir('ml-slurm-work-')
  ok(await ml(dir, ['compute', 'attach', 'hpc', '--type', 'slurm', '--work-dir', workDir, ...sbatchArgs.map((a) => `--sbatch-arg=${a}`)], env))
  await write(dir, {
    'train.py': [
      'import os, sys, time',
      'from run_logger import log',
      'args = dict(a.lstrip("-").split("=") for a in sys.argv[1:] if "=" in a)',
      'time.sleep(float(os.environ.get("SLEEP", args.get("sleep", "0"))))',
      'log("score", float(len(sys.argv)))',
      'print("on", os.uname().nodename, "args", sys.argv[1:], flush=True)',
      'open("outputs/result.txt", "w").write(" ".join(sys.argv[1:]))',
      'sys.exit(int(args.get("exit", "0")))',
    ].join('\n') + '\n',
  })
  return {dir, env, workDir}
}

async function runs(dir: string, env: NodeJS.ProcessEnv): Promise<Run[]> {
  return JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'], env)).stdout)
}

/** `history sync` once a second until every run has ended (or `ms` passed); the runs then. */
async function settled(dir: string, env: NodeJS.ProcessEnv, ms = 60_000): Promise<Run[]> {
  const until = Date.now() + ms
  for (;;) {
    ok(await ml(dir, ['history', 'sync'], env))
    const list = await runs(dir, env)
    if (list.every((r) => r.status !== 'Queued' && r.status !== 'Running')) return list
    if (Date.now() > until) throw new Error(`runs still out after ${ms} ms: ${JSON.stringify(list.map((r) => [r.runId, r.status]))}`)
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
}

function scontrolJob(jobId: string): string {
  return execFileSync('scontrol', ['show', 'job', '-o', jobId], {env: {...process.env, ...cluster.env}, encoding: 'utf8'})
}

test('a submit is Queued with its job id at once, then recorded Running and Completed with node, log, metrics and outputs', async () => {
  const {dir, env, workDir} = await project()
  const r = ok(await ml(dir, ['experiment', 'submit', '-c', 'hpc', 'train.py', '--lr=0.1'], env))
  const runId = /Run (\S+) queued on hpc as Slurm job \d+/.exec(r.stderr)?.[1]
  assert.ok(runId, r.stderr)
  // history info does not look at the target (history list would): the record as submit left it.
  const queued: Run = JSON.parse(ok(await ml(dir, ['history', 'info', runId!, '-o', 'json'], env)).stdout)
  assert.is(queued.status, 'Queued')
  const jobId = queued.properties['slurm.job_id']
  assert.match(jobId, /^\d+$/)
  assert.match(scontrolJob(jobId), /JobName=ml-p /, 'Slurm knows the job ml recorded')
  const [run] = await settled(dir, env)
  assert.is(run.status, 'Completed')
  assert.is(run.exitCode, 0)
  assert.is(run.host, cluster.node)
  assert.equal(run.params, {lr: 0.1})
  assert.equal(run.metrics, {score: 2})
  assert.equal(run.outputs.map((o) => o.path), ['result.txt'])
  assert.is(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:outputs/result.txt`]), '--lr=0.1')
  assert.match(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:output.log`]), new RegExp(`on ${cluster.node} args \\['--lr=0.1'\\]`))
  const [projectFolder] = readdirSync(workDir)
  assert.equal(readdirSync(path.join(workDir, projectFolder)), ['objects'], 'the run folder goes once the run is recorded')
})

test('submit --wait streams the log and exits with the script\'s code: exit 3 is Failed', async () => {
  const {dir, env} = await project()
  const r = await ml(dir, ['experiment', 'submit', '-c', 'hpc', '--wait', 'train.py', '--exit=3'], env)
  assert.is(r.code, 3, r.stderr)
  assert.match(r.stdout, /on \S+ args \['--exit=3'\]/)
  assert.match(r.stderr, /Failed in .* \(exit code 3\)/)
  const [run] = await runs(dir, env)
  assert.is(run.status, 'Failed')
  assert.is(run.exitCode, 3)
})

test('a run canceled while queued never runs; one canceled while running is Canceled', async () => {
  const {dir, env} = await project()
  const blocker = execFileSync('sbatch', ['--parsable', '--exclusive', '--output=/dev/null', '--wrap', 'sleep 120'], {env: {...process.env, ...cluster.env}, encoding: 'utf8'}).trim()
  ok(await ml(dir, ['experiment', 'submit', '-c', 'hpc', 'train.py', '--tag=queued'], env))
  const [queued] = await runs(dir, env)
  assert.match(scontrolJob(queued.properties['slurm.job_id']), /JobState=PENDING/)
  const canceled = ok(await within(60_000, ml(dir, ['experiment', 'cancel', queued.runId], env)))
  assert.match(canceled.stdout, /canceled/)
  execFileSync('scancel', [blocker], {env: {...process.env, ...cluster.env}})
  let [run] = await runs(dir, env)
  assert.is(run.status, 'Canceled')
  assert.equal(run.outputs, [], 'it never ran')

  ok(await ml(dir, ['experiment', 'submit', '-c', 'hpc', 'train.py', '--sleep=60'], env))
  const started = Date.now()
  let running: Run
  for (;;) {
    ok(await ml(dir, ['history', 'sync'], env))
    running = (await runs(dir, env))[0]
    if (running.status === 'Running' || Date.now() - started > 30_000) break
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  assert.is(running.status, 'Running')
  ok(await within(60_000, ml(dir, ['experiment', 'cancel', running.runId], env)))
  ;[run] = await runs(dir, env)
  assert.is(run.status, 'Canceled')
  assert.is(run.host, cluster.node)
})

test('a 2x2 sweep is one job array run at most 2 at once, each run recorded with its parameters', async () => {
  const {dir, env} = await project()
  const r = ok(await ml(dir, ['experiment', 'sweep', '-c', 'hpc', '-j', '2', '--grid', 'a=1,2', '--grid', 'b=x,y', 'train.py'], env))
  const arrayId = /as Slurm job array (\d+), at most 2 at once/.exec(r.stderr)?.[1]
  assert.ok(arrayId, r.stderr)
  assert.match(scontrolJob(arrayId!), /ArrayTaskThrottle=2/)
  const queued = await runs(dir, env)
  assert.equal(queued.map((run) => run.properties['slurm.job_id']).sort(), [0, 1, 2, 3].map((i) => `${arrayId}_${i}`))
  const list = await settled(dir, env)
  assert.equal(list.map((run) => [run.status, run.params?.a, run.params?.b, run.error]).sort(), [['Completed', 1, 'x', undefined], ['Completed', 1, 'y', undefined], ['Completed', 2, 'x', undefined], ['Completed', 2, 'y', undefined]])
})

test('a partition Slurm does not have is COMPUTE_ERROR in Slurm\'s words; nothing is recorded or left', async () => {
  const {dir, env, workDir} = await project()
  ok(await ml(dir, ['compute', 'detach', 'hpc'], env))
  ok(await ml(dir, ['compute', 'attach', 'hpc', '--type', 'slurm', '--work-dir', workDir, '--partition', 'nosuchpartition'], env))
  const refs = shadowRefs(dir)
  const r = await ml(dir, ['experiment', 'submit', '-c', 'hpc', 'train.py'], env)
  assert.is(errorCode(r), 'COMPUTE_ERROR', r.stderr)
  assert.match(r.stderr, /Slurm refused the job on this machine: invalid partition specified: nosuchpartition/)
  assert.equal(shadowRefs(dir).split('\n').filter((l) => l.includes('refs/ml/runs/')), [], 'no run recorded')
  assert.ok(refs.length > 0)
  const [projectFolder] = readdirSync(workDir)
  assert.equal(readdirSync(path.join(workDir, projectFolder)), ['objects'], 'no run folder left')
  const check = await ml(dir, ['compute', 'check', 'hpc'], env)
  assert.is(errorCode(check), 'COMPUTE_ERROR')
  assert.match(check.stdout, /FAIL\s+partition/)
})

test('a run killed by Slurm\'s time limit is Failed with the reason TIMEOUT', async () => {
  const {dir, env} = await project(['--time=0:01'])
  ok(await ml(dir, ['experiment', 'submit', '-c', 'hpc', 'train.py', '--sleep=120'], env))
  const [run] = await settled(dir, env, 150_000)
  assert.is(run.status, 'Failed')
  assert.match(run.error ?? '', /TIMEOUT/)
  assert.is(run.exitCode, 143, 'the script got SIGTERM')
})

test('a Slurm cluster behind an ssh login node: submit --wait runs there and is recorded', async () => {
  const sshd = await startSshd({config: [`SetEnv SLURM_CONF=${cluster.env.SLURM_CONF}`]})
  closers.push(() => sshd.close())
  const root = tempDir()
  const home = tempDir('ml-home-')
  const knownHosts = path.join(home, 'known_hosts')
  writeFileSync(knownHosts, sshd.knownHostsLine)
  const env = {HOME: home, SSH_AUTH_SOCK: '', ML_SSH_KEY: '', ML_SSH_KNOWN_HOSTS: knownHosts, SLURM_CONF: '/nonexistent'}
  ok(await ml(root, ['project', 'init', 'p', '-q'], env))
  const dir = path.join(root, 'p')
  ok(await ml(dir, ['compute', 'attach', 'login', '--type', 'slurm', '--host', '127.0.0.1', '--port', String(sshd.port), '--identity', sshd.userKey, '--work-dir', tempDir('ml-slurm-work-')], env))
  await write(dir, {'hello.sh': 'echo hello from $(hostname)\necho done > outputs/done.txt\n'})
  const r = ok(await within(60_000, ml(dir, ['experiment', 'submit', '-c', 'login', '--wait', 'hello.sh'], env)))
  assert.match(r.stdout, /hello from/)
  const [run] = await runs(dir, env)
  assert.is(run.status, 'Completed')
  assert.equal(run.outputs.map((o) => o.path), ['done.txt'])
  assert.ok(existsSync(path.join(dir, '.ml', 'compute', 'login.json')))
  assert.not.ok(await fs.readdir(path.join(dir, '.ml', 'compute-runs')).then((f) => f.some((n) => n.endsWith('.json'))), 'nothing left to sync')
})

test('Ctrl-C on submit --wait cancels the job', async () => {
  const {dir, env} = await project()
  const child = mlSpawn(dir, ['experiment', 'submit', '-c', 'hpc', '--wait', 'train.py', '--sleep=60'], env)
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const closed = new Promise<number | null>((resolve) => child.once('close', resolve))
  await within(30_000, new Promise<void>((resolve) => child.stderr.on('data', () => /started/.test(err) && resolve())))
  child.kill('SIGINT')
  assert.is(await within(60_000, closed), 130, err)
  const [run] = await runs(dir, env)
  assert.is(run.status, 'Canceled')
})

test.run()
