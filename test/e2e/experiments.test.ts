import {spawn, spawnSync} from 'node:child_process'
import {accessSync, constants, existsSync, promises as fs, readdirSync, readFileSync, readlinkSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import * as assert from 'uvu/assert'
import {BIN, cleanup, errorCode, git, ml, ok, type Result, ROOT, shadowGit, shadowRefs, tempDir, timedSuite, write} from '../helpers.js'

/**
 * The experiment features end to end, as a user meets them: parameters (params files, the
 * script's arguments, log_param) in every record and in list/compare/diff; environment.json;
 * isolated runs (.ml/work/<run-id>/, ignored data linked); sweeps (grid, random, -j, Ctrl-C);
 * the queue (submit/sweep --queue, a detached worker, status, stop, remove, a killed worker).
 * Every process is real; scripts never rely on fixed sleeps to line up with the test: they
 * write a file when they start and wait for a "go" file the test creates.
 */
const test = timedSuite('experiments', 120_000)

/** Temp folders of this suite: any process still working in one after a test was started by it. */
const roots: string[] = []

function dir(prefix = 'ml-exp-'): string {
  const made = tempDir(prefix)
  roots.push(made)
  return made
}

/** Processes whose working folder is one of this suite's temp folders (ml, workers, scripts), by pid. */
function leftovers(): number[] {
  if (!existsSync('/proc')) return []
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    let cwd: string
    try {
      cwd = readlinkSync(`/proc/${name}/cwd`)
    } catch {
      continue
    }
    if (roots.some((root) => cwd === root || cwd.startsWith(`${root}/`))) pids.push(Number(name))
  }
  return pids
}

function kill(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (pid === undefined) return
  try {
    process.kill(pid, signal)
  } catch {
    // Already gone.
  }
}

test.after.each(async () => {
  // Nothing a test started outlives it, even when it failed half-way: workers, orphaned scripts.
  for (const pid of leftovers()) kill(pid)
  roots.splice(0)
  await cleanup()
})

/** Whether the process `pid` is still there (as ml itself tells: until it is reaped). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Waits (30 s at most: a run here takes a few seconds) for a queue worker to end; if it does not,
 * the failure says what it is doing (its state and CPU time from /proc) and the end of its log.
 */
async function workerExit(cwd: string, pid: number, what: string): Promise<void> {
  try {
    await until(what, () => !alive(pid), 30_000)
  } catch (error) {
    let proc = ''
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')
      proc = `; the worker is in state ${fields[0]} with ${(Number(fields[11]) + Number(fields[12])) / 100} s of CPU time`
    } catch {
      // Gone after all.
    }
    const log = await fs.readFile(path.join(cwd, '.ml', 'queue', 'worker.log'), 'utf8').catch(() => '')
    throw new Error(`${(error as Error).message}${proc}; its log ends:\n${log.trim().split('\n').slice(-5).join('\n')}`)
  }
}

/** Polls `probe` until it gives a truthy value, or fails after `ms` saying what it waited for. */
async function until<T>(what: string, probe: () => T | Promise<T>, ms = 60_000, every = 100): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const end = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value) return value as Exclude<T, false | 0 | '' | null | undefined>
    if (Date.now() > end) throw new Error(`waited ${ms} ms for ${what}`)
    await sleep(every)
  }
}

/** Starts ml without waiting for it (to signal it, or to act while it runs). */
function start(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {cwd, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout, stderr}))
  })
  return {child, done}
}

async function project(files: Record<string, string> = {}): Promise<string> {
  const root = dir()
  ok(await ml(root, ['project', 'init', 'p', '-q']))
  const p = path.join(root, 'p')
  await write(p, files)
  return p
}

interface Run {
  runId: string
  status: string
  script: string
  arguments: string[]
  params?: Record<string, unknown>
  metrics?: Record<string, number>
  outputs: Array<{path: string}>
  error?: string
  sweepId?: string
  snapshotId: string
  isolated?: boolean
  pid?: number
  exitCode?: number
  properties: Record<string, string>
}

async function runs(cwd: string, args: string[] = []): Promise<Run[]> {
  return JSON.parse(ok(await ml(cwd, ['history', 'list', '-o', 'json', ...args])).stdout) as Run[]
}

function byId(all: Run[], id: string): Run {
  const run = all.find((r) => r.runId === id)
  if (!run) throw new Error(`no run ${id} in ${all.map((r) => r.runId).join(', ')}`)
  return run
}

/** A file of a run's record, as git reads it. */
function recorded(cwd: string, runId: string, file: string): string {
  return shadowGit(cwd, ['show', `refs/ml/runs/${runId}:${file}`])
}

function branchTip(cwd: string): string {
  return shadowGit(cwd, ['rev-parse', shadowGit(cwd, ['symbolic-ref', 'HEAD'])])
}

interface QueueState {
  worker: {pid: number; host: string; jobs: number} | null
  running: Run[]
  queued: Run[]
}

async function queueStatus(cwd: string): Promise<QueueState> {
  return JSON.parse(ok(await ml(cwd, ['queue', 'status', '-o', 'json'])).stdout) as QueueState
}

/** `ml queue start --detach ...`: the worker's pid, from what it prints. */
async function detachWorker(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const r = ok(await ml(cwd, ['queue', 'start', '--detach', ...args], env))
  const pid = Number(/Queue worker started \(ml process (\d+)\)/.exec(r.stdout)?.[1])
  assert.ok(pid > 0, `the worker's pid is printed: ${r.stdout}${r.stderr}`)
  return pid
}

/**
 * A script for the queue tests: `q.py --n NAME` writes $STATE/started-NAME (its pid) and waits
 * for $STATE/go-NAME or $STATE/go-all (at most 100 s), then writes outputs/done.txt. On SIGINT it
 * writes $STATE/interrupted-NAME.
 */
const QUEUE_SCRIPT = `import os, sys, time, pathlib
state = pathlib.Path(os.environ["STATE"])
name = sys.argv[sys.argv.index("--n") + 1]
(state / ("started-" + name)).write_text(str(os.getpid()))
try:
    for _ in range(2000):
        if (state / ("go-" + name)).exists() or (state / "go-all").exists():
            break
        time.sleep(0.05)
    else:
        sys.exit(3)
except KeyboardInterrupt:
    (state / ("interrupted-" + name)).write_text("1")
    raise
pathlib.Path(os.environ["ML_OUTPUTS_DIR"], "done.txt").write_text(name)
`

function started(state: string, name: string): number | undefined {
  const file = path.join(state, `started-${name}`)
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : undefined
}

async function go(state: string, name: string): Promise<void> {
  await fs.writeFile(path.join(state, `go-${name}`), '')
}

// ---------------------------------------------------------------------------------------------
// Parameters

