import {randomBytes} from 'node:crypto'
import {existsSync, promises as fs, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, errorCode, ml, mlSpawn, ok, shadowGit, shadowRefs, tempDir, timedSuite, within, write} from '../helpers.js'
import {bareRepo, type Relay, type SshServer, startRelay, startSshd} from '../servers.js'

const test = timedSuite('compute-ssh')
const closers: Array<() => Promise<void> | void> = []
test.after.each(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await cleanup()
})

async function relay(to: number): Promise<Relay> {
  const r = await startRelay(to)
  closers.push(r.close)
  return r
}

interface Setup {
  dir: string
  env: NodeJS.ProcessEnv
  workDir: string
  sshd: SshServer
  /** The project's folder of objects on the host. */
  objects: () => string[]
}

/** A project with the target `box` attached: sshd on loopback (through `port` when given), a work dir, a known_hosts. */
async function setup(options: {viaRelay?: boolean; remote?: boolean} = {}): Promise<Setup & {relay?: Awaited<ReturnType<typeof relay>>}> {
  const sshd = await startSshd()
  closers.push(() => sshd.close())
  const via = options.viaRelay ? await relay(sshd.port) : undefined
  const port = via?.port ?? sshd.port
  const root = tempDir()
  const home = tempDir('ml-home-')
  const knownHosts = path.join(home, 'known_hosts')
  writeFileSync(knownHosts, sshd.knownHostsLine.replace(`]:${sshd.port} `, `]:${port} `))
  const env = {HOME: home, SSH_AUTH_SOCK: '', ML_SSH_KEY: '', ML_SSH_KNOWN_HOSTS: knownHosts}
  ok(await ml(root, ['project', 'init', 'p', '-q', ...options.remote ? ['-r', `file://${bareRepo(root)}`] : []], env))
  const dir = path.join(root, 'p')
  const workDir = tempDir('ml-host-')
  ok(await ml(dir, ['compute', 'attach', 'box', '--type', 'ssh', '--host', `127.0.0.1`, '--port', String(port), '--identity', sshd.userKey, '--work-dir', workDir], env))
  const projectId = JSON.parse(await fs.readFile(path.join(dir, '.ml', 'project.json'), 'utf8')).id
  return {dir, env, workDir, sshd, relay: via, objects: () => readdirSync(path.join(workDir, projectId, 'objects')).sort()}
}

type Run = {runId: string; status: string; exitCode?: number; compute: string; host: string; metrics?: Record<string, number>; params?: Record<string, unknown>; outputs: Array<{path: string}>; error?: string}

async function runs(dir: string, env: NodeJS.ProcessEnv): Promise<Run[]> {
  return JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'], env)).stdout)
}

const TRAIN = [
  'import os, sys, time',
  'from run_logger import log',
  'print("cwd", os.getcwd(), "args", sys.argv[1:], "run", os.environ["ML_RUN_ID"], flush=True)',
  'for step in range(3):',
  '    log("loss", 1.0 / (step + 1), step=step)',
  '    print("step", step, flush=True)',
  'os.makedirs("outputs/sub", exist_ok=True)',
  'open("outputs/sub/model.txt", "w").write("weights " + " ".join(sys.argv[1:]))',
  'sys.exit(int(os.environ.get("EXIT", "0")) if "--fail" not in sys.argv else 3)',
].join('\n') + '\n'

