import type {ShadowRepo} from '../../git/shadow-repo.js'
import type {TreeChange} from '../../git/trees.js'
import {MlError} from '../../shared/errors.js'
import {isGitignore} from '../../shared/git-files.js'
import type {OnProgress} from '../../shared/progress.js'
import {AMLIGNORE} from '../snapshot/ignore-rules.js'
import {type LockOptions, withProjectLock} from '../project/lock.js'
import {findProject, type Project} from '../project/project.js'
import {checkoutJournaled, keepBackup, RESTORE_SUBJECT, RESTORED_TRAILER, UNDO_SUBJECT, withFilesInTheWay} from '../snapshot/restore-journal.js'
import {getRun, resolveRunId} from '../runs/runs.js'
import {assertSafeRestore} from '../snapshot/safe-paths.js'
import {stageProject, stampRestored} from '../snapshot/snapshot.js'
import {BACKUPS_PREFIX} from '../project/layout.js'
import {openHistory} from '../snapshot/open-history.js'
import type {Manifest} from '../data/manifest.js'
import type {StoreAccess} from '../data/project-store.js'
import {runManifests} from '../runs/run-inputs.js'
import {backupData, currentVersions, dataChanges, type DataRestore, fetchDataTargets, keepDataBefore, planDataRestore, writeDataRestores} from './data-restore.js'
import {beginStampCheck} from '../snapshot/early-stamp-check.js'

/** A restore to be done: what the folder is put back to. */
export interface RestorePlan {
  project: Project
  repo: ShadowRepo
  /** What the folder is put back to: `run <id>` or `backup <ref>`. */
  label: string
  targetCommit: string
  targetTree: string
  /** For an undo: the backup that is used up. */
  backupRef?: string
  /** For an undo: the tree the undone restore wrote; no new backup is needed when the folder still has it. */
  restoredTree?: string
  /** With data: the versions the tracked paths are put back to, and how the folder's data differs from them now. */
  dataTargets?: Manifest[]
  data?: DataRestore[]
  /** For an undo with data: the versions the undone restore wrote. */
  dataRestored?: string[]
}

export interface RestoreResult {
  /** The pre-restore snapshot, or none when nothing had to be kept. */
  backupRef?: string
  changes: TreeChange[]
  /** The tracked paths whose data was put back, with what changed. */
  data: DataRestore[]
}

/**
 * Plans putting the folder back to the snapshot of a run (a unique prefix of its id is enough),
 * and with `withData` its tracked data to the versions the run read.
 */
export async function planRestore(cwd: string, runIdOrPrefix: string, options: {withData?: boolean} = {}): Promise<RestorePlan> {
  const project = await findProject(cwd)
  beginStampCheck(project.dir)
  const repo = await openHistory(project)
  const runId = await resolveRunId(repo, runIdOrPrefix)
  const run = await getRun(repo, runId)
  const targetTree = await repo.treeOf(run.snapshotId).catch(() => {
    throw new MlError('PROJECT_CORRUPT', `The snapshot ${run.snapshotId} of run ${runId} is missing from the history; pull the history again (\`ml history pull\`).`)
  })
  const plan: RestorePlan = {project, repo, label: `run ${runId}`, targetCommit: run.snapshotId, targetTree}
  if (!options.withData) return plan
  const manifests = await runManifests(repo, run)
  if (manifests.length === 0) throw new MlError('INVALID_ARGUMENT', `Run ${runId} read no tracked data; restore it without --with-data.`)
  return withData(plan, manifests.map((m) => m.manifest))
}

/** The plan with its data part: the targets, and how the folder differs from them now. */
async function withData(plan: RestorePlan, targets: Manifest[], restored?: string[]): Promise<RestorePlan> {
  return {...plan, dataTargets: targets, data: await planDataRestore(plan.project, targets), dataRestored: restored}
}

/** A plan going back to a backup brings back the data it kept, if it kept any. */
async function withBackupData(plan: RestorePlan): Promise<RestorePlan> {
  const data = await backupData(plan.repo, plan.targetCommit)
  return data ? withData(plan, data.before, data.restored) : plan
}

/**
 * Plans undoing the latest restore: back to the newest pre-restore snapshot, which the undo uses
 * up, so that repeated undos walk back through the restores. What the folder held before the
 * undo, when it had changed since the restore, is kept as a backup of another kind that undo
 * never takes (`restore --backup ID` brings it back).
 */
export async function planUndo(cwd: string): Promise<RestorePlan> {
  const project = await findProject(cwd)
  beginStampCheck(project.dir)
  const repo = await openHistory(project)
  for (const backupRef of (await repo.listRefs(BACKUPS_PREFIX)).reverse()) {
    const commit = (await repo.resolveRef(backupRef))!
    const message = await repo.commitMessage(commit)
    if (!message.startsWith(RESTORE_SUBJECT)) continue
    const restoredTree = message.split('\n').find((l) => l.startsWith(RESTORED_TRAILER))?.slice(RESTORED_TRAILER.length).trim()
    const label = `backup ${backupRef.slice(BACKUPS_PREFIX.length)}`
    return withBackupData({project, repo, label, targetCommit: commit, targetTree: await repo.treeOf(commit), backupRef, restoredTree})
  }
  throw new MlError('NOTHING_TO_UNDO', 'There is no restore to undo; `ml project restore --undo` goes back to what the folder held before a restore.')
}

