import {spawn} from 'node:child_process'
import {createWriteStream, promises as fs} from 'node:fs'
import path from 'node:path'

export type OutputStream = 'stdout' | 'stderr'

export interface ExecuteOptions {
  /** The folder the script runs in (the project root). */
  cwd: string
  /** The script, relative to `cwd`. */
  script: string
  args: string[]
  env: NodeJS.ProcessEnv
  /** Where the combined output is saved as it comes. */
  logFile: string
  /** Aborting stops the script (SIGTERM after half a second, SIGKILL after `killAfterMs`). */
  signal?: AbortSignal
  killAfterMs?: number
  onOutput?: (chunk: Buffer, stream: OutputStream) => void
}

export interface ExecuteResult {
  exitCode: number | null
  signal: NodeJS.Signals | null
  canceled: boolean
  /** Set when the script could not be started at all. */
  startError?: string
}

/** How a script is started, by its extension: python3, node, bash, or the file itself. */
export function commandFor(script: string, nodePath: string): [string, string[]] {
  const ext = path.extname(script).toLowerCase()
  const file = script.startsWith('/') || script.startsWith('.') ? script : `./${script}`
  if (ext === '.py') return ['python3', [script]]
  if (ext === '.js' || ext === '.mjs' || ext === '.cjs') return [nodePath, [script]]
  if (ext === '.sh') return ['bash', [script]]
  return [file, []]
}

/** Runs the script to its end, streaming its output to `onOutput` and to the log file. */
export async function execute(options: ExecuteOptions): Promise<ExecuteResult> {
  await fs.mkdir(path.dirname(options.logFile), {recursive: true})
  const log = createWriteStream(options.logFile)
  const [command, prefix] = commandFor(options.script, process.execPath)
  const result = await new Promise<ExecuteResult>((resolve) => {
    let canceled = false
    let startError: string | undefined
    const child = spawn(command, [...prefix, ...options.args], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['inherit', 'pipe', 'pipe'],
    })
    const forward = (stream: OutputStream) => (chunk: Buffer) => {
      log.write(chunk)
      options.onOutput?.(chunk, stream)
    }
    child.stdout.on('data', forward('stdout'))
    child.stderr.on('data', forward('stderr'))
    // A Ctrl-C on a terminal reaches the script too; so it gets a moment to stop on its own
    // before SIGTERM, then SIGKILL after `killAfterMs`.
    const timers: NodeJS.Timeout[] = []
    const onAbort = () => {
      canceled = true
      timers.push(setTimeout(() => child.kill('SIGTERM'), 500))
      timers.push(setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 5000))
    }
    if (options.signal?.aborted) onAbort()
    else options.signal?.addEventListener('abort', onAbort, {once: true})
    child.on('error', (error) => {
      startError = `${command} could not be started: ${error.message}`
      log.write(`${startError}\n`)
    })
    // A process the script left behind may hold its output open: once the script itself has
    // exited, wait a moment for the rest of its output, then stop listening.
    child.on('exit', () => {
      timers.push(setTimeout(() => {
        child.stdout.destroy()
        child.stderr.destroy()
      }, 1000))
    })
    child.on('close', (exitCode, signal) => {
      for (const timer of timers) clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
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
