import * as Args from '@oclif/core/args'
import {MlCommand} from '../../cli/ml-command.js'
import {removeFromQueue} from '../../core/execution/queue.js'

export default class QueueRemove extends MlCommand {
  static summary = 'Take queued runs off the queue.'
  static description = 'Each run is recorded as Canceled ("Removed from the queue"). Every run must be Queued (RUN_NOT_QUEUED otherwise, and then none is changed).'
  static examples = ['<%= config.bin %> <%= command.id %> iris_1795313437375']
  static strict = false
  static args = {runs: Args.string({description: 'Run ids (or unique prefixes).', required: true})}

  async run(): Promise<void> {
    const {argv} = await this.parse(QueueRemove)
    for (const run of await removeFromQueue(process.cwd(), argv as string[])) this.log(`Removed ${run.runId} from the queue.`)
  }
}
