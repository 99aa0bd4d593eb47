import * as Args from '@oclif/core/args'
import {untrackData} from '../../core/data/tracked.js'
import {escapeControl} from '../../render/escape-control.js'
import {MlCommand} from '../../cli/ml-command.js'

export default class DataUntrack extends MlCommand {
  static summary = 'Stop tracking data paths.'
  static description = 'Removes each PATH from .mldata and the line `ml data track` added to .gitignore. Its files stay where they are: the next snapshot takes them again unless .amlignore leaves them out. Runs that read it keep their records.'
  static examples = ['<%= config.bin %> <%= command.id %> data/']

  static strict = false
  static args = {path: Args.string({description: 'A tracked path.', required: true})}

  async run(): Promise<void> {
    const {argv} = await this.parse(DataUntrack)
    const {changed} = await untrackData(process.cwd(), argv as string[])
    for (const p of changed) this.log(`No longer tracking ${escapeControl(p)}`)
  }
}
