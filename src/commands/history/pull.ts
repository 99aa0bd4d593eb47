import {historyPull} from '../../core/history.js'
import {MlCommand} from '../../render/ml-command.js'

export default class HistoryPull extends MlCommand {
  static summary = "Fetch the runs other machines pushed to the project's remote."
  static description = 'Fetches the history branch and all run records and merges them with the local ones (run ids never collide, so nothing conflicts). Your folder is not changed.'
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> && ml history list']

  async run(): Promise<void> {
    await this.parse(HistoryPull)
    const {remote, newRuns, updatedRuns} = await historyPull(process.cwd(), this.auth())
    this.log(`Pulled from ${remote}: ${newRuns} new runs, ${updatedRuns} updated.`)
  }
}
