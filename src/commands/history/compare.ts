import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {historyCompare} from '../../core/runs/history.js'
import {MlCommand, outputFlags} from '../../cli/ml-command.js'
import {comparisonTable} from '../../render/runs.js'

export default class HistoryCompare extends MlCommand {
  static summary = 'Compare runs side by side: one column per run.'
  static description = 'Rows for status, duration, script and arguments, git commit and dirty flag, snapshot, every parameter (marked ≠ where the runs differ) and the last value of every metric; the best value of each metric is marked with * (the lowest for losses and errors, the highest otherwise). --sweep ID compares all runs of a sweep, ordered by the swept parameters (the first --grid first, numbers numerically). -o json prints the runs, the parameters and whether they differ, and the best run per metric.'
  static examples = [
    '<%= config.bin %> <%= command.id %> iris_1795313437375 iris_1795313438318',
    '<%= config.bin %> <%= command.id %> RUN_A RUN_B RUN_C -o json --query best',
    '<%= config.bin %> <%= command.id %> --sweep sweep_1795313437375',
  ]

  static strict = false
  static args = {
    runs: Args.string({description: 'Two or more run ids (or unique prefixes).'}),
  }

  static flags = {
    ...outputFlags,
    sweep: Flags.string({description: 'Compare every run of this sweep (its id or a unique prefix), ordered by the swept parameters.'}),
  }

  async run(): Promise<void> {
    const {flags, argv} = await this.parse(HistoryCompare)
    const comparison = await historyCompare(process.cwd(), argv as string[], {sweep: flags.sweep})
    const {rows, columns} = comparisonTable(comparison)
    this.print(flags, comparison, rows, columns)
  }
}
