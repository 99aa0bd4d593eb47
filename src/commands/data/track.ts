import * as Args from '@oclif/core/args'
import {trackData} from '../../core/data/tracked.js'
import {escapeControl} from '../../render/escape-control.js'
import {MlCommand} from '../../cli/ml-command.js'

export default class DataTrack extends MlCommand {
  static summary = 'Track data folders or files that runs read.'
  static description = `Each PATH (a folder or a file inside the project) is written to .mldata, a small file to commit with your code (it names the path and nothing else), and to the root .gitignore. Tracked paths are left out of every snapshot, whatever their size: before each run, ml records their version instead (every file's path, size, mode and sha256, and the id of that list) in the run's record, so every run says exactly which data it read. Unchanged files are recognised by their stats and not read again.
With an artifact store (\`ml project update --store URL\`), pushes send the data files the store lacks, and teammates get them back with \`ml data pull\` or \`ml project restore RUN --with-data\`.`

  static examples = [
    '<%= config.bin %> <%= command.id %> data/',
    '<%= config.bin %> <%= command.id %> data/train.csv data/test.csv',
  ]

  static strict = false
  static args = {path: Args.string({description: 'A folder or file inside the project.', required: true})}

  async run(): Promise<void> {
    const {argv} = await this.parse(DataTrack)
    const {changed, unchanged} = await trackData(process.cwd(), argv as string[])
    for (const p of changed) this.log(`Tracking ${escapeControl(p)} (in .mldata and .gitignore; commit both with your code)`)
    for (const p of unchanged) this.log(`${escapeControl(p)} is tracked already`)
  }
}