test('params: params.yaml < arguments < logged, typed, dotted; in run.json, list -o json, columns, --sort-by, --query, compare and diff', async () => {
  const d = await project({
    'params.yaml': 'train:\n  lr: 0.01\n  epochs: 5\n  layers: [64, 32]\noptimizer: sgd\nseed: 1\ndropout: 0.5\n',
    'p.py': [
      'import json, os',
      'from run_logger import log, log_param',
      'log_param("seed", 42)',
      'log_param("note", "from-log")',
      'with open(os.environ["ML_METRICS_FILE"], "a") as f:',
      '    f.write(json.dumps({"param": "dropout", "value": 0.25}) + "\\n")',
      'log("acc", 0.9)',
      '',
    ].join('\n'),
  })
  const args = ['--optimizer', 'adam', '--seed=7', 'train.epochs=10', '--flag', '--rate', '0.1', '--tag=1e-3', '--neg', '-0.5', '--version', '0.1.2', 'shuffle=false']
  ok(await ml(d, ['experiment', 'submit', 'p.py', ...args]))
  const [first] = await runs(d)
  const expected = {
    'train.lr': 0.01, // the file alone
    'train.epochs': 10, // the argument over the file
    'train.layers': '[64,32]', // a list is kept as its JSON text
    optimizer: 'adam', // the argument over the file
    seed: 42, // logged over the argument (7) and the file (1)
    dropout: 0.25, // a raw JSONL param line over the file
    note: 'from-log',
    flag: true, // bare --flag
    rate: 0.1,
    tag: 0.001,
    neg: -0.5,
    version: '0.1.2', // not a number
    shuffle: false,
  }
  assert.equal(first.params, expected)
  assert.equal(first.metrics, {acc: 0.9}, 'a param line is not a metric, and metrics still work beside them')
  assert.equal(JSON.parse(recorded(d, first.runId, 'run.json')).params, expected, 'the record itself holds them')

  // params.json when there is no params.yaml.
  await fs.rm(path.join(d, 'params.yaml'))
  await write(d, {'params.json': JSON.stringify({train: {lr: 0.1}, optimizer: 'sgd'})})
  ok(await ml(d, ['experiment', 'submit', 'p.py']))
  // Both files: params.yaml alone is read.
  await write(d, {'params.yaml': 'train:\n  lr: 0.05\n'})
  ok(await ml(d, ['experiment', 'submit', 'p.py']))
  const all = await runs(d)
  const [third, second] = all
  assert.equal(second.params, {'train.lr': 0.1, optimizer: 'sgd', seed: 42, note: 'from-log', dropout: 0.25})
  assert.equal(third.params, {'train.lr': 0.05, seed: 42, note: 'from-log', dropout: 0.25})

  // One column per parameter in the table.
  const table = ok(await ml(d, ['history', 'list'])).stdout.split('\n')
  for (const header of ['TRAIN.LR', 'TRAIN.EPOCHS', 'OPTIMIZER', 'SEED', 'DROPOUT', 'FLAG', 'SHUFFLE']) assert.ok(table[0].split(/\s+/).includes(header), `${header} in ${table[0]}`)
  const firstRow = table.find((line) => line.startsWith(first.runId))!
  assert.match(firstRow, /\badam\b/)
  assert.match(firstRow, /\b0\.001\b/)

  // Sorted by a parameter (ascending, then --desc), and filtered by one with JMESPath.
  const order = (list: Run[]) => list.map((r) => r.runId)
  assert.equal(order(await runs(d, ['--sort-by', 'train.lr'])), [first.runId, third.runId, second.runId])
  assert.equal(order(await runs(d, ['--sort-by', 'train.lr', '--desc'])), [second.runId, third.runId, first.runId])
  const over = ok(await ml(d, ['history', 'list', '--query', '[?params."train.lr" > `0.03`].runId', '-o', 'tsv'])).stdout.trim().split('\n')
  assert.equal(over.sort(), [second.runId, third.runId].sort())

  // compare: a row per parameter, marked ≠ where the runs differ.
  const compare = ok(await ml(d, ['history', 'compare', first.runId, second.runId])).stdout.split('\n')
  const row = (name: string) => compare.find((line) => new RegExp(`^(≠ )?param ${name.replace('.', '\\.')}\\s`).test(line))
  assert.match(row('train.lr') ?? '', /^≠ param train\.lr\s+0\.01\s+0\.1\s*$/)
  assert.match(row('optimizer') ?? '', /^≠ param optimizer\s+adam\s+sgd\s*$/)
  assert.match(row('dropout') ?? '', /^param dropout\s+0\.25\s+0\.25\s*$/, 'the same value is not marked')
  assert.match(row('flag') ?? '', /^≠ param flag\s+true\s*$/)

  // diff: the parameters that changed come before the code diff.
  const diff = ok(await ml(d, ['history', 'diff', first.runId, second.runId])).stdout
  const block = diff.indexOf(`Parameters, ${first.runId} -> ${second.runId}:\n`)
  assert.ok(block >= 0, diff)
  assert.ok(block < diff.indexOf('diff --git'), 'before the code diff')
  assert.match(diff, /\n {2}train\.lr\s+0\.01 -> 0\.1\n/)
  assert.match(diff, /\n {2}optimizer\s+adam -> sgd\n/)
  assert.match(diff, /\n {2}flag\s+true -> -\n/)
  assert.not.match(diff, /\n {2}dropout\s/, 'an unchanged parameter is not listed')
})

// ---------------------------------------------------------------------------------------------
// Environment

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => {
    try {
      accessSync(path.join(d, name), constants.X_OK)
      return Boolean(d)
    } catch {
      return false
    }
  })
}

