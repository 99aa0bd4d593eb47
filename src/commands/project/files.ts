import * as Flags from '@oclif/core/flags'
import {projectFiles} from '../../core/snapshot/files.js'
import {MlCommand, outputFlags} from '../../cli/ml-command.js'
import {FILE_COLUMNS} from '../../render/runs.js'

export default class ProjectFiles extends MlCommand {
  static summary = 'Show what the next snapshot would contain.'
  static description = 'Every file the next `ml experiment submit` would snapshot, with its size. With --explain, also what is left out (.ml/, outputs/, likely secrets, .gitignore and .amlignore rules), each with the rule that decided, the way `git check-ignore -v` names it.'
  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --explain',
    '<%= config.bin %> <%= command.id %> --query "sum([].size)"',
  ]

  static flags = {
    explain: Flags.boolean({description: 'Also list what is left out, and say which rule kept or dropped each file.'}),
    ...outputFlags,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ProjectFiles)
    const files = await projectFiles(process.cwd(), {explain: flags.explain})
    this.print(flags, files, files, flags.explain ? FILE_COLUMNS : FILE_COLUMNS.slice(0, 2))
  }
}
