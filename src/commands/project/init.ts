import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import path from 'node:path'
import {initProject, TEMPLATES} from '../../core/setup/init.js'
import {MlCommand, quietFlag} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'
import {reportRemote} from '../../render/remote.js'
import {initProjectWithRemote} from '../../core/setup/init.js'

export default class ProjectInit extends MlCommand {
  static summary = 'Create an ml project in a folder.'
  static description = `Creates DIR if needed, copies the template's files, writes .gitignore (ignoring .ml/ and outputs/) and .amlignore, and creates the hidden history repo .ml/history.git with the branch AzureMLHistory/<project-id> and a first snapshot (with a progress bar on a terminal when it takes more than a second; -q draws none).
If DIR is in no git repo yet, it is git-initialized (branch master) with a first commit of the template files; an existing repo is left as it is.
With -r URL, the remote must be empty (no master or main branch, no other project's history); it becomes origin of your repo and of the history, and runs are pushed there. Pushing your own branches stays yours to do (git push).`

  static examples = [
    '<%= config.bin %> <%= command.id %> my-project --template iris',
    '<%= config.bin %> <%= command.id %> . --name churn-model',
    '<%= config.bin %> <%= command.id %> my-project -r git@github.com:me/my-project.git',
  ]

  static args = {
    dir: Args.string({description: 'Folder of the project (created if missing).', default: '.'}),
  }

  static flags = {
    name: Flags.string({description: 'Project name, used in run ids (default: the folder name).'}),
    template: Flags.string({description: `Files to start with: ${TEMPLATES.join(' or ')}.`, default: 'blank'}),
    remote: Flags.string({char: 'r', description: 'URL of an empty git repository to push the run history to (ssh, https or file).'}),
    quiet: quietFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ProjectInit)
    const progress = progressBar('Snapshot', flags.quiet)
    const options = {dir: args.dir, name: flags.name, template: flags.template, onNotice: (m: string) => progress.log(`Warning: ${m}`), onProgress: progress.onProgress}
    const withRemote = flags.remote ? await initProjectWithRemote({...options, remote: flags.remote, auth: this.auth()}).finally(() => progress.stop()) : undefined
    const {project, createdUserRepo} = withRemote ?? await initProject(options).finally(() => progress.stop())
    this.log(`Created ml project "${project.config.name}" in ${project.dir}`)
    this.log(`Project id:      ${project.config.id}`)
    this.log(`History branch:  ${project.config.historyBranch}`)
    if (createdUserRepo) this.log('Initialized a git repo (branch master) with a first commit of the project files.')
    if (withRemote) reportRemote(this, project.config.remote!, withRemote)
    const cd = path.resolve(args.dir) === process.cwd() ? '' : `cd ${path.relative(process.cwd(), project.dir) || '.'} && `
    this.log(`Next: ${cd}ml experiment submit <script>`)
  }
}
