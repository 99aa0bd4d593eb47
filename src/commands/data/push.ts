import {dataPush} from '../../core/remote/data-push.js'
import {MlCommand, quietFlag} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'
import {reportDataPush} from '../../render/remote.js'

export default class DataPush extends MlCommand {
  static summary = 'Send tracked data and large outputs to the artifact store.'
  static description = 'Sends the store every data file of the versions the runs read, and every large output, that it lacks (submits and `ml history push` do it too). Objects are stored by their sha256, so a file is sent once whoever has it; each is checked as it is sent and visible only once whole. A file changed since the run read it, and not in the cache, cannot be sent: it is named.'
  static examples = ['<%= config.bin %> <%= command.id %>']

  static flags = {quiet: quietFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(DataPush)
    const progress = progressBar('Push', flags.quiet, 'files')
    const result = await dataPush(process.cwd(), {...this.auth(), onProgress: progress.onProgress}).finally(() => progress.stop())
    reportDataPush(this, result)
  }
}