test('a run on an ssh host is streamed and recorded like a local one; a failing one exits with its code', async () => {
  const {dir, env, workDir} = await setup()
  await write(dir, {'train.py': TRAIN, 'data/info.txt': 'data\n'})
  const r = ok(await ml(dir, ['experiment', 'submit', '-c', 'box', 'train.py', '--lr', '0.5'], env))
  assert.match(r.stdout, /step 2/, 'the output came back as it was written')
  assert.match(r.stdout, new RegExp(`cwd ${workDir}/[0-9a-f-]+/p_\\d+_[0-9a-f]{4} args \\['--lr', '0.5'\\]`))
  const [run] = await runs(dir, env)
  assert.is(run.status, 'Completed')
  assert.is(run.exitCode, 0)
  assert.is(run.compute, 'box')
  assert.equal(run.params, {lr: 0.5})
  assert.equal(run.metrics, {loss: 1 / 3})
  assert.equal(run.outputs.map((o) => o.path), ['sub/model.txt'])
  assert.is(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:outputs/sub/model.txt`]), 'weights --lr 0.5')
  assert.match(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:output.log`]), /step 0\n[\s\S]*step 1\n[\s\S]*step 2$/)
  const environment = JSON.parse(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:environment.json`]))
  assert.is(environment.os.type, 'Linux')
  assert.match(environment.interpreter.version, /^3\.\d+/)
  assert.ok(environment.memoryBytes > 0 && environment.cpu.count > 0, JSON.stringify(environment))
  const [projectFolder] = readdirSync(workDir)
  assert.equal(readdirSync(path.join(workDir, projectFolder)), ['objects'], 'the run folder is removed once recorded; the objects stay')
  assert.not.ok(existsSync(path.join(dir, '.ml', 'compute-runs', `${run.runId}.json`)))

  const failed = await ml(dir, ['experiment', 'submit', '-c', 'box', 'train.py', '--fail'], env)
  assert.is(failed.code, 3, failed.stderr)
  assert.match(failed.stderr, /Failed in .* \(exit code 3\)/)
  assert.is((await runs(dir, env))[0].status, 'Failed')
})

test('a second run sends only the files that changed (bytes counted on the wire)', async () => {
  const {dir, env, relay: via, objects} = await setup({viaRelay: true})
  const big = randomBytes(300_000).toString('base64') // incompressible, 400 kB
  await write(dir, {'train.py': TRAIN, 'data/big.txt': big, 'config.txt': 'a=1\n'})
  const before = via!.sent()
  const first = ok(await ml(dir, ['experiment', 'submit', '-c', 'box', 'train.py'], env))
  const firstBytes = via!.sent() - before
  const files = Number(/Sent (\d+) new files \(\d+ bytes\)/.exec(first.stderr)?.[1])
  assert.ok(files >= 3, first.stderr)
  assert.ok(firstBytes > big.length, `the first run sent ${firstBytes} bytes`)
  assert.is(objects().length, files)

  await write(dir, {'config.txt': 'a=2\n'})
  const mid = via!.sent()
  const second = ok(await ml(dir, ['experiment', 'submit', '-c', 'box', 'train.py'], env))
  const secondBytes = via!.sent() - mid
  assert.match(second.stderr, new RegExp(`Sent 1 new file \\(4 bytes\\) to .*; ${files - 1} of the run's ${files} were there already`))
  assert.ok(secondBytes < 60_000, `the second run sent ${secondBytes} bytes (the first ${firstBytes})`)
  assert.is(objects().length, files + 1, 'one new object: the changed config.txt')
  const [run] = await runs(dir, env)
  assert.is(run.status, 'Completed')
})