test('environment.json of a Python run: machine, node, ml, the interpreter `python3 --version` names, requirements.txt iff pip works; info and diff show it', async () => {
  const d = await project({'e.py': 'print("hello")\n', 'e.sh': 'echo hello\n'})
  const pyVersion = /^Python (\S+)/.exec(spawnSync('python3', ['--version'], {encoding: 'utf8'}).stdout.trim())?.[1]
  assert.ok(pyVersion, 'python3 --version prints a version')
  const pyExecutable = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], {encoding: 'utf8'}).stdout.trim()
  const pip = spawnSync('python3', ['-m', 'pip', '--version'], {encoding: 'utf8'})
  const pipWorks = pip.status === 0
  const mlVersion = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}).version

  ok(await ml(d, ['experiment', 'submit', 'e.py']))
  const [a] = await runs(d)
  const env = JSON.parse(recorded(d, a.runId, 'environment.json'))
  assert.equal(env.os, {platform: os.platform(), release: os.release(), type: os.type(), arch: os.arch()})
  assert.is(env.cpu.count, os.cpus().length)
  assert.is(env.cpu.model, os.cpus()[0].model.trim())
  assert.is(env.memoryBytes, os.totalmem())
  assert.is(env.hostname, os.hostname())
  assert.is(env.user, os.userInfo().username)
  assert.is(env.node, process.version)
  assert.is(env.ml, mlVersion)
  assert.is(env.interpreter.command, 'python3')
  assert.is(env.interpreter.version, pyVersion, 'the version python3 --version prints')
  assert.is(env.interpreter.executable, pyExecutable)
  if (onPath('nvidia-smi')) assert.ok(env.gpus === undefined || Array.isArray(env.gpus))
  else assert.is(env.gpus, undefined, 'no nvidia-smi on PATH: no gpus field')

  const files = shadowGit(d, ['ls-tree', '--name-only', `refs/ml/runs/${a.runId}`]).split('\n')
  assert.ok(files.includes('environment.json'))
  if (pipWorks) {
    assert.ok(files.includes('requirements.txt'), `pip works here (${pip.stdout.trim()}): requirements.txt is recorded`)
    const freeze = spawnSync('python3', ['-m', 'pip', 'freeze'], {cwd: d, encoding: 'utf8'}).stdout
    assert.is(recorded(d, a.runId, 'requirements.txt').trim(), freeze.trim(), 'what pip freeze prints')
  } else {
    assert.not.ok(files.includes('requirements.txt'), `pip does not work here (${pip.stderr.trim()}): no requirements.txt`)
  }

  // history info: one Environment line.
  const info = ok(await ml(d, ['history', 'info', a.runId])).stdout.split('\n')
  const line = info.find((l) => l.startsWith('Environment'))
  assert.ok(line, info.join('\n'))
  assert.ok(line.includes(`Python ${pyVersion}`), line)
  assert.ok(line.includes(`node ${process.version}`), line)
  assert.ok(line.includes(`${os.cpus().length} CPU`), line)

  // One package more (a dist-info on PYTHONPATH, which pip freeze lists): diff names it when pip works.
  const pkgs = dir('ml-exp-pkgs-')
  await write(pkgs, {'fakepkg_ml_test-1.2.3.dist-info/METADATA': 'Metadata-Version: 2.1\nName: fakepkg-ml-test\nVersion: 1.2.3\n'})
  ok(await ml(d, ['experiment', 'submit', 'e.py'], {PYTHONPATH: pkgs}))
  const [b] = await runs(d)
  const diff = ok(await ml(d, ['history', 'diff', a.runId, b.runId])).stdout
  const header = `Environment, ${a.runId} -> ${b.runId}:`
  if (pipWorks) {
    assert.ok(diff.includes(`${header}\n  + fakepkg-ml-test 1.2.3\n`), diff)
  } else {
    assert.not.ok(diff.includes(header), `nothing changed that ml records without pip: ${diff}`)
  }
  // Another interpreter: a bash run.
  ok(await ml(d, ['experiment', 'submit', 'e.sh']))
  const [c] = await runs(d)
  const bashEnv = JSON.parse(recorded(d, c.runId, 'environment.json'))
  assert.is(bashEnv.interpreter.command, 'bash')
  const toBash = ok(await ml(d, ['history', 'diff', a.runId, c.runId])).stdout
  assert.ok(toBash.includes(`Environment, ${a.runId} -> ${c.runId}:\n`), toBash)
  assert.match(toBash, new RegExp(`\\n {2}interpreter: Python ${pyVersion.replace(/\./g, '\\.')} -> bash \\d`))
})

// ---------------------------------------------------------------------------------------------
// Isolated runs

test('an isolated run reads its snapshot: an edit of the project while it runs changes nothing it reads; its workdir is removed after', async () => {
  const state = dir('ml-exp-state-')
  const d = await project({
    'config.txt': 'snapshot content v1\n',
    'iso.py': [
      'import os, pathlib, time',
      'state = pathlib.Path(os.environ["STATE"])',
      '(state / "started").write_text(os.environ["ML_RUN_ID"] + "\\n" + os.getcwd())',
      'for _ in range(2000):',
      '    if (state / "go").exists(): break',
      '    time.sleep(0.05)',
      'out = pathlib.Path(os.environ["ML_OUTPUTS_DIR"])',
      '(out / "seen.txt").write_text(open("config.txt").read())',
      '(out / "new-file-seen.txt").write_text(str(os.path.exists("added-later.txt")))',
      '',
    ].join('\n'),
  })
  const submit = start(d, ['experiment', 'submit', '--isolated', 'iso.py'], {STATE: state})
  try {
    const startedText = await until('the script to start', () => existsSync(path.join(state, 'started')) && readFileSync(path.join(state, 'started'), 'utf8'))
    const [runId, cwd] = startedText.split('\n')
    const workdir = path.join(d, '.ml', 'work', runId)
    assert.is(await fs.realpath(cwd), await fs.realpath(workdir), 'the script runs in .ml/work/<run-id>/')
    const running = byId(await runs(d), runId)
    assert.is(running.status, 'Running')
    assert.is(running.isolated, true)

    // The user edits the project meanwhile.
    await write(d, {'config.txt': 'edited while it ran v2\n', 'added-later.txt': 'new\n'})
    await fs.writeFile(path.join(state, 'go'), '')
    const r = ok(await submit.done)
    assert.match(r.stderr, new RegExp(`Run ${runId} Completed`))

    const run = byId(await runs(d), runId)
    assert.is(run.status, 'Completed')
    assert.equal(run.outputs.map((o) => o.path).sort(), ['new-file-seen.txt', 'seen.txt'])
    assert.is(recorded(d, runId, 'outputs/seen.txt'), 'snapshot content v1', 'the snapshot, not the edit')
    assert.is(recorded(d, runId, 'outputs/new-file-seen.txt'), 'False')
    assert.is(await fs.readFile(path.join(d, 'config.txt'), 'utf8'), 'edited while it ran v2\n', 'the edit itself is left alone')
    assert.not.ok(existsSync(path.join(d, 'outputs', 'seen.txt')), 'outputs come from the checkout, not the project folder')
    assert.not.ok(existsSync(workdir), 'the workdir is removed after the run')
    assert.not.ok(existsSync(path.join(d, '.ml', 'work')), '.ml/work/ too, once empty')
  } finally {
    kill(submit.child.pid)
  }
})

