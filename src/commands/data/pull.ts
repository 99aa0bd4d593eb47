import * as Args from '@oclif/core/args'
import {dataPull} from '../../core/remote/data-push.js'
import {formatBytes} from '../../shared/format-bytes.js'
import {plural} from '../../shared/plural.js'
import {escapeControl} from '../../render/escape-control.js'
import {MlCommand, quietFlag} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'

export default class DataPull extends MlCommand {
  static summary = "Fetch a run's data and large outputs from the artifact store."
  static description = `Fetches what RUN (by default the newest run that read tracked data) needs and this machine lacks: the data files the folder does not have come straight into their places, the rest (large outputs, files the folder has other bytes of) into the object cache; every file is checked against its sha256 before it is put in place (a store that returns other bytes is STORE_CORRUPT, and nothing is written), and a file the store lacks is DATA_MISSING before anything is written. A file the folder has with other bytes is left alone and named: \`ml project restore RUN --with-data\` puts those back too, with a backup.`
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> iris_1795313438318']

  static args = {run: Args.string({description: 'Id of the run (or a unique prefix of it).'})}
  static flags = {quiet: quietFlag}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(DataPull)
    const progress = progressBar('Pull', flags.quiet, 'files')
    const result = await dataPull(process.cwd(), args.run, {...this.auth(), onProgress: progress.onProgress}).finally(() => progress.stop())
    this.log(`Fetched ${plural(result.fetched, 'file')} (${formatBytes(result.bytes)}) for run ${result.runId} from ${result.store}; wrote ${plural(result.placed.length, 'data file')} into the folder.`)
    if (result.differing.length > 0) {
      this.logToStderr(`Warning: ${plural(result.differing.length, 'file')} of the folder differ from what run ${result.runId} read, and were left as they are (${result.differing.slice(0, 5).map((p) => escapeControl(p)).join(', ')}${result.differing.length > 5 ? ', ...' : ''}); \`ml project restore ${result.runId} --with-data\` puts them back, with a backup.`)
    }
  }
}
