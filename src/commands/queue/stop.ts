import * as Flags from '@oclif/core/flags'
import {MlCommand} from '../../cli/ml-command.js'
import {stopQueue} from '../../core/execution/queue.js'
import {plural} from '../../shared/plural.js'

export default class QueueStop extends MlCommand {
  static summary = 'Stop the queue worker.'
  static description = 'The worker starts no more runs and ends when its running runs have ended; with --now it cancels them (SIGINT to their scripts, then SIGTERM and SIGKILL), recorded as Canceled. Queued runs stay queued. QUEUE_NOT_RUNNING when no worker runs.'
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --now']
  static flags = {now: Flags.boolean({description: 'Cancel the running runs too.'})}

  async run(): Promise<void> {
    const {flags} = await this.parse(QueueStop)
    const {worker, running} = await stopQueue(process.cwd(), flags.now)
    this.log(flags.now
      ? `Asked the queue worker (ml process ${worker.pid}) to cancel its ${plural(running, 'running run')} and stop.`
      : `Asked the queue worker (ml process ${worker.pid}) to stop after its ${plural(running, 'running run')}.`)
  }
}