test('an isolated run reads ignored data through symlinks to the originals (never copied into the history); --keep-workdir keeps its checkout', async () => {
  const d = await project({
    'data/train.csv': 'a,b\n1,2\n3,4\n',
    'rd.py': [
      'import os, pathlib',
      'out = pathlib.Path(os.environ["ML_OUTPUTS_DIR"])',
      'rows = open("data/train.csv").read().strip().split("\\n")[1:]',
      '(out / "rows.txt").write_text(str(len(rows)))',
      '(out / "link.txt").write_text(str(os.path.islink("data")))',
      '',
    ].join('\n'),
  })
  await fs.appendFile(path.join(d, '.amlignore'), 'data/\n')
  ok(await ml(d, ['experiment', 'submit', '--isolated', '--keep-workdir', 'rd.py']))
  const [run] = await runs(d)
  assert.is(run.status, 'Completed')
  assert.is(recorded(d, run.runId, 'outputs/rows.txt'), '2', 'the data was read')
  assert.is(recorded(d, run.runId, 'outputs/link.txt'), 'True', 'through a symlink')

  const snapshotFiles = shadowGit(d, ['ls-tree', '-r', '--name-only', run.snapshotId]).split('\n')
  assert.ok(snapshotFiles.includes('rd.py'))
  assert.not.ok(snapshotFiles.some((f) => f.startsWith('data/')), `no data/ in the snapshot: ${snapshotFiles.join(' ')}`)
  const blob = git(d, ['hash-object', 'data/train.csv'])
  assert.throws(() => shadowGit(d, ['cat-file', '-e', blob]), undefined, 'the data file is nowhere in the history')

  const workdir = path.join(d, '.ml', 'work', run.runId)
  assert.ok(existsSync(path.join(workdir, 'rd.py')), '--keep-workdir keeps the checkout')
  assert.ok((await fs.lstat(path.join(workdir, 'data'))).isSymbolicLink())
  assert.is(await fs.readlink(path.join(workdir, 'data')), path.join(d, 'data'), 'linked to the original')
  assert.is(await fs.readFile(path.join(workdir, 'outputs', 'rows.txt'), 'utf8'), '2')
  assert.not.ok(existsSync(path.join(workdir, '.ml')), "ml's own folder is not linked into it")
})

/**
 * A project (a git repo) with a real submodule at vendor/lib, made by the git CLI from a repo of
 * its own at commit A (lib.txt "A", data/ ignored there, holding data.csv), committed in the
 * project; `read.sh` copies what the run sees of it into outputs/.
 */
async function submoduleProject(): Promise<{d: string; sub: string; a: string}> {
  const upstream = dir('ml-exp-lib-')
  await write(upstream, {'lib.txt': 'A\n', 'only-in-a.txt': 'a\n', '.gitignore': 'data/\n'})
  git(upstream, ['init', '-q'])
  git(upstream, ['add', '.'])
  git(upstream, ['commit', '-qm', 'A'])
  const d = await project({
    'read.sh': [
      'cat vendor/lib/lib.txt > outputs/lib.txt',
      'ls vendor/lib > outputs/files.txt',
      'cat vendor/lib/data/data.csv > outputs/data.txt 2>&1 || true',
      '[ -L vendor/lib ] && echo link > outputs/kind.txt || echo folder > outputs/kind.txt',
      '',
    ].join('\n'),
  })
  // A submodule from a local path: newer git allows the file transport for it only when asked.
  git(d, ['-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', upstream, 'vendor/lib'])
  git(d, ['add', '-A'])
  git(d, ['commit', '-qm', 'the lib as a submodule'])
  const sub = path.join(d, 'vendor', 'lib')
  await write(sub, {'data/data.csv': 'ignored data of the submodule\n'})
  return {d, sub, a: git(sub, ['rev-parse', 'HEAD'])}
}

/** Moves the submodule's checkout to a new commit B (lib.txt "B", only-in-a.txt removed); gives B. */
async function moveSubmodule(sub: string): Promise<string> {
  await write(sub, {'lib.txt': 'B\n', 'only-in-b.txt': 'b\n'})
  git(sub, ['rm', '-q', 'only-in-a.txt'])
  git(sub, ['add', '-A'])
  git(sub, ['commit', '-qm', 'B'])
  return git(sub, ['rev-parse', 'HEAD'])
}

test('a submodule in an isolated run is checked out at the snapshot\'s commit, not the folder\'s current one; its ignored data is linked; the folder\'s submodule is left as it was', async () => {
  const {d, sub, a} = await submoduleProject()
  ok(await ml(d, ['experiment', 'submit', '--queue', 'read.sh']))
  const [queued] = await runs(d)
  assert.is(shadowGit(d, ['ls-tree', queued.snapshotId, 'vendor/lib']), `160000 commit ${a}\tvendor/lib`, 'the snapshot holds the submodule as its commit A')
  const b = await moveSubmodule(sub)
  const statusBefore = git(sub, ['status', '--porcelain', '--ignored'])
  ok(await ml(d, ['queue', 'start']))
  const run = byId(await runs(d), queued.runId)
  assert.is(run.status, 'Completed', run.error)
  assert.is(recorded(d, run.runId, 'outputs/lib.txt'), 'A', 'the script sees commit A\'s files')
  assert.equal(recorded(d, run.runId, 'outputs/files.txt').split('\n'), ['data', 'lib.txt', 'only-in-a.txt'])
  assert.is(recorded(d, run.runId, 'outputs/kind.txt'), 'folder', 'a checkout of its own, not a link to the folder\'s')
  assert.is(recorded(d, run.runId, 'outputs/data.txt'), 'ignored data of the submodule', 'the submodule\'s ignored data is linked')
  // The user's submodule: still at B, its files and index untouched.
  assert.is(git(sub, ['rev-parse', 'HEAD']), b)
  assert.is(await fs.readFile(path.join(sub, 'lib.txt'), 'utf8'), 'B\n')
  assert.is(git(sub, ['status', '--porcelain', '--ignored']), statusBefore)
  assert.not.ok(existsSync(path.join(d, '.ml', 'work')), 'the checkout is removed')
})

test('a submodule taken out of the folder (`git submodule deinit`) is checked out from .git/modules/ at the snapshot\'s commit; a nested repo that lost the commit is linked to the folder\'s copy', async () => {
  const {d, sub, a} = await submoduleProject()
  // A plain nested repository too, whose commit is rewritten away after the snapshot.
  const other = path.join(d, 'other')
  await write(other, {'o.txt': 'first\n'})
  git(other, ['init', '-q'])
  git(other, ['add', '.'])
  git(other, ['commit', '-qm', 'first'])
  const first = git(other, ['rev-parse', 'HEAD'])
  await fs.appendFile(path.join(d, 'read.sh'), 'cat other/o.txt > outputs/other.txt\n[ -L other ] && echo link > outputs/other-kind.txt\n')
  ok(await ml(d, ['experiment', 'submit', '--queue', 'read.sh']))
  const [queued] = await runs(d)
  assert.is(shadowGit(d, ['ls-tree', queued.snapshotId, 'other']), `160000 commit ${first}\tother`)
  await moveSubmodule(sub)
  git(d, ['submodule', 'deinit', '-q', '-f', 'vendor/lib'])
  assert.equal(await fs.readdir(sub), [], 'deinit empties the folder')
  assert.ok(existsSync(path.join(d, '.git', 'modules', 'vendor', 'lib')), 'and keeps its git dir')
  await write(other, {'o.txt': 'amended\n'})
  git(other, ['commit', '-qa', '--amend', '-m', 'amended'])
  git(other, ['reflog', 'expire', '--expire=now', '--all'])
  git(other, ['gc', '-q', '--prune=now'])
  assert.throws(() => git(other, ['cat-file', '-e', first]), undefined, 'the first commit is gone')
  ok(await ml(d, ['queue', 'start']))
  const run = byId(await runs(d), queued.runId)
  assert.is(run.status, 'Completed', run.error)
  assert.is(recorded(d, run.runId, 'outputs/lib.txt'), 'A', `commit ${a} from .git/modules/vendor/lib`)
  assert.is(recorded(d, run.runId, 'outputs/other.txt'), 'amended', 'the folder\'s current files')
  assert.is(recorded(d, run.runId, 'outputs/other-kind.txt'), 'link')
})

