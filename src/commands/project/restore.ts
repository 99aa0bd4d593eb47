import * as Flags from '@oclif/core/flags'
import {createInterface} from 'node:readline/promises'
import {MlError} from '../../shared/errors.js'
import {applyRestore, planBackup, planRestore, planUndo, previewRestore, type RestorePlan} from '../../core/restore/restore.js'
import type {DataRestore} from '../../core/restore/data-restore.js'
import type {Progress} from '../../shared/progress.js'
import {MlCommand, quietFlag, runArg, runIdFlag, runIdOf} from '../../cli/ml-command.js'
import {escapeControl} from '../../render/escape-control.js'
import {plural} from '../../shared/plural.js'
import {progressBar} from '../../render/progress.js'
import {BACKUPS_PREFIX} from '../../core/project/layout.js'

export default class ProjectRestore extends MlCommand {
  static summary = "Put the project folder back to a run's snapshot, or undo the last restore."
  static description = `Writes the files of the run's snapshot with their modes and removes the files the snapshot does not have. .git/, .ml/, outputs/ and ignored files are never touched.
Nothing is lost: before writing, the current folder (with any ignored file the restore would overwrite) is saved as a backup, and \`ml project restore --undo\` puts it back. Each --undo uses up the backup it goes back to, so repeated --undo walks back through earlier restores. When the folder was changed after the restore, --undo first keeps it as a backup of its own, which --undo never takes: \`ml history list --backups\` lists every backup and \`--backup ID\` brings any of them back. --dry-run lists what would change and writes nothing.
A snapshot that would write outside the folder, into .git or .ml, through a symlink, or with names the file system cannot hold is refused before anything is written (UNSAFE_PATH).
A restore killed half-way is finished by the next ml command; anything changed in the folder after the crash is kept as a backup first.
--with-data also puts the tracked data (\`ml data track\`) back to the versions the run read: the files this machine lacks come from the project's artifact store first, each checked against its sha256, and the data files it changes or removes are kept in the object cache with the backup, so --undo puts them back too.
A restore that takes more than a second shows a progress bar on a terminal (not with -q).
Asks for confirmation on a terminal; --yes skips the question, and without a terminal --yes is required.`

  static examples = [
    '<%= config.bin %> <%= command.id %> iris_1732240000000_3f2a',
    '<%= config.bin %> <%= command.id %> iris_17322 --yes',
    '<%= config.bin %> <%= command.id %> iris_17322 --dry-run',
    '<%= config.bin %> <%= command.id %> iris_17322 --with-data --yes',
    '<%= config.bin %> <%= command.id %> --undo',
    '<%= config.bin %> <%= command.id %> --backup 1795313438318',
  ]

  static args = runArg
  static flags = {
    'run-id': runIdFlag,
    undo: Flags.boolean({description: 'Put back what the folder held before the last restore (instead of RUN).'}),
    backup: Flags.string({description: 'Id of a backup (or a unique prefix of it), as `ml history list --backups` lists them, to put back (instead of RUN).'}),
    'with-data': Flags.boolean({description: "Also put the tracked data back to the versions the run read (from the artifact store when this machine lacks them)."}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
    'dry-run': Flags.boolean({description: 'Only list what would be written, changed and removed; write nothing.'}),
    quiet: quietFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ProjectRestore)
    const cwd = process.cwd()
    const named = args.run !== undefined || flags['run-id'] !== undefined
    if ([named, flags.undo, flags.backup !== undefined].filter(Boolean).length > 1) {
      throw new MlError('INVALID_ARGUMENT', 'Give one of a run to restore, --undo or --backup ID, not several.')
    }
    if (flags['with-data'] && !named) throw new MlError('INVALID_ARGUMENT', '--with-data goes with a run to restore; --undo and --backup put back the data their backup kept by themselves.')
    const plan = flags.undo ? await planUndo(cwd) : flags.backup !== undefined ? await planBackup(cwd, flags.backup) : await planRestore(cwd, runIdOf(args.run, flags['run-id']), {withData: flags['with-data']})
    if (flags['dry-run'] || !flags.yes) {
      const changes = [...await previewRestore(plan), ...dataChangeList(plan.data ?? [])]
      if (flags['dry-run']) {
        for (const change of changes) this.log(`${VERBS[change.status] ?? 'change'}  ${escapeControl(change.path)}`)
        this.log(`Restoring ${plan.label}: ${describe(changes)} (dry run: nothing was written).`)
        return
      }
      if (changes.length > 0) await this.confirm(plan, changes)
    }
    const fetching = progressBar('Fetch', flags.quiet)
    // Two bars: staging the folder for its backup can take seconds before the first file is written.
    const staging = progressBar('Backup', flags.quiet)
    const progress = progressBar('Restore', flags.quiet)
    const onProgress = progress.onProgress && ((p: Progress) => {
      staging.stop()
      progress.onProgress!(p)
    })
    const result = await applyRestore(plan, {onNotice: (m) => progress.log(m), onStaging: staging.onProgress, onProgress, access: this.auth(), onFetching: fetching.onProgress}).finally(() => {
      fetching.stop()
      staging.stop()
      progress.stop()
    })
    const all = [...result.changes, ...dataChangeList(result.data)]
    if (all.length === 0) {
      this.log(`The folder already matches ${plan.label}; nothing was changed.`)
      return
    }
    const data = result.data.length > 0 ? ` (data: ${result.data.map((r) => escapeControl(r.path)).join(', ')})` : ''
    this.log(`Restored ${plan.label}: ${describe(all)}${data}.`)
    if (result.backupRef && flags.undo) {
      this.log(`The files you had changed since that restore are kept; to get them back run \`ml project restore --backup ${result.backupRef.slice(BACKUPS_PREFIX.length)}\`.`)
    } else if (result.backupRef) {
      this.log('Your previous files are kept; to get them back run `ml project restore --undo`.')
    }
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

/** A data restore's files as changes of the kinds a code restore lists. */
function dataChangeList(restores: DataRestore[]): Array<{status: string; path: string}> {
  return restores.flatMap(({diff}) => [
    ...diff.added.map((e) => ({status: 'added', path: e.path})),
    ...diff.changed.map((c) => ({status: 'modified', path: c.after.path})),
    ...diff.removed.map((e) => ({status: 'deleted', path: e.path})),
  ])
}

function describe(changes: {status: string}[]): string {
  const count = (s: string) => changes.filter((c) => c.status === s).length
  const written = count('added')
  const removed = count('deleted')
  const changed = changes.length - written - removed
  return `${plural(written, 'file')} written, ${changed} changed, ${removed} removed`
}
