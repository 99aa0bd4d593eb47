import * as Args from '@oclif/core/args'
import {MlCommand} from '../../cli/ml-command.js'
import {cancelRuns} from '../../core/execution/cancel.js'

export default class ExperimentCancel extends MlCommand {
  static summary = 'Cancel queued or running runs.'
  static description = `A run on Slurm is canceled with scancel; a run on an ssh host is stopped there (SIGINT to its process group, then SIGTERM after 10 s and SIGKILL after 20 s); a run queued on this machine is taken off the queue. Each is recorded as Canceled. Only runs submitted from this machine can be canceled, and every run is checked first: if one cannot be canceled (RUN_NOT_CANCELABLE), none is.
A run running here in the project folder is stopped with Ctrl-C in its terminal.`

  static examples = ['<%= config.bin %> <%= command.id %> iris_1795313437375']
  static strict = false
  static args = {runs: Args.string({description: 'Run ids (or unique prefixes).', required: true})}

  async run(): Promise<void> {
    const {argv} = await this.parse(ExperimentCancel)
    const runs = await cancelRuns(process.cwd(), argv as string[], {auth: this.auth(), mlVersion: this.config.version, push: true, onWarning: (m) => this.logToStderr(`Warning: ${m}`), onPushProblem: (m) => this.logToStderr(`Warning: ${m}`)})
    for (const run of runs) this.log(`${run.runId} ${run.status === 'Canceled' ? 'canceled' : `is ${run.status} (its cancel is recorded by \`ml history sync\` once Slurm or the host has stopped it)`}.`)
  }
}
