import * as Flags from '@oclif/core/flags'
import {downloadRun} from '../../core/runs/history.js'
import {plural} from '../../shared/plural.js'
import {escapeControl} from '../../render/escape-control.js'
import {MlCommand, quietFlag, runArg, runIdFlag, runIdOf} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'

export default class HistoryDownload extends MlCommand {
  static summary = "Write a run's outputs, log and metrics into a folder."
  static description = "Writes output.log, metrics.jsonl and the files the run wrote to outputs/, byte for byte, into --dir, or by default into .ml/downloads/<run-id>/ (never part of a snapshot), and prints the folder. Large outputs (over 50 MB, kept outside the history by their sha256) come from this machine's object cache, or else from the project's artifact store (`ml project update --store URL`), each checked against its sha256 before anything is written (STORE_CORRUPT otherwise); a progress bar shows on a terminal (not with -q). A run whose record is corrupt is refused (RUN_CORRUPT)."
  static examples = [
    '<%= config.bin %> <%= command.id %> iris_1795313438318',
    '<%= config.bin %> <%= command.id %> iris_17953 --dir /tmp/best-model',
  ]

  static args = runArg
  static flags = {
    'run-id': runIdFlag,
    dir: Flags.string({description: 'Folder to write into; must be new or empty.'}),
    quiet: quietFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(HistoryDownload)
    const progress = progressBar('Fetch', flags.quiet, 'files')
    const {dir, files, missing} = await downloadRun(process.cwd(), runIdOf(args.run, flags['run-id']), flags.dir, {...this.auth(), onProgress: progress.onProgress}).finally(() => progress.stop())
    this.log(`Wrote ${plural(files.length, 'file')} to ${escapeControl(dir)}`)
    for (const file of missing) this.logToStderr(`Warning: ${escapeControl(file)} is not on this machine and the project has no artifact store to fetch it from (\`ml project update --store URL\` on the machine that ran it, then \`ml history push\`); it was not written.`)
  }
}