test('the connection dropped mid-run: the run goes on there, and history sync records it', async () => {
  const {dir, env, relay: via} = await setup({viaRelay: true})
  await write(dir, {'slow.py': 'import time\nprint("begun", flush=True)\ntime.sleep(4)\nopen("outputs/done.txt", "w").write("yes")\nprint("finished", flush=True)\n'})
  const child = mlSpawn(dir, ['experiment', 'submit', '-c', 'box', 'slow.py'], env)
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const closed = new Promise<number | null>((resolve) => child.once('close', resolve))
  await within(20_000, new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('begun') && resolve())))
  via!.cut()
  const code = await within(40_000, closed)
  assert.is(code, 1, err)
  assert.match(err, /Error \[COMPUTE_CONNECTION_LOST\]: .*goes on there, and `ml history sync` records it/)
  const [running] = await runs(dir, env)
  assert.is(running.status, 'Running', 'not recorded as ended while it runs on')
  await new Promise((resolve) => setTimeout(resolve, 5000))
  const synced = ok(await ml(dir, ['history', 'sync'], env))
  assert.match(synced.stdout, new RegExp(`${running.runId} Completed \\(exit code 0\\)`))
  const [run] = await runs(dir, env)
  assert.is(run.status, 'Completed')
  assert.equal(run.outputs.map((o) => o.path), ['done.txt'])
  assert.match(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:output.log`]), /^begun\nfinished$/)
  assert.match(ok(await ml(dir, ['history', 'sync'], env)).stderr, /No run is out on a compute target/)
})

test('Ctrl-C stops the script on the host (KeyboardInterrupt), the run is Canceled, ml exits 130', async () => {
  const {dir, env} = await setup()
  await write(dir, {
    'train.py': 'import time\ntry:\n    print("started", flush=True)\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    open("outputs/checkpoint.txt", "w").write("saved")\n    print("interrupted", flush=True)\n    raise\n',
  })
  const child = mlSpawn(dir, ['experiment', 'submit', '-c', 'box', 'train.py'], env)
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const closed = new Promise<number | null>((resolve) => child.once('close', resolve))
  await within(20_000, new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('started') && resolve())))
  child.kill('SIGINT')
  assert.is(await within(40_000, closed), 130)
  assert.is(out.split('interrupted').length, 2, 'one KeyboardInterrupt on the host')
  const [run] = await runs(dir, env)
  assert.is(run.status, 'Canceled')
  assert.equal(run.outputs.map((o) => o.path), ['checkpoint.txt'])
})

test('experiment cancel stops a run whose submit is gone; a finished run is RUN_NOT_CANCELABLE', async () => {
  const {dir, env} = await setup()
  await write(dir, {'wait.sh': 'echo waiting\nsleep 60\n'})
  const child = mlSpawn(dir, ['experiment', 'submit', '-c', 'box', 'wait.sh'], env)
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  await within(20_000, new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('waiting') && resolve())))
  child.kill('SIGKILL')
  const [running] = await runs(dir, env)
  assert.is(running.status, 'Running')
  const canceled = ok(await within(40_000, ml(dir, ['experiment', 'cancel', running.runId], env)))
  assert.match(canceled.stdout, new RegExp(`${running.runId} canceled`))
  const [run] = await runs(dir, env)
  assert.is(run.status, 'Canceled')
  const again = await ml(dir, ['experiment', 'cancel', running.runId], env)
  assert.is(errorCode(again), 'RUN_NOT_CANCELABLE', again.stderr)
})

test('a host key that does not match known_hosts is refused before anything is recorded', async () => {
  const {dir, env, sshd} = await setup()
  await write(dir, {'train.py': TRAIN})
  const other = await startSshd() // another key for the same name
  closers.push(() => other.close())
  writeFileSync(env.ML_SSH_KNOWN_HOSTS!, other.knownHostsLine.replace(`]:${other.port} `, `]:${sshd.port} `))
  const refs = shadowRefs(dir)
  const r = await ml(dir, ['experiment', 'submit', '-c', 'box', 'train.py'], env)
  assert.is(errorCode(r), 'HOST_KEY_CHANGED', r.stderr)
  writeFileSync(env.ML_SSH_KNOWN_HOSTS!, '')
  const unknown = await ml(dir, ['experiment', 'submit', '-c', 'box', 'train.py'], env)
  assert.is(errorCode(unknown), 'HOST_KEY_UNKNOWN', unknown.stderr)
  assert.match(unknown.stderr, /ssh-keyscan -p \d+ 127\.0\.0\.1/)
  const snapshotted = shadowRefs(dir).split('\n').filter((l) => !l.includes('refs/ml/runs/'))
  assert.equal(shadowRefs(dir).split('\n').filter((l) => l.includes('refs/ml/runs/')), [], 'no run recorded')
  assert.ok(snapshotted.length >= refs.split('\n').length - 1)
  const check = await ml(dir, ['compute', 'check', 'box'], env)
  assert.is(errorCode(check), 'COMPUTE_ERROR')
  assert.match(check.stdout, /FAIL\s+connection .*HOST_KEY_UNKNOWN|FAIL\s+connection .*not known/)
})

test('compute attach, list, check and detach; unknown names and bad settings are one-line errors', async () => {
  const {dir, env, workDir} = await setup()
  const list = JSON.parse(ok(await ml(dir, ['compute', 'list', '-o', 'json'], env)).stdout)
  assert.equal(list.map((t: {name: string; type: string; workDir: string}) => [t.name, t.type, t.workDir]), [['box', 'ssh', workDir]])
  assert.not.match(JSON.stringify(list), /BEGIN|PRIVATE/, 'the key is kept by its path only')
  const check = ok(await ml(dir, ['compute', 'check', 'box'], env))
  assert.match(check.stdout, /ok\s+connection/)
  assert.match(check.stdout, /ok\s+work dir .* is writable/)
  assert.match(check.stdout, /ok\s+python\s+Python 3/)
  await write(dir, {'train.py': TRAIN})
  const unknown = await ml(dir, ['experiment', 'submit', '-c', 'nosuch', 'train.py'], env)
  assert.is(errorCode(unknown), 'UNKNOWN_COMPUTE')
  assert.match(unknown.stderr, /use one of: local, box/)
  assert.is(errorCode(await ml(dir, ['compute', 'attach', 'box', '--type', 'ssh', '--host', 'x'], env)), 'COMPUTE_EXISTS')
  assert.is(errorCode(await ml(dir, ['compute', 'attach', 'local', '--type', 'ssh', '--host', 'x'], env)), 'INVALID_ARGUMENT')
  assert.is(errorCode(await ml(dir, ['compute', 'attach', 'x', '--type', 'ssh'], env)), 'INVALID_ARGUMENT')
  assert.is(errorCode(await ml(dir, ['compute', 'attach', 'x', '--type', 'ssh', '--host', '-oProxyCommand=touch /tmp/pwned'], env)), 'INVALID_ARGUMENT')
  assert.is(errorCode(await ml(dir, ['compute', 'attach', 'x', '--type', 'slurm', '--sbatch-arg', 'notanoption'], env)), 'INVALID_ARGUMENT')
  assert.is(errorCode(await ml(dir, ['experiment', 'submit', '-c', 'box', '--queue', 'train.py'], env)), 'INVALID_ARGUMENT')
  const dead = await setup()
  await dead.sshd.close()
  const unreachable = await ml(dead.dir, ['experiment', 'submit', '-c', 'box', 'train.py'], dead.env)
  assert.is(errorCode(await ml(dead.dir, ['experiment', 'submit', '-c', 'box', 'nosuch.py'], dead.env)), 'SCRIPT_NOT_FOUND')
  await write(dead.dir, {'train.py': TRAIN})
  const refused = await ml(dead.dir, ['experiment', 'submit', '-c', 'box', 'train.py'], dead.env)
  assert.is(errorCode(refused), 'COMPUTE_UNREACHABLE', `${unreachable.stderr}${refused.stderr}`)
  ok(await ml(dir, ['compute', 'detach', 'box'], env))
  assert.match(ok(await ml(dir, ['compute', 'list'], env)).stderr, /No compute target is attached/)
})

test('a sweep on an ssh host runs -j 2 at once, each run recorded and pushed to the project\'s remote', async () => {
  const {dir, env} = await setup({remote: true})
  await write(dir, {'train.py': TRAIN})
  const r = ok(await ml(dir, ['experiment', 'sweep', '-c', 'box', '-j', '2', '--grid', 'lr=0.1,0.2', 'train.py'], env))
  assert.match(r.stderr, /2 Completed/)
  const list = await runs(dir, env)
  assert.equal(list.map((run) => [run.status, run.compute, run.params?.lr]).sort(), [['Completed', 'box', 0.1], ['Completed', 'box', 0.2]])
  assert.ok(list.every((run) => (run as {pushed?: boolean}).pushed === true), 'both runs\' last states reached the remote')
})

test.run()
