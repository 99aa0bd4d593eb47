import * as Args from '@oclif/core/args'
import {cloneProject} from '../../core/remote/clone.js'
import {MlCommand, quietFlag} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'

export default class ProjectClone extends MlCommand {
  static summary = 'Get a project and its run history from a remote, on another machine.'
  static description = `Clones your repo (its default branch) into DIR and rebuilds .ml/ from the remote's history: the same project id and history branch, and every pushed run with its properties, status and log, so that \`ml history list\` and \`ml project restore --run-id\` work here. If the remote has no branch of yours, the folder gets the files of the latest snapshot. On a terminal, a clone that takes more than a second shows a progress bar (not with -q).`

  static examples = [
    '<%= config.bin %> <%= command.id %> git@github.com:me/churn.git',
    '<%= config.bin %> <%= command.id %> https://gitlab.example.com/me/churn.git churn-copy',
  ]

  static flags = {quiet: quietFlag}

  static args = {
    url: Args.string({description: 'URL of the project\'s remote.', required: true}),
    dir: Args.string({description: 'Folder to clone into (default: a folder named after the project); must be new or empty.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ProjectClone)
    const progress = progressBar('Clone', flags.quiet, 'objects')
    const {project, runs, fromSnapshot} = await cloneProject({url: args.url, dir: args.dir, cwd: process.cwd(), auth: this.auth(progress.onProgress)}).finally(() => progress.stop())
    this.log(`Cloned ml project "${project.config.name}" into ${project.dir}`)
    this.log(`Project id:      ${project.config.id}`)
    this.log(`History branch:  ${project.config.historyBranch}`)
    this.log(`Runs:            ${runs}`)
    if (fromSnapshot) this.log('The remote has no branch of your repo; the folder holds the files of the latest snapshot.')
  }
}
