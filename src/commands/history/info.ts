import {FAILED_LOG_LINES, historyInfo} from '../../core/runs/history.js'
import {escapeControl} from '../../render/escape-control.js'
import {MlCommand, outputFlags, runArg, runIdFlag, runIdOf} from '../../cli/ml-command.js'
import {FIELD_COLUMNS, runFields} from '../../render/runs.js'

export default class HistoryInfo extends MlCommand {
  static summary = 'Show one run with all its properties.'
  static description = `A unique prefix of the run id is enough. The table of a failed run is followed by the last ${FAILED_LOG_LINES} lines of its log (all of it: \`ml history log RUN\`). -o json prints the run record as stored; --query picks from it, e.g. --query 'properties."azureml.git.commit"' -o tsv prints just the commit.`
  static examples = [
    '<%= config.bin %> <%= command.id %> iris_1732240000000_3f2a',
    '<%= config.bin %> <%= command.id %> iris_17322 -o json',
  ]

  static args = runArg
  static flags = {
    'run-id': runIdFlag,
    ...outputFlags,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(HistoryInfo)
    const {run, environment, logTail, lineage} = await historyInfo(process.cwd(), runIdOf(args.run, flags['run-id']))
    this.print(flags, {...run, ...lineage.children.length > 0 && {usedBy: lineage.children}}, runFields(run, environment, lineage), FIELD_COLUMNS)
    if (logTail && flags.output === 'table' && flags.query === undefined) {
      process.stdout.write(`\nLast ${FAILED_LOG_LINES} lines of output.log:\n${escapeControl(logTail.toString('utf8'), true)}`)
    }
  }
}
