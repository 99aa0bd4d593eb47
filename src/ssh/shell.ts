import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {MlError} from '../shared/errors.js'

export interface ShellResult {
  code: number
  stdout: string
  stderr: string
}

/**
 * Where a compute target's commands run and its files are: this machine (a Slurm cluster whose
 * commands are here) or an ssh host. Everything a target does goes through these few verbs, so
 * the host needs a POSIX shell and nothing of ml's.
 */
export interface Shell {
  /** Where it is, for messages. */
  readonly where: string
  /** Bytes of file content written so far. */
  readonly bytesSent: number
  /** Runs `command` with sh (in the login's home), with `stdin` as its input. */
  run(command: string, stdin?: string): Promise<ShellResult>
  /** Writes `file` whole, through a temporary name and a rename, so a reader never sees half of it. */
  writeFile(file: string, data: Buffer | string, mode?: number): Promise<void>
  /** Up to `max` bytes of `file` from `offset`, or null when there is no such file. */
  readFile(file: string, offset?: number, max?: number): Promise<Buffer | null>
  /** Copies `file` to the local file `local`. */
  download(file: string, local: string): Promise<void>
  close(): void
}

/** More output than this from one command is cut: the commands ml runs print lines, not data. */
const MAX_COMMAND_OUTPUT = 16 << 20

/** A command's stdout and stderr as they come, kept up to MAX_COMMAND_OUTPUT together: for both shells. */
export function outputCollector(): {stdout: (chunk: Buffer) => void; stderr: (chunk: Buffer) => void; result: (code: number) => ShellResult} {
  const out: Buffer[] = []
  const err: Buffer[] = []
  let size = 0
  const keep = (into: Buffer[]) => (chunk: Buffer) => {
    size += chunk.length
    if (size <= MAX_COMMAND_OUTPUT) into.push(chunk)
  }
  return {stdout: keep(out), stderr: keep(err), result: (code) => ({code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString()})}
}

/** `text` as one word for sh: in single quotes, with each `'` closed, escaped and reopened. */
export function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

/** `command`'s result, or COMPUTE_ERROR naming what failed with the first line of its error output. */
export async function runChecked(shell: Shell, command: string, what: string, stdin?: string): Promise<string> {
  const result = await shell.run(command, stdin)
  if (result.code !== 0) {
    const detail = firstLine(result.stderr) || firstLine(result.stdout) || `exit code ${result.code}`
    throw new MlError('COMPUTE_ERROR', `Could not ${what} on ${shell.where}: ${detail}`)
  }
  return result.stdout
}

export function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find(Boolean) ?? ''
}

/** This machine, as a Shell: for a Slurm cluster whose commands (sbatch, squeue...) are here. */
export class LocalShell implements Shell {
  readonly where = 'this machine'
  bytesSent = 0

  constructor(private readonly env: NodeJS.ProcessEnv, private readonly home: string) {}

  run(command: string, stdin?: string): Promise<ShellResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', command], {cwd: this.home, env: this.env, stdio: ['pipe', 'pipe', 'pipe']})
      const output = outputCollector()
      child.stdout.on('data', output.stdout)
      child.stderr.on('data', output.stderr)
      child.stdin.on('error', () => {}) // a command that does not read its input
      child.stdin.end(stdin ?? '')
      child.on('error', reject)
      child.on('close', (code, signal) => resolve(output.result(code ?? 128 + (signal ? 15 : 1))))
    })
  }

  async writeFile(file: string, data: Buffer | string, mode = 0o644): Promise<void> {
    const absolute = path.resolve(this.home, file)
    const temp = `${absolute}.tmp-${randomBytes(4).toString('hex')}`
    await fs.writeFile(temp, data, {mode})
    await fs.rename(temp, absolute)
    this.bytesSent += Buffer.byteLength(data)
  }

  async readFile(file: string, offset = 0, max = Number.MAX_SAFE_INTEGER): Promise<Buffer | null> {
    let handle
    try {
      handle = await fs.open(path.resolve(this.home, file), 'r')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
    try {
      const {size} = await handle.stat()
      const length = Math.max(0, Math.min(max, size - offset))
      const {buffer, bytesRead} = await handle.read(Buffer.alloc(length), 0, length, offset)
      return buffer.subarray(0, bytesRead)
    } finally {
      await handle.close()
    }
  }

  async download(file: string, local: string): Promise<void> {
    await fs.copyFile(path.resolve(this.home, file), local)
  }

  close(): void {}
}
