import * as Args from '@oclif/core/args'
import {dataLog} from '../../core/runs/data-history.js'
import {MlCommand, outputFlags} from '../../cli/ml-command.js'
import {DATA_LOG_COLUMNS} from '../../render/data.js'

export default class DataLog extends MlCommand {
  static summary = 'List the versions of tracked data, with the runs that read each.'
  static description = 'Newest first: each version of each tracked path (or of PATH) that a run read, with its files, bytes, when it was first read and by which runs. `ml history list --input-version ID` lists the runs of one version.'
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> data/ -o json']

  static args = {path: Args.string({description: 'Only this tracked path.'})}
  static flags = {...outputFlags}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(DataLog)
    const log = await dataLog(process.cwd(), args.path)
    this.print(flags, log, log, DATA_LOG_COLUMNS)
  }
}
