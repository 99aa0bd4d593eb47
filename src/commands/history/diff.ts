import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {historyDiff} from '../../core/runs/history.js'
import {MlCommand, outputFlags} from '../../cli/ml-command.js'
import {diffSummary} from '../../render/runs.js'

export default class HistoryDiff extends MlCommand {
  static summary = 'Show what changed in the project between the snapshots of two runs.'
  static description = 'The parameters that changed and what changed in the recorded environment (Python version, packages added, removed or changed), then a unified diff of the two snapshots (what `git diff` prints for the same two commits), or a --stat summary, followed by the change of each metric. Paths after -- limit the diff to them. -o json prints the parameter and environment changes, the changed files with their line counts, the patch and the metric changes.'
  static examples = [
    '<%= config.bin %> <%= command.id %> iris_1795313437375 iris_1795313438318',
    '<%= config.bin %> <%= command.id %> RUN_A RUN_B --stat',
    '<%= config.bin %> <%= command.id %> RUN_A RUN_B -- train.py',
  ]

  static strict = false
  static args = {
    runA: Args.string({description: 'The run to diff from.', required: true}),
    runB: Args.string({description: 'The run to diff to.', required: true}),
  }

  static flags = {
    stat: Flags.boolean({description: 'Only the changed files with their added and removed lines.'}),
    ...outputFlags,
  }

  async run(): Promise<void> {
    const {args, flags, argv} = await this.parse(HistoryDiff)
    const diff = await historyDiff(process.cwd(), args.runA, args.runB, (argv as string[]).slice(2))
    if (flags.output === 'table' && flags.query === undefined) {
      process.stdout.write(diffSummary(diff, flags.stat))
      return
    }
    this.print(flags, {a: diff.a.runId, b: diff.b.runId, params: diff.params, environment: diff.environment, inputs: diff.inputs, files: diff.files, metrics: diff.metrics, patch: diff.patch})
  }
}
