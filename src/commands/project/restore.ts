import {Flags} from '@oclif/core'
import {createInterface} from 'node:readline/promises'
import {MlError} from '../../core/errors.js'
import {applyRestore, planRestore, planUndo, previewRestore, type RestorePlan} from '../../core/restore.js'
import {MlCommand, quietFlag, runArg, runIdFlag, runIdOf} from '../../render/ml-command.js'
import {progressBar} from '../../render/progress.js'

export default class ProjectRestore extends MlCommand {
  static summary = "Put the project folder back to a run's snapshot, or undo the last restore."
  static description = `Writes the files of the run's snapshot with their modes and removes the files the snapshot does not have. .git/, .ml/, outputs/ and ignored files are never touched.
Nothing is lost: before writing, the current folder (with any ignored file the restore would overwrite) is saved as a backup, and \`ml project restore --undo\` puts it back. Repeated --undo walks back through earlier restores; \`ml history list --backups\` lists them. --dry-run lists what would change and writes nothing.
A snapshot that would write outside the folder, into .git, or through a symlink is refused before anything is written (UNSAFE_PATH).
A restore that takes more than a second shows a progress bar on a terminal (not with -q).
Asks for confirmation on a terminal; --yes skips the question, and without a terminal --yes is required.`

  static examples = [
    '<%= config.bin %> <%= command.id %> iris_1732240000000_3f2a',
    '<%= config.bin %> <%= command.id %> iris_17322 --yes',
    '<%= config.bin %> <%= command.id %> iris_17322 --dry-run',
    '<%= config.bin %> <%= command.id %> --undo',
  ]

  static args = runArg
  static flags = {
    'run-id': runIdFlag,
    undo: Flags.boolean({description: 'Put back what the folder held before the last restore (instead of RUN).'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
    'dry-run': Flags.boolean({description: 'Only list what would be written, changed and removed; write nothing.'}),
    quiet: quietFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ProjectRestore)
    if (flags.undo && (args.run ?? flags['run-id']) !== undefined) throw new MlError('INVALID_ARGUMENT', 'Give either a run to restore or --undo, not both.')
    const plan = flags.undo ? await planUndo(process.cwd()) : await planRestore(process.cwd(), runIdOf(args.run, flags['run-id']))
    if (flags['dry-run'] || !flags.yes) {
      const changes = await previewRestore(plan)
      if (flags['dry-run']) {
        for (const change of changes) this.log(`${VERBS[change.status] ?? 'change'}  ${change.path}`)
        this.log(`Restoring ${plan.label}: ${describe(changes)} (dry run: nothing was written).`)
        return
      }
      if (changes.length > 0) await this.confirm(plan, changes)
    }
    const progress = progressBar('Restore', flags.quiet)
    const result = await applyRestore(plan, {onNotice: (m) => this.logToStderr(m), onProgress: progress.onProgress}).finally(() => progress.stop())
    if (result.changes.length === 0) {
      this.log(`The folder already matches ${plan.label}; nothing was changed.`)
      return
    }
    this.log(`Restored ${plan.label}: ${describe(result.changes)}.`)
    if (result.backupRef) this.log('Your previous files are kept; to get them back run `ml project restore --undo`.')
  }

  private async confirm(plan: RestorePlan, changes: Array<{status: string}>): Promise<void> {
    if (!process.stdin.isTTY) {
      throw new MlError('CONFIRMATION_REQUIRED', 'Restoring changes files in the project folder and there is no terminal to confirm it; add --yes to go ahead.')
    }
    const rl = createInterface({input: process.stdin, output: process.stderr})
    try {
      const answer = await rl.question(`Restore ${plan.label} (${describe(changes)})? Your current files are kept as a backup. [y/N] `)
      if (!/^y(es)?$/i.test(answer.trim())) throw new MlError('ABORTED', 'Restore canceled; nothing was changed.')
    } finally {
      rl.close()
    }
  }
}

const VERBS: Record<string, string> = {added: 'write ', deleted: 'remove', modified: 'change'}

function describe(changes: {status: string}[]): string {
  const count = (s: string) => changes.filter((c) => c.status === s).length
  const written = count('added')
  const removed = count('deleted')
  const changed = changes.length - written - removed
  return `${written} files written, ${changed} changed, ${removed} removed`
}
