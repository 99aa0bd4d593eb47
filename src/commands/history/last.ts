import {historyLast} from '../../core/runs/history.js'
import {MlCommand, outputFlags} from '../../cli/ml-command.js'
import {FIELD_COLUMNS, runFields} from '../../render/runs.js'

export default class HistoryLast extends MlCommand {
  static summary = 'Show the newest run, like `az ml history last`.'
  static description = 'The same view as `ml history info` for the run started last.'
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --query metrics -o json']

  static flags = {...outputFlags}

  async run(): Promise<void> {
    const {flags} = await this.parse(HistoryLast)
    const run = await historyLast(process.cwd())
    this.print(flags, run, runFields(run), FIELD_COLUMNS)
  }
}
