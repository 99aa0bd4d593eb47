import {MlCommand, quietFlag} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'
import {reportDataPush, reportPush} from '../../render/remote.js'
import {historyPush} from '../../core/remote/remote.js'

export default class HistoryPush extends MlCommand {
  static summary = "Send the project's history and run records to its remote."
  static description = 'Pushes the history branch and every run whose latest state the remote does not have yet, such as runs whose push failed. Snapshots another machine pushed meanwhile are fetched first, so the history stays linear. With an artifact store (`ml project update --store URL`), the data files and large outputs the runs need that the store lacks are sent there first. On a terminal, a push that takes more than a second shows a progress bar (not with -q).'
  static examples = ['<%= config.bin %> <%= command.id %>']

  static flags = {quiet: quietFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(HistoryPush)
    const progress = progressBar('Push', flags.quiet, 'objects')
    const {remote, push, data} = await historyPush(process.cwd(), this.auth(progress.onProgress)).finally(() => progress.stop())
    if (data) reportDataPush(this, data)
    if (remote && push) reportPush(this, remote, push)
    if (push && push.rejected.length > 0) process.exitCode = 1
  }
}
