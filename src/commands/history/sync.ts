import {MlCommand} from '../../cli/ml-command.js'
import {syncRuns} from '../../core/compute/sync.js'

export default class HistorySync extends MlCommand {
  static summary = 'Record what happened to runs out on compute targets.'
  static description = `Looks at every run this machine submitted to an ssh host or a Slurm cluster that is not recorded as ended: a Slurm job that started is recorded as Running (with its node), and a run that ended is brought back (log, metrics, environment, outputs/) and recorded as Completed, Failed or Canceled, with its exit code; then its folders on the target are removed. A run whose submit still follows it is left to that submit. \`ml history list\` does this too, at most every 5 seconds.
A target that cannot be reached is a warning: its runs are looked at again next time.`

  static examples = ['<%= config.bin %> <%= command.id %>']

  async run(): Promise<void> {
    await this.parse(HistorySync)
    const {checked, changed} = await syncRuns(process.cwd(), {auth: this.auth(), mlVersion: this.config.version, push: true, onWarning: (m) => this.logToStderr(`Warning: ${m}`), onPushProblem: (m) => this.logToStderr(`Warning: ${m}`)})
    for (const run of changed) this.log(`${run.runId} ${run.status}${run.exitCode === undefined ? '' : ` (exit code ${run.exitCode})`}${run.error && run.status !== 'Completed' ? `: ${run.error}` : ''}`)
    this.logToStderr(checked === 0 ? 'No run is out on a compute target.' : `Looked at ${checked} run${checked === 1 ? '' : 's'} on compute targets; ${changed.length} changed.`)
  }
}
