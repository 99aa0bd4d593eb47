import {MlCommand} from '../../cli/ml-command.js'
import {syncRuns, type TargetSync} from '../../core/compute/sync.js'

export default class HistorySync extends MlCommand {
  static summary = 'Record what happened to runs out on compute targets.'
  static description = `Looks at every run this machine submitted to an ssh host or a Slurm cluster that is not recorded as ended: a Slurm job that started is recorded as Running (with its node), and a run that ended is brought back (log, metrics, environment, outputs/) and recorded as Completed, Failed or Canceled, with its exit code; then its folders on the target are removed. A run whose submit still follows it is left to that submit. \`ml history list\` does this too, at most every 5 seconds.
Every target with runs out is tried, even one \`ml history list\` leaves alone because it did not answer lately, and gets one line: \`NAME: synced N runs (M changed)\`, or \`NAME: unreachable: why\` (its runs are looked at again next time).`

  static examples = ['<%= config.bin %> <%= command.id %>']

  async run(): Promise<void> {
    await this.parse(HistorySync)
    const {checked, changed, targets} = await syncRuns(process.cwd(), {auth: this.auth(), mlVersion: this.config.version, push: true, perTarget: true, onWarning: (m) => this.logToStderr(`Warning: ${m}`), onPushProblem: (m) => this.logToStderr(`Warning: ${m}`)})
    for (const run of changed) this.log(`${run.runId} ${run.status}${run.exitCode === undefined ? '' : ` (exit code ${run.exitCode})`}${run.error && run.status !== 'Completed' ? `: ${run.error}` : ''}`)
    for (const target of targets) this.log(targetLine(target))
    this.logToStderr(checked === 0 && targets.length === 0 ? 'No run is out on a compute target.' : `Looked at ${checked} run${checked === 1 ? '' : 's'} on compute targets; ${changed.length} changed.`)
  }
}

/** One target's outcome, on one line. */
function targetLine(t: TargetSync): string {
  const synced = `synced ${t.checked} run${t.checked === 1 ? '' : 's'} (${t.changed} changed)`
  if (!t.problem) return `${t.name}: ${synced}`
  if (t.unreachable) return `${t.name}: unreachable: ${t.problem}`
  return `${t.name}: ${t.checked > 0 ? `${synced}, then failed` : 'failed'}: ${t.problem}`
}
