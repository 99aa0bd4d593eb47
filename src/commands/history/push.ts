import {historyPush} from '../../core/history.js'
import {MlCommand} from '../../render/ml-command.js'
import {reportPush} from '../../render/remote.js'

export default class HistoryPush extends MlCommand {
  static summary = "Send the project's history and run records to its remote."
  static description = 'Pushes the history branch and every run whose latest state the remote does not have yet, such as runs whose push failed. Snapshots another machine pushed meanwhile are fetched first, so the history stays linear.'
  static examples = ['<%= config.bin %> <%= command.id %>']

  async run(): Promise<void> {
    await this.parse(HistoryPush)
    const {remote, push} = await historyPush(process.cwd(), this.auth())
    reportPush(this, remote, push)
    if (push.rejected.length > 0) process.exitCode = 1
  }
}