// ---------------------------------------------------------------------------------------------
// Sweeps

test('sweep: a 2x3 grid with -j 3 runs each combination once, overlapping, from one snapshot, with one sweepId; list --sweep and compare --sweep', async () => {
  const state = dir('ml-exp-state-')
  const times = path.join(state, 'times')
  const d = await project({'ok.sh': 'true\n'})
  ok(await ml(d, ['experiment', 'submit', 'ok.sh']))
  const tipBefore = branchTip(d)
  // Written after that run, so the sweep's snapshot is a new one.
  await write(d, {
    'sw.py': [
      'import json, os, sys, time, pathlib',
      'times = os.environ["TIMES"]',
      'def mark(what):',
      '    with open(times, "a") as f: f.write(what + " " + repr(time.time()) + "\\n")',
      'mark("start")',
      'pathlib.Path(os.environ["ML_OUTPUTS_DIR"], "argv.json").write_text(json.dumps(sys.argv[1:], separators=(",", ":")))',
      '# Wait (at most 15 s) until a second run has started: runs that overlap end after it.',
      'for _ in range(300):',
      '    if open(times).read().count("start") >= 2: break',
      '    time.sleep(0.05)',
      'time.sleep(0.2)',
      'mark("end")',
      '',
    ].join('\n'),
  })
  const r = ok(await ml(d, ['experiment', 'sweep', '-j', '3', '--grid', 'lr=0.01,0.1', '--grid', 'bs=16,32,64', 'sw.py', '--epochs', '2'], {TIMES: times}))
  const sweepId = /Sweep (sweep_\d+_[0-9a-f]+): 6 runs, 3 at once/.exec(r.stderr)?.[1]
  assert.ok(sweepId, r.stderr)
  assert.match(r.stderr, /6 Completed/)

  const all = await runs(d)
  assert.is(all.length, 7)
  const sweep = all.filter((run) => run.sweepId === sweepId)
  assert.is(sweep.length, 6)
  const expected = ['0.01', '0.1'].flatMap((lr) => ['16', '32', '64'].map((bs) => JSON.stringify(['--epochs', '2', '--lr', lr, '--bs', bs])))
  assert.equal(sweep.map((run) => JSON.stringify(run.arguments)).sort(), expected.sort(), 'each combination exactly once')
  for (const run of sweep) {
    assert.is(run.status, 'Completed')
    assert.is(run.isolated, true)
    assert.is(recorded(d, run.runId, 'outputs/argv.json'), JSON.stringify(run.arguments), 'the script got them')
    const lr = Number(run.arguments[3])
    const bs = Number(run.arguments[5])
    assert.equal(run.params, {epochs: 2, lr, bs})
  }
  // One snapshot: one new commit on the history branch, which every run of the sweep has.
  const tipAfter = branchTip(d)
  assert.is(shadowGit(d, ['rev-list', '--count', `${tipBefore}..${tipAfter}`]), '1')
  assert.equal([...new Set(sweep.map((run) => run.snapshotId))], [tipAfter])

  // The runs overlapped: at some moment at least two scripts ran at once.
  const events = readFileSync(times, 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([what, t]) => ({what, t: Number(t)}))
  assert.is(events.filter((e) => e.what === 'start').length, 6)
  let now = 0
  let most = 0
  for (const e of events.sort((x, y) => x.t - y.t || (x.what === 'end' ? -1 : 1))) {
    now += e.what === 'start' ? 1 : -1
    most = Math.max(most, now)
  }
  assert.ok(most >= 2 && most <= 3, `at most -j 3 and at least 2 at once, not ${most}`)

  // list --sweep (a prefix will do) and compare --sweep.
  const listed = await runs(d, ['--sweep', sweepId.slice(0, -2)])
  assert.equal(listed.map((run) => run.runId).sort(), sweep.map((run) => run.runId).sort())
  const compare = ok(await ml(d, ['history', 'compare', '--sweep', sweepId])).stdout.split('\n')
  for (const run of sweep) assert.ok(compare[0].includes(run.runId), `column of ${run.runId}`)
  assert.ok(compare.some((l) => /^≠ param lr\s/.test(l)))
  assert.ok(compare.some((l) => /^≠ param bs\s/.test(l)))
  assert.ok(compare.some((l) => /^param epochs(\s+2){6}\s*$/.test(l)), 'the fixed argument is the same everywhere')
  const json = JSON.parse(ok(await ml(d, ['history', 'compare', '--sweep', sweepId, '-o', 'json'])).stdout) as {runs: Run[]}
  assert.is(json.runs.length, 6)
})

