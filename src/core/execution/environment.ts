import {type ChildProcessByStdio, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {constants as fsConstants, promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {Readable} from 'node:stream'
import type {RunEnvironment, RunGpu} from '../trust/run-environment.js'
import {MAX_GPUS} from '../trust/environment-limits.js'
import {cap, CONDA_FILE, isPython, REQUIREMENTS_FILE} from '../runs/run-environment.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {findOnPath, readStart} from './executor.js'



export interface CollectedEnvironment {
  environment: RunEnvironment
  /** Files to keep in the run's record beside environment.json: requirements.txt, conda.txt. */
  files: Array<{path: string; data: string}>
}

export interface CollectEnvironmentOptions {
  /** The script, relative to `cwd`: a script run directly names its interpreter in its #! line. */
  script: string
  /** What ml runs, as `startableCommand` gives it: its program is the interpreter asked. */
  command: [string, string[]]
  /** The run's environment: its PATH finds the same python3 (and conda) that the script gets. */
  env: NodeJS.ProcessEnv
  /** The project folder: tools that pick a version by folder (pyenv) pick the run's. */
  cwd: string
  mlVersion: string
  /** How long each tool may take before it is killed and left out (15 s). */
  timeoutMs?: number
  /** Aborting kills every tool still running; what they would have told is left out. */
  signal?: AbortSignal
  /**
   * Where the last `pip freeze` is kept with the state of the folders it read: a run whose
   * interpreter and package folders are unchanged (the usual case) reuses it instead of
   * spending a second of CPU on pip.
   */
  pipCache?: string
}

const DEFAULT_TIMEOUT_MS = 15_000
/** More output than this from one tool is not a version or a package list: it is left out. */
const MAX_TOOL_OUTPUT = 8 << 20

/**
 * Python's version and sys.executable in one start. The project folder (sys.path[0] for -c) is
 * dropped first, so that a module of the project named like one of the standard library's is
 * never run by the probe.
 */
const PYTHON_PROBE = [
  'import sys',
  "if sys.path and sys.path[0] in ('', '.'): del sys.path[0]",
  'import json, os',
  'def mtime(p):',
  '    try: return os.stat(p).st_mtime_ns',
  '    except OSError: return None',
  "print(json.dumps({'version': sys.version.split()[0], 'executable': sys.executable, 'paths': [[p, mtime(p)] for p in sys.path]}))",
].join('\n')

/**
 * Where a run runs: the machine, the interpreter the script is run with, GPUs, and the installed
 * packages. Every tool is asked at once, each in a process group of its own that is killed when
 * it takes longer than `timeoutMs`; a missing, failing or slow tool is left out, never an error.
 * Nothing here waits synchronously, so that a submit can start it beside the script and take the
 * result when the script ends.
 */
export async function collectEnvironment(options: CollectEnvironmentOptions): Promise<CollectedEnvironment> {
  const run: ProbeOptions = {cwd: options.cwd, env: options.env, timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, signal: options.signal}
  const interpreter = await interpreterOf(options)
  const resolved = interpreter ? await resolveCommand(interpreter, run) : null
  const python = interpreter && isPython(interpreter) ? resolved : null
  const condaPrefix = options.env.CONDA_PREFIX || undefined
  const described = interpreter ? describeInterpreter(interpreter, resolved, run) : Promise.resolve(undefined)
  const [interpreterInfo, requirements, gpus, condaList] = await Promise.all([
    described.then((d) => d?.info),
    python ? described.then((d) => pipFreeze(python, d?.pathsStamp, run, options.pipCache)) : null,
    listGpus(run),
    condaPrefix ? listConda(condaPrefix, run) : null,
  ])
  const environment: RunEnvironment = {
    schema: 1,
    ...machine(options.env),
    node: cap(process.version),
    ml: cap(options.mlVersion),
  }
  if (interpreterInfo) environment.interpreter = interpreterInfo
  if (gpus) environment.gpus = gpus
  if (condaPrefix) environment.conda = {prefix: cap(condaPrefix)}
  const files: CollectedEnvironment['files'] = []
  if (requirements !== null) files.push({path: REQUIREMENTS_FILE, data: requirements})
  if (condaList) files.push({path: CONDA_FILE, data: condaList.stdout})
  return {environment, files}
}

/** The operating system, CPUs, memory and user, from Node itself: nothing to spawn. */
function machine(env: NodeJS.ProcessEnv): Pick<RunEnvironment, 'os' | 'cpu' | 'memoryBytes' | 'hostname' | 'user'> {
  const cpus = os.cpus()
  let user: string
  try {
    user = os.userInfo().username
  } catch {
    // A uid with no passwd entry (a container's arbitrary user) has no name but what the shell says.
    user = env.USER ?? env.LOGNAME ?? ''
  }
  return {
    os: {platform: os.platform(), release: cap(os.release()), type: cap(os.type()), arch: os.arch()},
    cpu: {count: cpus.length, model: cap(cpus[0]?.model.trim() ?? '')},
    memoryBytes: os.totalmem(),
    hostname: cap(os.hostname()),
    user: cap(user),
  }
}

/**
 * The program that interprets the script. A script run directly is never asked for its
 * `--version` (that would start the run a second time): its #! line names its interpreter.
 */
async function interpreterOf(options: CollectEnvironmentOptions): Promise<string | null> {
  const [command] = options.command
  const script = path.resolve(options.cwd, options.script)
  if (path.resolve(options.cwd, command) !== script) return command
  // The first bytes of the script, or nothing if it cannot be read (collecting never fails).
  const start = await readStart(script).catch(() => '')
  const line = /^#!(.*)/.exec(start.split('\n')[0])
  if (!line) return null
  const [program, ...rest] = line[1].trim().split(/\s+/)
  if (!program) return null
  // `#!/usr/bin/env [-S] [VAR=value] python3 -u`: the first word that is neither an option nor a setting.
  if (path.basename(program) === 'env') return rest.find((word) => !word.startsWith('-') && !word.includes('=')) ?? null
  return program
}


/**
 * The interpreter's version: Python's and its sys.executable, ml's own node's, or another's
 * `--version`. For Python also a stamp of its sys.path folders, which change when a package is
 * installed or removed.
 */
async function describeInterpreter(command: string, resolved: string | null, run: ProbeOptions): Promise<{info: NonNullable<RunEnvironment['interpreter']>; pathsStamp?: string}> {
  const info: NonNullable<RunEnvironment['interpreter']> = {command: cap(command)}
  let pathsStamp: string | undefined
  if (!resolved) return {info}
  info.path = cap(resolved)
  if (resolved === process.execPath) {
    info.version = process.version
    info.executable = cap(process.execPath)
  } else if (isPython(command)) {
    const result = await probe(resolved, ['-c', PYTHON_PROBE], run)
    const reported = result && parseLastJsonLine(result.stdout)
    if (typeof reported?.version === 'string') info.version = cap(reported.version)
    if (typeof reported?.executable === 'string' && reported.executable) info.executable = cap(reported.executable)
    if (Array.isArray(reported?.paths)) pathsStamp = JSON.stringify([resolved, reported.executable, reported.paths])
  } else {
    const result = await probe(resolved, ['--version'], run)
    // Some print it on stderr (R before 4.0).
    const line = result && firstLine(result.stdout || result.stderr)
    if (line) info.version = cap(line)
  }
  return {info, pathsStamp}
}

/**
 * `pip freeze` of `python`, or null when pip does not work. Kept in `cache` with the stamp of
 * the interpreter's sys.path folders, and reused while the stamp is the same.
 */
async function pipFreeze(python: string, stamp: string | undefined, run: ProbeOptions, cache?: string): Promise<string | null> {
  const key = stamp && createHash('sha256').update(stamp).digest('hex')
  if (key && cache) {
    const kept = await readCache(cache)
    if (kept?.key === key && typeof kept.requirements === 'string') return kept.requirements
  }
  const result = await probe(python, ['-m', 'pip', 'freeze'], {...run, env: {...run.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1'}})
  if (!result) return null
  if (key && cache) await writeAtomically(cache, JSON.stringify({key, requirements: result.stdout}), {sync: false})
  return result.stdout
}

/** The pip cache's content; null when there is none or it is damaged (it is then written again). */
async function readCache(file: string): Promise<{key?: unknown; requirements?: unknown} | null> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  try {
    return JSON.parse(text) as {key?: unknown; requirements?: unknown}
  } catch {
    return null
  }
}

/** `command` as a path: found on the run's PATH, or relative to the project if it names a folder; null if it is not there. */
async function resolveCommand(command: string, run: ProbeOptions): Promise<string | null> {
  if (!command.includes('/')) return findOnPath(command, run.env.PATH)
  const file = path.resolve(run.cwd, command)
  return (await fs.access(file, fsConstants.X_OK).then(() => true, () => false)) ? file : null
}

async function listGpus(run: ProbeOptions): Promise<RunGpu[] | undefined> {
  const smi = await findOnPath('nvidia-smi', run.env.PATH)
  if (!smi) return undefined
  const result = await probe(smi, ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], run)
  const gpus = result ? parseGpus(result.stdout) : []
  return gpus.length > 0 ? gpus : undefined
}

/** `name, memory.total, driver_version` lines; a name with a comma in it keeps it. */
function parseGpus(csv: string): RunGpu[] {
  const gpus: RunGpu[] = []
  for (const line of csv.split('\n')) {
    const fields = line.split(',').map((field) => field.trim())
    if (fields.length < 3 || !fields[0]) continue
    const [memoryTotal, driverVersion] = fields.slice(-2)
    gpus.push({name: cap(fields.slice(0, -2).join(', ')), memoryTotal: cap(memoryTotal), driverVersion: cap(driverVersion)})
  }
  return gpus.slice(0, MAX_GPUS)
}

/**
 * `conda list --export` of the active environment. conda is often a shell function, so the
 * executable is CONDA_EXE, which `conda activate` sets, before any conda on PATH.
 */
async function listConda(prefix: string, run: ProbeOptions): Promise<ProbeResult | null> {
  const exe = run.env.CONDA_EXE
  const conda = exe && path.isAbsolute(exe) ? exe : await findOnPath('conda', run.env.PATH)
  if (!conda) return null
  return probe(conda, ['list', '--export', '--prefix', prefix], run)
}

interface ProbeOptions {
  cwd: string
  env: NodeJS.ProcessEnv
  timeoutMs: number
  signal?: AbortSignal
}

interface ProbeResult {
  stdout: string
  stderr: string
}

/**
 * Runs a tool to its end: its output if it exits 0, null if it cannot start, fails, or outlives
 * `timeoutMs` or the signal. The tool gets a process group of its own, so that a tool that is
 * killed takes whatever it started with it and no pipe is left open behind it.
 */
function probe(file: string, args: string[], options: ProbeOptions): Promise<ProbeResult | null> {
  if (options.signal?.aborted) return Promise.resolve(null)
  return new Promise((resolve) => {
    let child: ChildProcessByStdio<null, Readable, Readable>
    try {
      child = spawn(file, args, {cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
    } catch {
      // An argument spawn refuses outright (a NUL in the environment): the tool is left out too.
      resolve(null)
      return
    }
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    let size = 0
    let done = false
    const finish = (result: ProbeResult | null) => {
      if (done) return
      done = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', stop)
      resolve(result)
    }
    function stop() {
      try {
        // Without a pid the tool never started: there is no group to kill.
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
      child.stdout.destroy()
      child.stderr.destroy()
      finish(null)
    }
    const timer = setTimeout(stop, options.timeoutMs)
    options.signal?.addEventListener('abort', stop, {once: true})
    const keep = (chunks: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_TOOL_OUTPUT) stop()
      else chunks.push(chunk)
    }
    child.stdout.on('data', keep(stdout))
    child.stderr.on('data', keep(stderr))
    child.on('error', () => finish(null))
    child.on('close', (code) => finish(code === 0 ? {stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8')} : null))
  })
}

function parseLastJsonLine(text: string): Record<string, unknown> | null {
  const line = text.trim().split('\n').pop() ?? ''
  try {
    const value: unknown = JSON.parse(line)
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : null
  } catch {
    return null
  }
}

function firstLine(text: string): string {
  return text.split('\n').map((line) => line.trim()).find(Boolean) ?? ''
}


