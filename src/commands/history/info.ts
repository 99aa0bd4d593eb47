import {Flags} from '@oclif/core'
import {historyInfo} from '../../core/history.js'
import {MlCommand, outputFlag} from '../../render/ml-command.js'
import {render} from '../../render/output.js'
import {FIELD_COLUMNS, runFields} from '../../render/runs.js'

export default class HistoryInfo extends MlCommand {
  static summary = 'Show one run with all its properties.'
  static description = 'A unique prefix of the run id is enough. -o json prints the run record as stored.'
  static examples = [
    '<%= config.bin %> <%= command.id %> --run-id iris_1732240000000_3f2a',
    '<%= config.bin %> <%= command.id %> --run-id iris_17322 -o json',
  ]

  static flags = {
    'run-id': Flags.string({description: 'Id of the run (or a unique prefix of it).', required: true}),
    output: outputFlag(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(HistoryInfo)
    const run = await historyInfo(process.cwd(), flags['run-id'])
    process.stdout.write(render(flags.output, runFields(run), FIELD_COLUMNS, run))
  }
}