test('sweep canceled with SIGINT: exit 130, every run recorded Canceled, the running scripts got SIGINT (a checkpoint in outputs/), the rest "canceled before this run started"', async () => {
  const state = dir('ml-exp-state-')
  const d = await project({
    'ck.py': [
      'import os, sys, time, pathlib',
      'state = pathlib.Path(os.environ["STATE"])',
      '(state / ("started-" + os.environ["ML_RUN_ID"])).write_text(str(os.getpid()))',
      'trap = sys.argv[sys.argv.index("--mode") + 1] == "trap"',
      'try:',
      '    time.sleep(100)',
      'except KeyboardInterrupt:',
      '    if trap:',
      '        pathlib.Path(os.environ["ML_OUTPUTS_DIR"], "checkpoint.txt").write_text("saved on SIGINT")',
      '    raise',
      '',
    ].join('\n'),
  })
  // (i=1, trap), (i=1, plain) start first; (i=2, ...) wait for a free slot.
  const sweep = start(d, ['experiment', 'sweep', '-j', '2', '--grid', 'i=1,2', '--grid', 'mode=trap,plain', 'ck.py'], {STATE: state})
  try {
    const ids = await until('two scripts to start', () => {
      const names = readdirSync(state).filter((n) => n.startsWith('started-'))
      return names.length >= 2 && names.map((n) => n.slice('started-'.length))
    })
    assert.is(ids.length, 2)
    const before = await runs(d)
    for (const id of ids) assert.is(byId(before, id).status, 'Running')
    const pids = ids.map((id) => Number(readFileSync(path.join(state, `started-${id}`), 'utf8')))

    sweep.child.kill('SIGINT')
    const r = await sweep.done
    assert.is(r.code, 130, r.stderr)
    assert.match(r.stderr, /Canceling the sweep/)
    for (const pid of pids) assert.not.ok(alive(pid), 'the script is gone')

    const all = await runs(d)
    assert.is(all.length, 4, 'every planned run is recorded')
    const sweepIds = new Set(all.map((run) => run.sweepId))
    assert.is(sweepIds.size, 1)
    assert.ok([...sweepIds][0]?.startsWith('sweep_'))
    for (const run of all) assert.is(run.status, 'Canceled', `${run.runId} ${run.arguments.join(' ')}`)
    const ran = all.filter((run) => ids.includes(run.runId))
    const notStarted = all.filter((run) => !ids.includes(run.runId))
    assert.equal(ran.map((run) => run.arguments.join(' ')).sort(), ['--i 1 --mode plain', '--i 1 --mode trap'])
    assert.equal(notStarted.map((run) => run.arguments.join(' ')).sort(), ['--i 2 --mode plain', '--i 2 --mode trap'])
    for (const run of notStarted) assert.is(run.error, 'The sweep was canceled before this run started.')
    const trapped = ran.find((run) => run.arguments.includes('trap'))!
    assert.equal(trapped.outputs.map((o) => o.path), ['checkpoint.txt'], 'SIGINT reached the script, which saved a checkpoint')
    assert.is(recorded(d, trapped.runId, 'outputs/checkpoint.txt'), 'saved on SIGINT')
    assert.not.ok(existsSync(path.join(d, '.ml', 'work')), 'no workdir is left behind')
  } finally {
    kill(sweep.child.pid)
  }
})

