import * as Flags from '@oclif/core/flags'
import {historyMetrics} from '../../core/runs/history.js'
import {MlCommand, outputFlags, runArg, runIdFlag, runIdOf} from '../../cli/ml-command.js'
import {metricsTable, metricSummaries} from '../../render/runs.js'

export default class HistoryMetrics extends MlCommand {
  static summary = "Show a run's metric values by step."
  static description = 'The table has one row per step and one column per metric, followed by a sparkline of each metric. -o json prints every logged value as {name, value, step}.'
  static examples = [
    '<%= config.bin %> <%= command.id %> iris_1795313438318',
    '<%= config.bin %> <%= command.id %> iris_17953 --name loss -o json',
  ]

  static args = runArg
  static flags = {
    'run-id': runIdFlag,
    name: Flags.string({description: 'Only this metric.'}),
    ...outputFlags,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(HistoryMetrics)
    const {runId, points} = await historyMetrics(process.cwd(), runIdOf(args.run, flags['run-id']), flags.name)
    if (points.length === 0 && flags.output === 'table' && flags.query === undefined) {
      this.logToStderr(`Run ${runId} logged no metrics; a script logs them by appending JSON lines to $ML_METRICS_FILE (see run_logger.py).`)
      return
    }
    const {rows, columns} = metricsTable(points)
    this.print(flags, points, rows, columns)
    if (flags.output === 'table' && flags.query === undefined) process.stdout.write(`\n${metricSummaries(points)}`)
  }
}
