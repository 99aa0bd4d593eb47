import {Flags} from '@oclif/core'
import {downloadRun} from '../../core/history.js'
import {MlCommand, runIdFlag} from '../../render/ml-command.js'

export default class HistoryDownload extends MlCommand {
  static summary = "Write a run's outputs, log and metrics into a folder."
  static description = "Writes output.log, metrics.jsonl and the files the run wrote to outputs/, byte for byte, into --dir (default: a new folder named after the run). Large outputs kept outside the history are copied from .ml/large-outputs/ when this machine has them."
  static examples = [
    '<%= config.bin %> <%= command.id %> --run-id iris_1795313438318',
    '<%= config.bin %> <%= command.id %> --run-id iris_17953 --dir /tmp/best-model',
  ]

  static flags = {
    'run-id': runIdFlag,
    dir: Flags.string({description: 'Folder to write into; must be new or empty.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(HistoryDownload)
    const {dir, files, missing} = await downloadRun(process.cwd(), flags['run-id'], flags.dir)
    this.log(`Wrote ${files.length} files to ${dir}`)
    for (const file of missing) this.logToStderr(`Warning: ${file} is a large output kept only on the machine that ran it; it was not written.`)
  }
}
