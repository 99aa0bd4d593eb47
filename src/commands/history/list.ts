import {Flags} from '@oclif/core'
import {historyList} from '../../core/history.js'
import {MlCommand, outputFlag} from '../../render/ml-command.js'
import {render} from '../../render/output.js'
import {runColumns} from '../../render/runs.js'

export default class HistoryList extends MlCommand {
  static summary = "List the project's runs, newest first."
  static description = 'The table shows each run\'s id, status, start time, duration, script, snapshot, git commit of your repo and whether it was dirty. -o json prints the full run records with all their properties; -o tsv prints the table\'s cells without a header, for scripts. For a project with a remote, PUSHED (and "pushed" in JSON) tells whether the remote has the run\'s latest state.'
  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --last 5 -o json',
  ]

  static flags = {
    output: outputFlag(),
    last: Flags.integer({description: 'Show only the N newest runs.', min: 1}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(HistoryList)
    const runs = await historyList(process.cwd(), {last: flags.last})
    if (runs.length === 0 && flags.output === 'table') {
      this.logToStderr('No runs yet; start one with `ml experiment submit <script>`.')
      return
    }
    process.stdout.write(render(flags.output, runs, runColumns(runs)))
  }
}