test('sweep arguments: a malformed --grid/--range is INVALID_ARGUMENT naming the bad part; over 1000 runs without --yes is CONFIRMATION_REQUIRED; nothing is recorded or snapshotted', async () => {
  const d = await project({'s.py': 'print("never runs")\n'})
  ok(await ml(d, ['project', 'snapshot', '-q']))
  await write(d, {'changed.txt': 'a change that a snapshot would record\n'})
  const refs = shadowRefs(d)
  const bad: Array<[string[], string]> = [
    [['--grid', 'lr'], '--grid "lr": it has no "="'],
    [['--grid', 'lr=0.1,,0.3'], '--grid "lr=0.1,,0.3": value 2 is empty'],
    [['--grid', '=1,2'], '--grid "=1,2": the name before "=" is empty'],
    [['--grid', 'lr=0.1,0.1'], 'value 2 (0.1) repeats value 1'],
    [['--random', '2', '--range', 'lr=1:0.1'], '--range "lr=1:0.1": the low end 1 is not below the high end 0.1'],
    [['--random', '2', '--range', 'lr=a:1'], 'the low end "a" is not a finite number'],
    [['--random', '2', '--range', 'lr=0:1:log'], 'a log range needs a low end above 0, not 0'],
    [['--random', '2', '--range', 'lr=0.1:1:lin'], 'the third part "lin" can only be "log"'],
    [['--range', 'lr=0.1:1'], '--range "lr" needs --random N'],
    [['-j', '0', '--grid', 'lr=1,2'], '-j 0'],
  ]
  for (const [args, part] of bad) {
    const r = await ml(d, ['experiment', 'sweep', ...args, 's.py'])
    assert.is(errorCode(r), 'INVALID_ARGUMENT', `${args.join(' ')}: ${r.stderr}`)
    assert.ok(r.stderr.includes(part), `${args.join(' ')}: "${part}" in ${r.stderr}`)
    assert.is(r.code, 1)
  }
  // 7 x 11 x 13 = 1001 runs.
  const values = (n: number) => Array.from({length: n}, (_, i) => i + 1).join(',')
  const big = ['--grid', `a=${values(7)}`, '--grid', `b=${values(11)}`, '--grid', `c=${values(13)}`]
  // --queue first: were the check missing, those would only record runs, not start 1001 of them.
  for (const args of [[...big, '--queue'], ['--random', '1001', '--range', 'lr=0:1', '--queue'], big, ['--random', '1001', '--range', 'lr=0:1']]) {
    const r = await ml(d, ['experiment', 'sweep', ...args, 's.py'])
    assert.is(errorCode(r), 'CONFIRMATION_REQUIRED', `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /1001 runs/)
    assert.match(r.stderr, /--yes/)
  }
  assert.is(shadowRefs(d), refs, 'no run ref, no snapshot')
})

test('sweep --random with --seed: the same seed draws the same values, within the ranges (log too), recorded as ml.sweep.seed; --queue records them Queued and `queue start` runs them', async () => {
  const d = await project({'rn.py': 'import sys\nprint(sys.argv[1:])\n'})
  const spec = ['--random', '3', '--seed', '7', '--range', 'lr=0.0001:0.1:log', '--range', 'drop=0:0.5', '--grid', 'opt=adam,sgd']
  const first = ok(await ml(d, ['experiment', 'sweep', '--queue', ...spec, 'rn.py']))
  assert.match(first.stderr, /3 runs, queued/)
  const second = ok(await ml(d, ['experiment', 'sweep', '--queue', ...spec, 'rn.py']))
  const idOf = (r: Result) => /Sweep (sweep_\d+_[0-9a-f]+):/.exec(r.stderr)![1]
  const [a, b] = [idOf(first), idOf(second)]
  const all = await runs(d)
  assert.is(all.length, 6)
  for (const run of all) assert.is(run.status, 'Queued')
  const argsOf = (id: string) => all.filter((run) => run.sweepId === id).map((run) => JSON.stringify(run.arguments)).sort()
  assert.equal(argsOf(a), argsOf(b), 'the same seed, the same draws')
  for (const run of all) {
    assert.is(run.properties['ml.sweep.seed'], '7')
    const {lr, drop, opt} = run.params as {lr: number; drop: number; opt: string}
    assert.ok(lr >= 0.0001 && lr <= 0.1, `lr ${lr}`)
    assert.ok(drop >= 0 && drop <= 0.5, `drop ${drop}`)
    assert.ok(opt === 'adam' || opt === 'sgd', opt)
    assert.equal(run.arguments, ['--opt', opt, '--lr', String(lr), '--drop', String(drop)], 'grid axes first, then ranges')
  }
  // The second sweep off the queue; the first one run by a worker in the foreground.
  const removed = ok(await ml(d, ['queue', 'remove', ...all.filter((run) => run.sweepId === b).map((run) => run.runId)]))
  assert.is(removed.stdout.trim().split('\n').length, 3)
  const worker = ok(await ml(d, ['queue', 'start', '-j', '3']))
  assert.match(worker.stderr, /ran 3 runs/)
  const after = await runs(d)
  for (const run of after) {
    assert.is(run.status, run.sweepId === a ? 'Completed' : 'Canceled', `${run.runId} of ${run.sweepId}`)
  }
  const ranList = await runs(d, ['--sweep', a])
  assert.is(ranList.length, 3)
  for (const run of ranList) assert.match(recorded(d, run.runId, 'output.log'), new RegExp(`'--lr', '${run.params!.lr}'`))
})

/** A project holding QUEUE_SCRIPT with a run `--n N` queued for each of `ns`, its state folder, and the run id of each N. */
async function queueProject(ns: string[] = []): Promise<{state: string; d: string; env: {STATE: string}; ids: Record<string, string>}> {
  const state = dir('ml-exp-state-')
  const d = await project({'q.py': QUEUE_SCRIPT})
  for (const n of ns) ok(await ml(d, ['experiment', 'submit', '--queue', 'q.py', '--n', n]))
  const ids = Object.fromEntries((await runs(d)).map((run) => [run.arguments[1], run.runId]))
  return {state, d, env: {STATE: state}, ids}
}

// ---------------------------------------------------------------------------------------------
// The queue

test('queue: a detached worker runs 2 queued runs at once, a run queued while it works, and exits on its own when the queue is empty', async () => {
  const {state, d, env} = await queueProject(['1', '2'])
  const queued = await runs(d)
  assert.equal(queued.map((run) => run.status), ['Queued', 'Queued'])
  assert.not.ok(started(state, '1') || started(state, '2'), 'nothing runs before a worker starts')
  let pid: number | undefined
  try {
    pid = await detachWorker(d, ['-j', '2'], env)
    await until('both runs to start', () => started(state, '1') && started(state, '2'))
    let status = await queueStatus(d)
    assert.is(status.worker?.pid, pid)
    assert.is(status.worker?.jobs, 2)
    assert.equal(status.running.map((run) => run.runId).sort(), queued.map((run) => run.runId).sort())
    assert.is(status.queued.length, 0)

    // Queued while the worker runs.
    ok(await ml(d, ['experiment', 'submit', '--queue', 'q.py', '--n', '3']))
    status = await queueStatus(d)
    assert.is(status.queued.length, 1, 'both slots are busy: the new run waits')
    assert.equal(status.queued[0].arguments, ['--n', '3'])
    await fs.writeFile(path.join(state, 'go-all'), '')

    await workerExit(d, pid, 'the worker to exit on its own once the queue is empty')
    const all = await runs(d)
    assert.is(all.length, 3)
    for (const run of all) {
      assert.is(run.status, 'Completed', `${run.runId}: ${run.error ?? ''}`)
      assert.is(run.isolated, true)
      assert.is(recorded(d, run.runId, 'outputs/done.txt'), run.arguments[1])
    }
    status = await queueStatus(d)
    assert.equal(status, {worker: null, running: [], queued: []})
    const table = await ml(d, ['queue', 'status'])
    assert.match(table.stderr, /No queue worker runs/)
    const log = await fs.readFile(path.join(d, '.ml', 'queue', 'worker.log'), 'utf8')
    for (const run of all) assert.ok(log.includes(`Run ${run.runId} Completed`), log)
    assert.match(log, /ran 3 runs; the queue is empty/)
  } finally {
    kill(pid)
  }
})

test('queue start --watch: a detached worker runs what is queued after it started, stays idle without warnings (12 s, a dozen polls), and ends on `queue stop`', async () => {
  const {state, d, env} = await queueProject()
  await fs.writeFile(path.join(state, 'go-all'), '')
  let pid: number | undefined
  try {
    pid = await detachWorker(d, ['--watch'], env)
    ok(await ml(d, ['experiment', 'submit', '--queue', 'q.py', '--n', '1']))
    const [queued] = await runs(d)
    await until('the watching worker to run it', async () => byId(await runs(d), queued.runId).status === 'Completed', 60_000, 500)
    assert.ok(alive(pid), 'a watching worker waits for more')
    // Idle: it looks for new runs every second. That must not pile anything up.
    await sleep(12_000)
    const log = await fs.readFile(path.join(d, '.ml', 'queue', 'worker.log'), 'utf8')
    assert.not.match(log, /Warning/, `an idle worker's log stays clean:\n${log}`)
    assert.is((await queueStatus(d)).worker?.pid, pid)
    ok(await ml(d, ['queue', 'stop']))
    await workerExit(d, pid, 'the idle watching worker to end on `queue stop`')
    assert.is((await queueStatus(d)).worker, null)
  } finally {
    kill(pid)
  }
})

test('queue: a second `queue start` while a worker runs is QUEUE_WORKER_RUNNING naming its pid, with and without --detach', async () => {
  const {state, d, env} = await queueProject(['1', '2'])
  let pid: number | undefined
  try {
    pid = await detachWorker(d, ['-j', '1'], env)
    await until('the first run to start', () => started(state, '1'))
    for (const args of [['queue', 'start'], ['queue', 'start', '--detach'], ['queue', 'start', '-j', '4', '--watch']]) {
      const r = await ml(d, args, env)
      assert.is(errorCode(r), 'QUEUE_WORKER_RUNNING', `${args.join(' ')}: ${r.stdout}${r.stderr}`)
      assert.ok(r.stderr.includes(`ml process ${pid}`), r.stderr)
      assert.is(r.code, 1)
    }
    const status = await queueStatus(d)
    assert.is(status.worker?.pid, pid, 'the first worker is still the one')
    assert.is(status.queued.length, 1, 'no second worker took the queued run')
    assert.not.ok(started(state, '2'))
    await fs.writeFile(path.join(state, 'go-all'), '')
    await workerExit(d, pid, 'the worker to exit once the queue is empty')
    assert.equal((await runs(d)).map((run) => run.status), ['Completed', 'Completed'])
  } finally {
    kill(pid)
  }
})

test('queue: a worker killed with SIGKILL leaves its running run Failed (the ml process ended) and the rest Queued; a new `queue start` runs them', async () => {
  const {state, d, env, ids} = await queueProject(['1', '2', '3'])
  let pid: number | undefined
  try {
    const printed = await detachWorker(d, ['-j', '1'], env)
    const status = await queueStatus(d)
    pid = status.worker?.pid
    assert.is(pid, printed)
    assert.ok(pid)
    const first = await until('a run to start', () => readdirSync(state).find((n) => n.startsWith('started-')))
    assert.is(first, 'started-1', 'the oldest run first')
    const scriptPid = started(state, '1')!
    assert.not.ok(started(state, '2') || started(state, '3'), 'one at a time')
    const running = await queueStatus(d)
    assert.equal(running.running.map((run) => run.runId), [ids['1']])
    assert.equal(running.queued.map((run) => run.runId), [ids['2'], ids['3']], 'oldest first')

    process.kill(pid, 'SIGKILL')
    await workerExit(d, pid, 'the killed worker to be gone')
    // Its script was in a process group of its own, so it outlives the worker: end it.
    kill(-scriptPid)

    const all = await runs(d)
    const killed = byId(all, ids['1'])
    assert.is(killed.status, 'Failed')
    assert.match(killed.error ?? '', new RegExp(`ml process \\(pid ${pid}\\) ended before the run did`))
    assert.is(byId(all, ids['2']).status, 'Queued')
    assert.is(byId(all, ids['3']).status, 'Queued')
    const after = await queueStatus(d)
    assert.is(after.worker, null, 'a killed worker is no worker')
    assert.equal(after.running, [])
    assert.equal(after.queued.map((run) => run.runId), [ids['2'], ids['3']])

    await fs.writeFile(path.join(state, 'go-all'), '')
    const r = ok(await ml(d, ['queue', 'start', '-j', '2'], env))
    assert.match(r.stderr, /ran 2 runs/)
    const end = await runs(d)
    assert.is(byId(end, ids['1']).status, 'Failed', 'a failed run is not run again')
    assert.is(byId(end, ids['2']).status, 'Completed')
    assert.is(byId(end, ids['3']).status, 'Completed')
  } finally {
    kill(pid)
  }
})

test('queue remove: a queued run becomes Canceled and is never run; a run that is not queued is RUN_NOT_QUEUED and nothing changes, also beside a queued one', async () => {
  const d = await project({'r.py': 'import os, pathlib\npathlib.Path(os.environ["ML_OUTPUTS_DIR"], "ran.txt").write_text("yes")\n'})
  ok(await ml(d, ['experiment', 'submit', '--queue', 'r.py', '--n', 'a']))
  ok(await ml(d, ['experiment', 'submit', '--queue', 'r.py', '--n', 'b']))
  ok(await ml(d, ['experiment', 'submit', 'r.py', '--n', 'c']))
  const ids = Object.fromEntries((await runs(d)).map((run) => [run.arguments[1], run.runId]))
  assert.is(byId(await runs(d), ids.c).status, 'Completed')

  const removed = ok(await ml(d, ['queue', 'remove', ids.a]))
  assert.match(removed.stdout, new RegExp(`Removed ${ids.a} from the queue`))
  let all = await runs(d)
  assert.is(byId(all, ids.a).status, 'Canceled')
  assert.match(byId(all, ids.a).error ?? '', /Removed from the queue/)
  assert.is(byId(all, ids.b).status, 'Queued')

  const refs = shadowRefs(d)
  for (const args of [[ids.c], [ids.b, ids.c], [ids.a]]) {
    const r = await ml(d, ['queue', 'remove', ...args])
    assert.is(errorCode(r), 'RUN_NOT_QUEUED', `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /nothing was changed/)
    assert.is(shadowRefs(d), refs, `queue remove ${args.join(' ')} changed nothing`)
  }
  all = await runs(d)
  assert.is(byId(all, ids.b).status, 'Queued', 'the queued one named beside a completed one stays queued')

  const r = ok(await ml(d, ['queue', 'start']))
  assert.match(r.stderr, /ran 1 run\b/)
  all = await runs(d)
  assert.is(byId(all, ids.a).status, 'Canceled', 'a removed run is never run')
  assert.equal(byId(all, ids.a).outputs, [])
  assert.is(byId(all, ids.b).status, 'Completed')
})

test('queue stop: the worker finishes its running run, starts no more and exits; QUEUE_NOT_RUNNING without a worker', async () => {
  const {state, d, env} = await queueProject()
  let r = await ml(d, ['queue', 'stop'])
  assert.is(errorCode(r), 'QUEUE_NOT_RUNNING', r.stderr)
  assert.is(r.code, 1)
  r = await ml(d, ['queue', 'stop', '--now'])
  assert.is(errorCode(r), 'QUEUE_NOT_RUNNING', r.stderr)
  ok(await ml(d, ['experiment', 'submit', '--queue', 'q.py', '--n', '1']))
  ok(await ml(d, ['experiment', 'submit', '--queue', 'q.py', '--n', '2']))
  const ids = Object.fromEntries((await runs(d)).map((run) => [run.arguments[1], run.runId]))
  let pid: number | undefined
  try {
    pid = await detachWorker(d, ['-j', '1'], env)
    await until('run 1 to start', () => started(state, '1'))
    r = ok(await ml(d, ['queue', 'stop']))
    assert.match(r.stdout, new RegExp(`ml process ${pid}\\) to stop after its 1 running run`))
    // It does not end before its run has: the run is still Running, the worker still there.
    const during = await queueStatus(d)
    assert.is(during.worker?.pid, pid)
    assert.equal(during.running.map((run) => run.runId), [ids['1']])
    await go(state, '1')
    await workerExit(d, pid, 'the stopped worker to exit once its run has ended')
    const all = await runs(d)
    assert.is(byId(all, ids['1']).status, 'Completed', 'the running run finished')
    assert.is(byId(all, ids['2']).status, 'Queued', 'no run started after stop')
    assert.not.ok(started(state, '2'))
    r = await ml(d, ['queue', 'stop'])
    assert.is(errorCode(r), 'QUEUE_NOT_RUNNING', 'the worker is gone')
  } finally {
    kill(pid)
  }
})

test('queue stop --now: the running run is canceled (its script gets SIGINT) and recorded Canceled, the worker exits, queued runs stay queued', async () => {
  const {state, d, env, ids} = await queueProject(['1', '2'])
  let pid: number | undefined
  try {
    pid = await detachWorker(d, ['-j', '1'], env)
    await until('run 1 to start', () => started(state, '1'))
    const r = ok(await ml(d, ['queue', 'stop', '--now']))
    assert.match(r.stdout, new RegExp(`ml process ${pid}\\) to cancel its 1 running run`))
    await until('the script to get SIGINT', () => existsSync(path.join(state, 'interrupted-1')))
    await workerExit(d, pid, 'the worker to exit once its canceled run has ended')
    const all = await runs(d)
    assert.is(byId(all, ids['1']).status, 'Canceled')
    assert.is(byId(all, ids['2']).status, 'Queued')
    assert.not.ok(started(state, '2'))
    const status = await queueStatus(d)
    assert.is(status.worker, null)
    assert.equal(status.queued.map((run) => run.runId), [ids['2']])
  } finally {
    kill(pid)
  }
})

test.run()
