import * as Flags from '@oclif/core/flags'
import {snapshotProject} from '../../core/snapshot/snapshot.js'
import {MlCommand} from '../../cli/ml-command.js'
import {progressBar} from '../../render/progress.js'

export default class ProjectSnapshot extends MlCommand {
  static summary = 'Record the project folder in the run history now, without running anything.'
  static description = `Snapshots the folder onto the history branch, as \`ml experiment submit\` does before a run: a new commit only when something changed since the last snapshot. Prints the snapshot's commit id.
On a terminal, a snapshot that takes more than a second shows a progress bar (files and MB done, rate); -q draws none.
Useful before an experiment you run outside ml, or to keep a state of the folder you may want to go back to.`

  static examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> -m "before switching the tokenizer"',
  ]

  static flags = {
    message: Flags.string({char: 'm', description: 'Message of the snapshot commit.', default: 'Snapshot'}),
    quiet: Flags.boolean({char: 'q', description: 'Print only the commit id, and draw no progress bar.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ProjectSnapshot)
    const progress = progressBar('Snapshot', flags.quiet)
    const snapshot = await snapshotProject(process.cwd(), flags.message, {onNotice: (m) => progress.log(`Warning: ${m}`), onProgress: progress.onProgress})
      .finally(() => progress.stop())
    if (flags.quiet) this.log(snapshot.commit)
    else this.log(snapshot.created ? `Recorded snapshot ${snapshot.commit}.` : `Nothing changed since snapshot ${snapshot.commit}; it was kept.`)
  }
}
