import * as Flags from '@oclif/core/flags'
import {updateProjectRemote} from '../../core/remote/remote.js'
import {storableUrl} from '../../shared/remote-url.js'
import {MlCommand, quietFlag} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'
import {reportRemote} from '../../render/remote.js'

export default class ProjectUpdate extends MlCommand {
  static summary = 'Associate the project with a remote git repository.'
  static description = `The remote must be empty: no master or main branch and no other project's history (as Workbench required). It becomes origin of your repo and of the hidden history, the history and all runs are pushed to it, and later submits push their runs there. Pushing your own branches stays yours to do (git push).
Any git server works, over ssh, https or file URLs. A token in an https URL is used but never stored under .ml/ nor printed. On a terminal, a push that takes more than a second shows a progress bar (not with -q).`

  static examples = [
    '<%= config.bin %> <%= command.id %> -r git@github.com:me/churn.git',
    '<%= config.bin %> <%= command.id %> -r https://dev.azure.com/org/proj/_git/churn',
    '<%= config.bin %> <%= command.id %> -r file:///srv/git/churn.git',
  ]

  static flags = {
    remote: Flags.string({char: 'r', description: 'URL of an empty git repository.', required: true}),
    quiet: quietFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ProjectUpdate)
    const progress = progressBar('Push', flags.quiet, 'objects')
    const result = await updateProjectRemote(process.cwd(), flags.remote, this.auth(progress.onProgress)).finally(() => progress.stop())
    reportRemote(this, storableUrl(flags.remote), result)
  }
}
