import * as Flags from '@oclif/core/flags'
import {syncIfDue} from '../../core/compute/sync.js'
import {historyList, RUN_STATUSES} from '../../core/runs/history.js'
import {isMlError} from '../../shared/errors.js'
import {MlCommand, outputFlags} from '../../cli/ml-command.js'
import {listBackups} from '../../core/restore/restore.js'
import {BACKUP_COLUMNS, runColumns} from '../../render/runs.js'

export default class HistoryList extends MlCommand {
  static summary = "List the project's runs, newest first."
  static description = `The table shows each run's id, status, start time, duration, script, snapshot, git commit of your repo, whether it was dirty, every parameter, and the last value of every metric. -o json prints the full run records; --query filters them with JMESPath first.
Runs out on compute targets (\`ml experiment submit -c NAME\`) are looked at first, as \`ml history sync\` does, at most every 5 seconds. A target that does not answer within a second is a warning, and is left alone for a minute (remembered in .ml/target-health.json; \`ml history sync\` tries it at once).
For a project with a remote, PUSHED (and "pushed" in JSON) tells whether the remote has the run's latest state.`

  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --last 5 -o json',
    '<%= config.bin %> <%= command.id %> --sort-by accuracy --desc --status completed',
    '<%= config.bin %> <%= command.id %> --sweep sweep_1795313437375 --sort-by lr',
    '<%= config.bin %> <%= command.id %> --query "[?params.lr > `0.01`]"',
    '<%= config.bin %> <%= command.id %> --query "[?metrics.accuracy > `0.9`].runId" -o tsv',
    '<%= config.bin %> <%= command.id %> --backups',
  ]

  static flags = {
    ...outputFlags,
    last: Flags.integer({description: 'Show only the first N runs (after filtering and sorting).', min: 1}),
    'sort-by': Flags.string({description: 'Sort by the last value of this metric, or by this parameter (ascending; see --desc).'}),
    desc: Flags.boolean({description: 'With --sort-by: largest first.', dependsOn: ['sort-by']}),
    status: Flags.string({description: `Only runs with this status (${RUN_STATUSES.join(', ')}).`}),
    script: Flags.string({description: 'Only runs of this script (its path in the project, or its file name).'}),
    sweep: Flags.string({description: 'Only the runs of this sweep (its id or a unique prefix).'}),
    'input-version': Flags.string({description: 'Only the runs that read this version of tracked data (its id or a prefix; `ml data log` lists them).'}),
    backups: Flags.boolean({description: 'List the pre-restore backups instead of runs (newest last; `ml project restore --undo` takes it).'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(HistoryList)
    if (flags.backups) {
      const backups = await listBackups(process.cwd())
      this.print(flags, backups, backups, BACKUP_COLUMNS)
      return
    }
    await this.syncTargets()
    const runs = await historyList(process.cwd(), {last: flags.last, sortBy: flags['sort-by'], desc: flags.desc, status: flags.status, script: flags.script, sweep: flags.sweep, inputVersion: flags['input-version']})
    if (runs.length === 0 && flags.output === 'table' && flags.query === undefined) {
      this.logToStderr('No runs match; start one with `ml experiment submit <script>`.')
      return
    }
    this.print(flags, runs, runs, runColumns(runs))
  }

  /** Runs out on compute targets are looked at first (at most every few seconds); a target that cannot be reached is a warning. */
  private async syncTargets(): Promise<void> {
    const warn = (m: string) => this.logToStderr(`Warning: ${m}`)
    try {
      await syncIfDue(process.cwd(), {auth: this.auth(), mlVersion: this.config.version, push: true, timeoutMs: 5000, onWarning: warn, onPushProblem: warn})
    } catch (error) {
      if (!isMlError(error) || error.code === 'NOT_A_PROJECT') throw error
      warn(`Could not look at the runs on compute targets: ${error.message}`)
    }
  }
}
