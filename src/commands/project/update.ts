import * as Flags from '@oclif/core/flags'
import {setProjectStore} from '../../core/data/project-store.js'
import {updateProjectRemote} from '../../core/remote/remote.js'
import {MlError} from '../../shared/errors.js'
import {storableUrl} from '../../shared/remote-url.js'
import {MlCommand, quietFlag} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'
import {reportRemote} from '../../render/remote.js'

export default class ProjectUpdate extends MlCommand {
  static summary = 'Associate the project with a remote git repository, an artifact store, or both.'
  static description = `-r: the remote must be empty: no master or main branch and no other project's history (as Workbench required). It becomes origin of your repo and of the hidden history, the history and all runs are pushed to it, and later submits push their runs there. Pushing your own branches stays yours to do (git push).
Any git server works, over ssh, https or file URLs. A token in an https URL is used but never stored under .ml/ nor printed. On a terminal, a push that takes more than a second shows a progress bar (not with -q).
--store: where tracked data and large outputs go, by their sha256: a folder (a local disk or a shared mount; a relative path is taken from the project folder), ssh://[user@]host[:port]/path (SFTP, with the keys and known hosts of compute targets), or s3://bucket/prefix (any S3-compatible service: credentials and region from the usual AWS environment and ~/.aws files, an endpoint with --endpoint). The URL is shared with the project (clones know it) and must hold no secret. Pushes then send what the store lacks.`

  static examples = [
    '<%= config.bin %> <%= command.id %> -r git@github.com:me/churn.git',
    '<%= config.bin %> <%= command.id %> -r https://dev.azure.com/org/proj/_git/churn',
    '<%= config.bin %> <%= command.id %> -r file:///srv/git/churn.git',
    '<%= config.bin %> <%= command.id %> --store /mnt/team/ml-store',
    '<%= config.bin %> <%= command.id %> --store ssh://me@storage.example.com/srv/ml-store',
    '<%= config.bin %> <%= command.id %> --store s3://team-bucket/churn --endpoint http://127.0.0.1:9000',
  ]

  static flags = {
    remote: Flags.string({char: 'r', description: 'URL of an empty git repository.'}),
    store: Flags.string({description: 'URL of the artifact store: a folder, ssh://[user@]host[:port]/path or s3://bucket/prefix.'}),
    endpoint: Flags.string({description: 'With an s3:// store: the endpoint of an S3-compatible service.', dependsOn: ['store']}),
    quiet: quietFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ProjectUpdate)
    if (flags.remote === undefined && flags.store === undefined) throw new MlError('INVALID_ARGUMENT', 'Nothing to update: give -r URL (a git remote), --store URL (an artifact store), or both.')
    if (flags.store !== undefined) {
      const where = await setProjectStore(process.cwd(), flags.store, flags.endpoint, this.auth())
      this.log(`Artifact store: ${where} (tracked data and large outputs go there when runs are pushed, or with \`ml data push\`)`)
    }
    if (flags.remote === undefined) return
    const progress = progressBar('Push', flags.quiet, 'objects')
    const result = await updateProjectRemote(process.cwd(), flags.remote, this.auth(progress.onProgress)).finally(() => progress.stop())
    reportRemote(this, storableUrl(flags.remote), result)
  }
}
