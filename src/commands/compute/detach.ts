import * as Args from '@oclif/core/args'
import {MlCommand} from '../../cli/ml-command.js'
import {detachTarget} from '../../core/compute/targets.js'

export default class ComputeDetach extends MlCommand {
  static summary = 'Detach a compute target.'
  static description = 'Removes .ml/compute/NAME.json. Refused (COMPUTE_IN_USE) while runs submitted to it from here have not been recorded as ended. The runs recorded on it stay in the history.'
  static examples = ['<%= config.bin %> <%= command.id %> gpubox']
  static args = {name: Args.string({description: "The target's name.", required: true})}

  async run(): Promise<void> {
    const {args} = await this.parse(ComputeDetach)
    const target = await detachTarget(process.cwd(), args.name)
    this.log(`Detached ${target.name}.`)
  }
}
