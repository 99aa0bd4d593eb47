import * as Args from '@oclif/core/args'
import {Command} from '@oclif/core/command'
import * as Flags from '@oclif/core/flags'
import {homedir} from 'node:os'
import {createInterface} from 'node:readline'
import {MlError} from '../shared/errors.js'
import type {OnProgress} from '../shared/progress.js'
import type {AuthOptions} from '../core/remote/remote.js'
import {escapeControl} from '../render/escape-control.js'
import {type Column, OUTPUT_FORMATS, type OutputFormat, render} from '../render/output.js'

/**
 * The base of every ml command: an MlError becomes one line on stderr, `Error [CODE]: message`,
 * and exit code 1; a file system error a user can fix becomes WRITE_FAILED; oclif's own errors
 * (an unknown flag) are left to oclif; anything else is a bug, told as INTERNAL. ML_DEBUG=1 adds
 * the stack and the chain of causes.
 */
export abstract class MlCommand extends Command {
  protected async catch(error: Error & {exitCode?: number; code?: string; path?: string; oclif?: unknown}): Promise<unknown> {
    if (error.oclif !== undefined && !(error instanceof MlError)) return super.catch(error)
    const disk = error instanceof MlError ? undefined : DISK_ERRORS[error.code ?? ''] ?? DISK_MESSAGES.find(([re]) => re.test(error.message))?.[1]
    const shown = error instanceof MlError ? error
      : disk ? new MlError('WRITE_FAILED', `ml could not write ${error.path ?? 'to the project'}: ${disk}; fix that and run the command again (what it had done so far is kept or was taken back).`, {cause: error})
      : new MlError('INTERNAL', `${error.message.replace(/\.$/, '')}. This is a bug in ml: run the command again with ML_DEBUG=1 to see where it happened, and report that.`, {cause: error})
    // The message may quote a record's fields or a file's name.
    this.logToStderr(`Error [${shown.code}]: ${escapeControl(shown.message)}`)
    if (process.env.ML_DEBUG === '1') this.logToStderr(causeChain(shown))
    process.exitCode = 1
  }

  /** Prints data in the format and with the query the user chose (see outputFlags). */
  protected print<T>(flags: {output: OutputFormat; query?: string}, data: unknown, rows: T[] = [], columns?: Column<T>[]): void {
    const tty = Boolean(process.stdout.isTTY)
    process.stdout.write(render(flags.output, data, rows, {
      columns,
      query: flags.query,
      width: tty ? process.stdout.columns : undefined,
      color: tty && !process.env.NO_COLOR,
    }))
  }

  /** Credentials for remotes, from the environment; a key's passphrase is asked on a terminal. */
  protected auth(onProgress?: OnProgress): AuthOptions {
    const home = process.env.HOME || homedir()
    return {
      home,
      env: process.env,
      askPassphrase: process.stdin.isTTY ? (file) => askHidden(`Passphrase for ${file}: `) : undefined,
      onProgress,
      jump: async (route) => (await import('../ssh/ssh-shell.js')).tunnelThroughJumps(route, {home, env: process.env}, {codes: REMOTE_CODES}),
    }
  }
}

/** A git remote's jump hosts fail as the remote does. */
const REMOTE_CODES = {unreachable: 'REMOTE_UNREACHABLE', lost: 'REMOTE_UNREACHABLE', error: 'REMOTE_UNREACHABLE'} as const

/** The stack of `error` and of each of its causes, for ML_DEBUG=1. */
function causeChain(error: unknown): string {
  const lines: string[] = []
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 10; e = (e as {cause?: unknown}).cause, depth++) {
    lines.push(`${depth ? 'Caused by: ' : ''}${e instanceof Error ? e.stack ?? e.message : String(e)}`)
  }
  return lines.join('\n')
}

/** File system errors a user can fix, in words. */
const DISK_ERRORS: Record<string, string> = {
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
}

/** The same, as libgit2 words them in its messages. */
const DISK_MESSAGES: Array<[RegExp, string]> = [
  [/read-only file system/i, 'the file system is read-only'],
  [/no space left on device/i, 'the disk is full'],
  [/disk quota exceeded/i, 'the disk quota is used up'],
]

/** Reads a line from the terminal without echoing it. */
function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({input: process.stdin, output: process.stderr, terminal: true})
    const output = rl as unknown as {_writeToOutput: (s: string) => void}
    process.stderr.write(prompt)
    output._writeToOutput = () => {}
    rl.question('', (answer) => {
      rl.close()
      process.stderr.write('\n')
      resolve(answer)
    })
  })
}

/** -q, on every command that may draw a progress bar (see render/progress.ts). */
export const quietFlag = Flags.boolean({char: 'q', description: 'Draw no progress bar.'})

/** RUN, the run id of every command that takes one run (see runIdOf). */
export const runArg = {run: Args.string({description: 'Id of the run (or a unique prefix of it).'})}

/** --run-id, Azure ML Workbench's spelling of RUN, kept for its scripts. */
export const runIdFlag = Flags.string({description: 'The same as RUN (the spelling of Azure ML Workbench).'})

/** The run named as RUN or with --run-id: exactly one of them. */
export function runIdOf(arg: string | undefined, flag: string | undefined): string {
  if (arg !== undefined && flag !== undefined) throw new MlError('INVALID_ARGUMENT', 'Name the run once: as RUN or with --run-id, not both.')
  const runId = arg ?? flag
  if (runId === undefined) throw new MlError('INVALID_ARGUMENT', 'Name the run: give its id (or a unique prefix of it) as RUN, or with --run-id.')
  return runId
}

/** -o and --query, the same on every command that prints data. */
export const outputFlags = {
  output: Flags.option({char: 'o', description: 'Output format.', options: OUTPUT_FORMATS, default: 'table' as const})(),
  query: Flags.string({description: 'JMESPath query applied to the JSON data before formatting, e.g. "[].runId".'}),
}
