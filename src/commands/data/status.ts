import {dataStatus} from '../../core/runs/data-history.js'
import {MlCommand, outputFlags, quietFlag} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'
import {DATA_STATUS_COLUMNS, dataStatusDetails} from '../../render/data.js'

export default class DataStatus extends MlCommand {
  static summary = 'Show what changed in tracked data since the last run.'
  static description = 'For each tracked path: its version now (the id of its manifest), its files and bytes, and what changed since the newest run that read it: files added, changed and removed, and bytes. Unchanged files are recognised by their stats, so an unchanged folder costs a walk of it; changed files are hashed on all cores. -o json gives the paths of the files too.'
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> -o json']

  static flags = {...outputFlags, quiet: quietFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(DataStatus)
    const progress = progressBar('Hash', flags.quiet, 'files')
    const status = await dataStatus(process.cwd(), {onProgress: progress.onProgress}).finally(() => progress.stop())
    if (status.length === 0 && flags.output === 'table') {
      this.log('No data is tracked; track a folder with `ml data track PATH`.')
      return
    }
    this.print(flags, status, status, DATA_STATUS_COLUMNS)
    if (flags.output === 'table' && flags.query === undefined) process.stdout.write(dataStatusDetails(status))
  }
}
