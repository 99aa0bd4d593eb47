import * as Flags from '@oclif/core/flags'
import {downloadRun} from '../../core/runs/history.js'
import {plural} from '../../shared/plural.js'
import {escapeControl} from '../../render/escape-control.js'
import {MlCommand, runArg, runIdFlag, runIdOf} from '../../cli/ml-command.js'

export default class HistoryDownload extends MlCommand {
  static summary = "Write a run's outputs, log and metrics into a folder."
  static description = "Writes output.log, metrics.jsonl and the files the run wrote to outputs/, byte for byte, into --dir, or by default into .ml/downloads/<run-id>/ (never part of a snapshot), and prints the folder. Large outputs kept outside the history are copied from .ml/large-outputs/ when this machine has them. A run whose record is corrupt is refused (RUN_CORRUPT)."
  static examples = [
    '<%= config.bin %> <%= command.id %> iris_1795313438318',
    '<%= config.bin %> <%= command.id %> iris_17953 --dir /tmp/best-model',
  ]

  static args = runArg
  static flags = {
    'run-id': runIdFlag,
    dir: Flags.string({description: 'Folder to write into; must be new or empty.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(HistoryDownload)
    const {dir, files, missing} = await downloadRun(process.cwd(), runIdOf(args.run, flags['run-id']), flags.dir)
    this.log(`Wrote ${plural(files.length, 'file')} to ${escapeControl(dir)}`)
    for (const file of missing) this.logToStderr(`Warning: ${escapeControl(file)} is not on this machine (a large output stays on the machine that ran it); it was not written.`)
  }
}
