import * as Flags from '@oclif/core/flags'
import {StringDecoder} from 'node:string_decoder'
import {followLog, historyLog} from '../../core/runs/history.js'
import {escapeControl} from '../../render/escape-control.js'
import {MlCommand, runArg, runIdFlag, runIdOf} from '../../cli/ml-command.js'

export default class HistoryLog extends MlCommand {
  static summary = "Print a run's log (what its script printed)."
  static description = 'The output of the run as recorded; while the run is going, what it has printed so far. --follow prints what the run prints next until it ends (Ctrl-C stops following, not the run). On a terminal, control characters are shown as escapes (\\x1b); piped, the log is written byte for byte.'
  static examples = [
    '<%= config.bin %> <%= command.id %> iris_1795313438318',
    '<%= config.bin %> <%= command.id %> iris_17953 --tail 20 --follow',
  ]

  static args = runArg
  static flags = {
    'run-id': runIdFlag,
    tail: Flags.integer({description: 'Only the last N lines.', min: 0}),
    follow: Flags.boolean({char: 'f', description: 'Keep printing what a running run prints until it ends.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(HistoryLog)
    const runId = runIdOf(args.run, flags['run-id'])
    const tty = Boolean(process.stdout.isTTY)
    const decoder = new StringDecoder('utf8')
    const write = (chunk: Buffer) => process.stdout.write(tty ? escapeControl(decoder.write(chunk), true) : chunk)
    if (!flags.follow) {
      write((await historyLog(process.cwd(), runId, flags.tail)).log)
      return
    }
    const stop = new AbortController()
    process.once('SIGINT', () => stop.abort())
    for await (const chunk of followLog(process.cwd(), runId, {tail: flags.tail, signal: stop.signal})) write(chunk)
  }
}
