import {plural} from '../../shared/plural.js'
import {MlCommand, quietFlag} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'
import {historyPull} from '../../core/remote/remote.js'

export default class HistoryPull extends MlCommand {
  static summary = "Fetch the runs other machines pushed to the project's remote."
  static description = 'Fetches the history branch and all run records and merges them with the local ones (run ids never collide, so nothing conflicts). Your folder is not changed. On a terminal, a pull that takes more than a second shows a progress bar (not with -q).'
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> && ml history list']

  static flags = {quiet: quietFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(HistoryPull)
    const progress = progressBar('Pull', flags.quiet, 'objects')
    const {remote, newRuns, updatedRuns} = await historyPull(process.cwd(), this.auth(progress.onProgress)).finally(() => progress.stop())
    this.log(`Pulled from ${remote}: ${plural(newRuns, 'new run')}, ${updatedRuns} updated.`)
  }
}
