import {MlCommand, outputFlags} from '../../cli/ml-command.js'
import {queueStatus} from '../../core/execution/queue.js'
import {runColumns} from '../../render/runs.js'

export default class QueueStatus extends MlCommand {
  static summary = 'Show the queue: runs queued and running, and the worker.'
  static description = 'Lists the runs queued on this machine (oldest first, the next to start at the top) and those the queue worker is running, and says whether a worker runs and its pid. -o json prints {worker, running, queued}.'
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> -o json --query "length(queued)"']
  static flags = {...outputFlags}

  async run(): Promise<void> {
    const {flags} = await this.parse(QueueStatus)
    const status = await queueStatus(process.cwd())
    const rows = [...status.running, ...status.queued]
    if (flags.output === 'table' && flags.query === undefined) {
      const {worker} = status
      this.logToStderr(worker ? `Queue worker: ml process ${worker.pid} on ${worker.host}, ${worker.jobs} at once, since ${worker.since}.` : 'No queue worker runs; start one with `ml queue start`.')
      this.logToStderr(`${status.running.length} running, ${status.queued.length} queued.`)
      if (rows.length === 0) return
    }
    this.print(flags, status, rows, runColumns(rows))
  }
}