/** Plans putting the folder back to a backup (its id, or a unique prefix of it), which is kept. */
export async function planBackup(cwd: string, idOrPrefix: string): Promise<RestorePlan> {
  const project = await findProject(cwd)
  beginStampCheck(project.dir)
  const repo = await openHistory(project)
  const ids = (await repo.listRefs(BACKUPS_PREFIX)).map((ref) => ref.slice(BACKUPS_PREFIX.length))
  const matches = ids.includes(idOrPrefix) ? [idOrPrefix] : ids.filter((id) => idOrPrefix && id.startsWith(idOrPrefix))
  if (matches.length !== 1) {
    throw new MlError('BACKUP_NOT_FOUND', `${matches.length ? `"${idOrPrefix}" matches ${matches.length} backups` : `No backup id starts with "${idOrPrefix}"`}; list them with \`ml history list --backups\`.`)
  }
  const commit = (await repo.resolveRef(`${BACKUPS_PREFIX}${matches[0]}`))!
  return withBackupData({project, repo, label: `backup ${matches[0]}`, targetCommit: commit, targetTree: await repo.treeOf(commit)})
}

/**
 * What carrying out `plan` would change in the folder as it is now, for a dry run or a
 * confirmation; refuses an unsafe snapshot (UNSAFE_PATH). Writes nothing but the folder stamp.
 */
export async function previewRestore(plan: RestorePlan): Promise<TreeChange[]> {
  const {project, repo} = plan
  const current = await withProjectLock(project, async () => {
    const staged = await stageProject(project, async () => repo)
    await staged.remember()
    return staged.tree
  })
  const changes = await repo.diffTrees(current, plan.targetTree)
  await assertSafeRestore(repo, project.dir, current, plan.targetTree, changes)
  return changes
}

/** A pre-restore snapshot, newest last: `ml project restore --undo` takes the newest of kind `restore`. */
export interface Backup {
  id: string
  commit: string
  /** When it was taken. */
  time: string
  /** Taken by a restore (undo goes back to it), or by an undo of a folder changed since the restore it undid. */
  kind: 'restore' | 'undo'
  /** What the restore or undo that made it put back. */
  before: string
}

export async function listBackups(cwd: string): Promise<Backup[]> {
  const repo = await openHistory(await findProject(cwd))
  const backups: Backup[] = []
  for (const ref of await repo.listRefs(BACKUPS_PREFIX)) {
    const id = ref.slice(BACKUPS_PREFIX.length)
    const commit = (await repo.resolveRef(ref))!
    const subject = (await repo.commitMessage(commit)).split('\n')[0]
    const kind = subject.startsWith(UNDO_SUBJECT) ? 'undo' : 'restore'
    const before = kind === 'undo' ? `undo to ${subject.slice(UNDO_SUBJECT.length)}` : subject.replace(RESTORE_SUBJECT, '')
    backups.push({id, commit, time: new Date(Number.parseInt(id, 10)).toISOString(), kind, before})
  }
  return backups
}

export interface RestoreOptions extends LockOptions {
  /** Told how far staging the folder (for its backup) has come, before anything is written. */
  onStaging?: OnProgress
  /** For a plan with data: reaching the store (files this machine lacks), and how far fetching them has come. */
  access?: StoreAccess
  onFetching?: OnProgress
}

/**
 * Carries out a plan. The folder is snapshotted again first (it may have changed since the
 * plan), including any ignored file the restore would overwrite, and kept as a backup ref,
 * so that nothing the folder held is ever lost.
 */
export async function applyRestore(plan: RestorePlan, options: RestoreOptions = {}): Promise<RestoreResult> {
  return withProjectLock(plan.project, () => applyLocked(plan, options), options)
}

async function applyLocked(plan: RestorePlan, options: RestoreOptions): Promise<RestoreResult> {
  const {project, repo} = plan
  const access = options.access ?? {home: '', env: {}}
  // The data first: what the folder holds now, and every file the target needs on this machine, before anything is written.
  const restores = plan.dataTargets ? await planDataRestore(project, plan.dataTargets) : []
  const dataChanged = dataChanges(restores) > 0
  if (dataChanged) await fetchDataTargets(project, restores, {...access, onProgress: options.onFetching})
  const staged = await stageProject(project, async () => repo, {...options, onProgress: options.onStaging})
  const changes = await repo.diffTrees(staged.tree, plan.targetTree)
  const written = await assertSafeRestore(repo, project.dir, staged.tree, plan.targetTree, changes)
  let backupRef: string | undefined
  if (changes.length > 0 || dataChanged) {
    const current = changes.length > 0 ? await withFilesInTheWay(repo, project.dir, staged.tree, changes) : staged.tree
    const dataKept = dataChanged && String(currentVersions(restores)) !== String(plan.dataRestored)
    if ((current !== plan.targetTree && current !== plan.restoredTree) || dataKept) {
      const parents = dataChanged ? [await keepDataBefore(project, repo, restores, access)] : []
      backupRef = await keepBackup(repo, current, `${plan.backupRef ? UNDO_SUBJECT : RESTORE_SUBJECT}${plan.label}`, plan.targetTree, parents)
    }
    if (dataChanged) await writeDataRestores(project, restores, access)
    if (changes.length > 0) {
      const bytes = [...written.values()].reduce((sum, entry) => sum + entry.size, 0)
      const exact = await checkoutJournaled(project, repo, {targetTree: plan.targetTree, fromTree: current, label: plan.label}, current, {...options, bytes})
      // New ignore rules would change what the folder's snapshot holds: then no stamp.
      if (exact && !changes.some((c) => isGitignore(c.path) || c.path === AMLIGNORE)) {
        await stampRestored(project, repo, plan.targetTree, staged, changes, written)
      }
    }
  }
  if (plan.backupRef) await repo.deleteRef(plan.backupRef)
  return {backupRef, changes, data: restores.filter((r) => dataChanges([r]) > 0)}
}
