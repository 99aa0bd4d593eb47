import {spawn} from 'node:child_process'
import {constants as fsConstants, createWriteStream, promises as fs} from 'node:fs'
import path from 'node:path'
import {MlError} from '../../shared/errors.js'
import {commandFor, INTERPRETERS} from '../runs/script-command.js'

export type OutputStream = 'stdout' | 'stderr'

export interface ExecuteOptions {
  /** The folder the script runs in (the project root). */
  cwd: string
  /** The program and its arguments, as `commandFor` gives them, followed by the script's own. */
  command: [string, string[]]
  env: NodeJS.ProcessEnv
  /** Where the combined output is saved as it comes. */
  logFile: string
  /** Aborting cancels the script: SIGINT, then SIGTERM and SIGKILL if its process group lives on. */
  signal?: AbortSignal
  termAfterMs?: number
  killAfterMs?: number
  onOutput?: (chunk: Buffer, stream: OutputStream) => void
  /** Called once the script's process has been started. */
  onSpawn?: () => void
}

export interface ExecuteResult {
  exitCode: number | null
  signal: NodeJS.Signals | null
  canceled: boolean
  /** Set when the script could not be started at all. */
  startError?: string
}

const INSTALL_HINTS: Record<string, string> = {
  python3: 'install Python 3',
  Rscript: 'install R (r-base)',
  julia: 'install Julia',
  jupyter: 'install Jupyter (pip install jupyter nbconvert) to run notebooks',
}

/**
 * The command that runs `script` (relative to `cwd`), checked to be startable with the PATH of
 * `env`, the environment the script gets: so that a script that cannot start is an error before
 * anything is snapshotted or recorded, not a failed run.
 */
export async function startableCommand(cwd: string, script: string, env: NodeJS.ProcessEnv, nodePath: string): Promise<[string, string[]]> {
  const [command, args] = commandFor(script, nodePath)
  if (command === nodePath) return [command, args]
  if (args.length > 0) {
    if (!(await findOnPath(command, env.PATH))) {
      throw new MlError('INTERPRETER_NOT_FOUND', `${command}, which runs ${path.extname(script)} scripts, is not on the PATH; ${INSTALL_HINTS[command] ?? `install ${command}`}, or add its folder to PATH.`)
    }
    return [command, args]
  }
  const file = path.resolve(cwd, script)
  if (!(await isExecutable(file))) {
    const known = Object.keys(INTERPRETERS).map((e) => (e === '.r' ? '.R' : e)).join(', ')
    throw new MlError('SCRIPT_NOT_EXECUTABLE', `${script} is not executable and ml knows no interpreter for it (it knows ${known}); make it executable with a #! line (chmod +x ${script}) or use one of those extensions.`)
  }
  const shebang = /^#!\s*(\S+)(?:[ \t]+(\S+))?/.exec((await readStart(file)).split('\n')[0])
  if (shebang) {
    const wanted = path.basename(shebang[1]) === 'env' && shebang[2] ? shebang[2] : shebang[1]
    if (!(wanted.includes('/') ? await isExecutable(wanted) : await findOnPath(wanted, env.PATH))) {
      throw new MlError('INTERPRETER_NOT_FOUND', `${wanted}, named by the #! line of ${script}, is not ${wanted.includes('/') ? 'there' : 'on the PATH'}; install it or change that line.`)
    }
  }
  return [command, args]
}

/** The first executable `name` in the folders of `searchPath`, or null. */
export async function findOnPath(name: string, searchPath = ''): Promise<string | null> {
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name)
    if (await isExecutable(candidate)) return candidate
  }
  return null
}

async function isExecutable(file: string): Promise<boolean> {
  const stat = await fs.stat(file).catch(() => null)
  return Boolean(stat?.isFile()) && (await fs.access(file, fsConstants.X_OK).then(() => true, () => false))
}

/** The first 256 bytes of `file`, as text: enough for its #! line. */
export async function readStart(file: string): Promise<string> {
  const handle = await fs.open(file, 'r')
  try {
    const {buffer, bytesRead} = await handle.read(Buffer.alloc(256), 0, 256, 0)
    return buffer.subarray(0, bytesRead).toString('utf8')
  } finally {
    await handle.close()
  }
}

/**
 * The process groups of the scripts whose process has not exited and that have no watchdog
 * (see WATCHDOG). Each is a group of its own, which a Ctrl-C on the terminal does not reach:
 * should ml exit before a script does (a signal while it pushes), it passes one SIGINT on, as
 * the terminal would have.
 */
const runningGroups = new Set<number>()

function interruptRunning(): void {
  for (const pid of runningGroups) {
    try {
      process.kill(-pid, 'SIGINT')
    } catch {
      // the group is gone already
    }
  }
}

/**
 * A watchdog for the script's process group, a small shell beside it (not in the group, so that
 * nothing aimed at the group stops it) reading a pipe from ml: a line means the script ended and
 * it exits; the end of the pipe without one means ml died (SIGKILL, say), and then it stops the
 * group as a cancel would: SIGINT, then SIGTERM and SIGKILL while anything of it is left. So a
 * script never goes on unseen after its ml process is gone.
 */
const WATCHDOG = [
  'read -r _ && exit 0',
  'kill -INT -$1 2>/dev/null || exit 0',
  'for signal in TERM KILL; do',
  '  i=0',
  '  while [ $i -lt $2 ]; do sleep 1; kill -0 -$1 2>/dev/null || exit 0; i=$((i + 1)); done',
  '  kill -$signal -$1 2>/dev/null || exit 0',
  'done',
].join('\n')

/** Starts the watchdog of the group `pgid`; the function it returns tells it that the script ended. Null when it could not start. */
function watchGroup(pgid: number, termAfterMs: number): (() => void) | null {
  let watchdog
  try {
    watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'ml-watchdog', String(pgid), String(Math.max(1, Math.ceil(termAfterMs / 1000)))], {stdio: ['pipe', 'ignore', 'ignore'], detached: true})
  } catch {
    return null
  }
  watchdog.on('error', () => {})
  watchdog.stdin.on('error', () => {})
  watchdog.unref()
  ;(watchdog.stdin as unknown as {unref?: () => void}).unref?.()
  return () => watchdog.stdin.end('\n')
}

/**
 * Runs the script to its end, streaming its output to `onOutput` and to the log file. The script
 * gets a process group of its own (detached), so that a Ctrl-C on the terminal reaches only ml,
 * which passes one SIGINT on to the whole group: the script can save its work
 * (KeyboardInterrupt), and what a shell script started is stopped with it.
 */
export async function execute(options: ExecuteOptions): Promise<ExecuteResult> {
  await fs.mkdir(path.dirname(options.logFile), {recursive: true})
  const log = createWriteStream(options.logFile)
  const [command, args] = options.command
  const result = await new Promise<ExecuteResult>((resolve) => {
    let canceled = false
    let startError: string | undefined
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['inherit', 'pipe', 'pipe'],
      detached: true,
    })
    const forward = (stream: OutputStream) => (chunk: Buffer) => {
      log.write(chunk)
      options.onOutput?.(chunk, stream)
    }
    child.stdout.on('data', forward('stdout'))
    child.stderr.on('data', forward('stderr'))
    const timers: NodeJS.Timeout[] = []
    const stopTimers = () => timers.splice(0).forEach((timer) => clearTimeout(timer))
    /** Signals the script's process group; false when no process of it is left. */
    const signalGroup = (signal: NodeJS.Signals | 0): boolean => {
      try {
        process.kill(-child.pid!, signal)
        return true
      } catch {
        return false
      }
    }
    const onAbort = () => {
      if (canceled || child.pid === undefined) return
      canceled = true
      signalGroup('SIGINT')
      timers.push(setTimeout(() => signalGroup('SIGTERM') || stopTimers(), options.termAfterMs ?? 10_000))
      timers.push(setTimeout(() => signalGroup('SIGKILL'), options.killAfterMs ?? 20_000))
    }
    if (options.signal?.aborted) onAbort()
    else options.signal?.addEventListener('abort', onAbort, {once: true})
    let ended: (() => void) | null = null
    if (child.pid !== undefined) {
      // Should ml exit while the script runs, the watchdog passes the SIGINT on (once); without
      // one, ml does so on its way out.
      ended = watchGroup(child.pid, options.termAfterMs ?? 10_000)
      if (!ended) {
        runningGroups.add(child.pid)
        if (!process.listeners('exit').includes(interruptRunning)) process.on('exit', interruptRunning)
      }
      options.onSpawn?.()
    }
    child.on('error', (error) => {
      startError = `${command} could not be started: ${error.message}`
      log.write(`${startError}\n`)
    })
    // A process the script left behind may hold its output open: once the script itself has
    // exited, wait a moment for the rest of its output, then stop listening.
    let drain: NodeJS.Timeout | undefined
    child.on('exit', () => {
      runningGroups.delete(child.pid!)
      ended?.()
      drain = setTimeout(() => {
        child.stdout.destroy()
        child.stderr.destroy()
      }, 1000)
    })
    child.on('close', (exitCode, signal) => {
      clearTimeout(drain)
      options.signal?.removeEventListener('abort', onAbort)
      // After a cancel, the timers go on until the whole group is gone; otherwise they are done.
      if (!canceled || !signalGroup(0)) stopTimers()
      resolve({exitCode, signal, canceled, startError})
    })
  })
  await new Promise<void>((resolve, reject) => log.end((error?: Error | null) => (error ? reject(error) : resolve())))
  return result
}

/** Size and modification time of each file under `dir`, keyed by path relative to it. */
export type FileStamps = Map<string, {size: number; mtimeMs: number}>

export async function stampFiles(dir: string): Promise<FileStamps> {
  const stamps: FileStamps = new Map()
  let entries
  try {
    entries = await fs.readdir(dir, {recursive: true, withFileTypes: true})
  } catch {
    return stamps
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue
    const file = path.join(entry.parentPath, entry.name)
    const stat = await fs.stat(file)
    stamps.set(path.relative(dir, file).split(path.sep).join('/'), {size: stat.size, mtimeMs: stat.mtimeMs})
  }
  return stamps
}

/** The files that are new or changed in `after` compared with `before`. */
export function changedFiles(before: FileStamps, after: FileStamps): string[] {
  const changed: string[] = []
  for (const [file, stamp] of after) {
    const old = before.get(file)
    if (!old || old.size !== stamp.size || old.mtimeMs !== stamp.mtimeMs) changed.push(file)
  }
  return changed.sort()
}
