import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {ShadowRepo, TreeChange} from '../git/shadow-repo.js'
import {MlError} from './errors.js'
import {dropStamp} from './folder-stamp.js'
import {AMLIGNORE, isGitignore} from './ignore-rules.js'
import {type LockOptions, withProjectLock} from './lock.js'
import type {OnProgress} from './progress.js'
import {findProject, ML_DIR, openHistory, type Project} from './project.js'
import {getRun, resolveRunId} from './runs.js'
import {assertSafeRestore} from './safe-paths.js'
import {stageProject, stampRestored} from './snapshot.js'
import {crashPoint, crashPointArmed} from './crash-point.js'
import {isGitOid} from './trust/ids.js'
import {writeAtomically} from './write-atomically.js'

export const BACKUPS_PREFIX = 'refs/ml/backups/'
const RESTORED_TRAILER = 'ml-restored-tree: '
/** The subjects of the two kinds of backups: `--undo` pops only the first kind. */
const RESTORE_SUBJECT = 'Before restoring '
const UNDO_SUBJECT = 'Before undoing to '

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
}

export interface RestoreResult {
  /** The pre-restore snapshot, or none when nothing had to be kept. */
  backupRef?: string
  changes: TreeChange[]
}

/** Plans putting the folder back to the snapshot of a run (a unique prefix of its id is enough). */
export async function planRestore(cwd: string, runIdOrPrefix: string): Promise<RestorePlan> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const runId = await resolveRunId(repo, runIdOrPrefix)
  const run = await getRun(repo, runId)
  const targetTree = await repo.treeOf(run.snapshotId).catch(() => {
    throw new MlError('PROJECT_CORRUPT', `The snapshot ${run.snapshotId} of run ${runId} is missing from the history; pull the history again (\`ml history pull\`).`)
  })
  return {project, repo, label: `run ${runId}`, targetCommit: run.snapshotId, targetTree}
}

/**
 * Plans undoing the latest restore: back to the newest pre-restore snapshot, which the undo uses
 * up, so that repeated undos walk back through the restores. What the folder held before the
 * undo, when it had changed since the restore, is kept as a backup of another kind that undo
 * never takes (`restore --backup ID` brings it back).
 */
export async function planUndo(cwd: string): Promise<RestorePlan> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  for (const backupRef of (await repo.listRefs(BACKUPS_PREFIX)).reverse()) {
    const commit = (await repo.resolveRef(backupRef))!
    const message = await repo.commitMessage(commit)
    if (!message.startsWith(RESTORE_SUBJECT)) continue
    const restoredTree = message.split('\n').find((l) => l.startsWith(RESTORED_TRAILER))?.slice(RESTORED_TRAILER.length).trim()
    const label = `backup ${backupRef.slice(BACKUPS_PREFIX.length)}`
    return {project, repo, label, targetCommit: commit, targetTree: await repo.treeOf(commit), backupRef, restoredTree}
  }
  throw new MlError('NOTHING_TO_UNDO', 'There is no restore to undo; `ml project restore --undo` goes back to what the folder held before a restore.')
}

/** Plans putting the folder back to a backup (its id, or a unique prefix of it), which is kept. */
export async function planBackup(cwd: string, idOrPrefix: string): Promise<RestorePlan> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const ids = (await repo.listRefs(BACKUPS_PREFIX)).map((ref) => ref.slice(BACKUPS_PREFIX.length))
  const matches = ids.includes(idOrPrefix) ? [idOrPrefix] : ids.filter((id) => idOrPrefix && id.startsWith(idOrPrefix))
  if (matches.length !== 1) {
    throw new MlError('BACKUP_NOT_FOUND', `${matches.length ? `"${idOrPrefix}" matches ${matches.length} backups` : `No backup id starts with "${idOrPrefix}"`}; list them with \`ml history list --backups\`.`)
  }
  const commit = (await repo.resolveRef(`${BACKUPS_PREFIX}${matches[0]}`))!
  return {project, repo, label: `backup ${matches[0]}`, targetCommit: commit, targetTree: await repo.treeOf(commit)}
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
  const since = Date.now()
  const staged = await stageProject(project, async () => repo, {...options, onProgress: options.onStaging})
  const changes = await repo.diffTrees(staged.tree, plan.targetTree)
  const sizes = await assertSafeRestore(repo, project.dir, staged.tree, plan.targetTree, changes)
  let backupRef: string | undefined
  if (changes.length > 0) {
    const current = await withFilesInTheWay(repo, project.dir, staged.tree, changes)
    if (current !== plan.targetTree && current !== plan.restoredTree) {
      backupRef = await keepBackup(repo, current, `${plan.backupRef ? UNDO_SUBJECT : RESTORE_SUBJECT}${plan.label}`, plan.targetTree)
    }
    const bytes = [...sizes.values()].reduce((a, b) => a + b, 0)
    const exact = await checkoutJournaled(project, repo, {targetTree: plan.targetTree, fromTree: current, label: plan.label}, current, {...options, bytes})
    // New ignore rules would change what the folder's snapshot holds: then no stamp.
    if (exact && !changes.some((c) => isGitignore(c.path) || c.path === AMLIGNORE)) {
      await stampRestored(project, repo, plan.targetTree, staged, changes, since)
    }
  }
  if (plan.backupRef) await repo.deleteRef(plan.backupRef)
  return {backupRef, changes}
}

/** What a restore in progress writes first, so that the next ml command can finish it: where it goes and where it came from. */
interface Journal {
  targetTree: string
  /** The tree of the folder (with ignored files in the way) when the restore began; absent in journals of older versions. */
  fromTree?: string
  label: string
}

function journalPath(project: Project): string {
  return path.join(project.dir, ML_DIR, 'restore-in-progress.json')
}

/** `tree` (the folder as staged) plus the ignored files a restore would overwrite, so that a backup of it keeps them too. */
async function withFilesInTheWay(repo: ShadowRepo, dir: string, tree: string, changes: TreeChange[]): Promise<string> {
  const inTheWay = await existingPaths(dir, changes.filter((c) => c.status === 'added').map((c) => c.path))
  return inTheWay.length > 0 ? repo.stagePaths(inTheWay) : tree
}

/** Keeps `tree` as a backup ref (newest last), with `subject` saying what came next, and the tree that was then written. */
async function keepBackup(repo: ShadowRepo, tree: string, subject: string, targetTree: string): Promise<string> {
  const commit = await repo.commit(tree, [], `${subject}\n\n${RESTORED_TRAILER}${targetTree}\n`)
  const ref = `${BACKUPS_PREFIX}${Date.now()}-${randomBytes(2).toString('hex')}`
  await repo.updateRef(ref, commit, null, subject.toLowerCase())
  return ref
}

/**
 * Checks `journal.targetTree` out over the folder, whose tree is `baseline`, with the journal on
 * disk while it runs. True when the index then holds exactly the tree.
 */
async function checkoutJournaled(project: Project, repo: ShadowRepo, journal: Journal, baseline: string, options: {onProgress?: OnProgress; bytes?: number}): Promise<boolean> {
  await dropStamp(project)
  const file = journalPath(project)
  await writeAtomically(file, JSON.stringify(journal))
  crashPoint('restore-journal')
  const crashing = crashPointArmed('restore-checkout-')
  const onProgress = (options.onProgress || crashing) ? (done: number, total: number) => {
    if (crashing) crashPoint(`restore-checkout-${done}`)
    // libgit2 tells counts, not which files: the bytes written are estimated in proportion.
    const bytesTotal = options.bytes ?? 0
    options.onProgress?.({done, total, bytesDone: total ? Math.round((bytesTotal * done) / total) : 0, bytesTotal})
  } : undefined
  const exact = await repo.checkoutTree(journal.targetTree, baseline, onProgress, crashing)
  crashPoint('restore-checked-out')
  await fs.rm(file, {force: true})
  return exact
}

/** True when a restore was killed half-way: its journal is still there. */
export async function restoreInterrupted(project: Project): Promise<boolean> {
  return fs.access(journalPath(project)).then(() => true, () => false)
}

/**
 * Finishes a restore that was killed half-way (its backup was taken before it wrote anything),
 * so the folder is never left half old, half new. Whatever was changed in the folder since the
 * crash (a file that is neither as the restore began nor as it ends) is kept as a backup first.
 * A journal that cannot be finished (unreadable, or its target refused) is dropped after that
 * backup, so one bad journal never blocks every later command. Call with the project lock held.
 */
export async function finishInterruptedRestore(project: Project, repo: ShadowRepo, options: LockOptions = {}): Promise<void> {
  const file = journalPath(project)
  const text = await fs.readFile(file, 'utf8').catch(() => null)
  if (text === null) return
  await dropStamp(project)
  const journal = parseJournal(text)
  const staged = await repo.stageFolder()
  if (!journal || (await repo.treeReader().kind(journal.targetTree)) !== 'tree') {
    await keepBackup(repo, staged, `${RESTORE_SUBJECT}the interrupted restore (its journal was unreadable)`, staged)
    await fs.rm(file, {force: true})
    options.onNotice?.('A restore was interrupted and its journal could not be read; the folder was left as it was and kept as a backup (`ml history list --backups`); `ml project restore --undo` goes back to before that restore.')
    return
  }
  const {targetTree} = journal
  const changes = await repo.diffTrees(staged, targetTree)
  try {
    await assertSafeRestore(repo, project.dir, staged, targetTree, changes)
  } catch (error) {
    await keepBackup(repo, staged, `${RESTORE_SUBJECT}${journal.label}`, targetTree)
    await fs.rm(file, {force: true})
    throw error
  }
  const current = await withFilesInTheWay(repo, project.dir, staged, changes)
  if (await changedSinceCrash(repo, current, journal)) await keepBackup(repo, current, `${RESTORE_SUBJECT}${journal.label} (changes made after it was interrupted)`, targetTree)
  await checkoutJournaled(project, repo, journal, current, {})
  options.onNotice?.(`Finished restoring ${journal.label}, which was interrupted; \`ml project restore --undo\` goes back to what the folder held before it.`)
}

/** The journal, or null when it is not one ml wrote. */
function parseJournal(text: string): Journal | null {
  try {
    const {targetTree, fromTree, label} = JSON.parse(text) as Partial<Journal>
    if (!isGitOid(targetTree) || (fromTree !== undefined && !isGitOid(fromTree)) || typeof label !== 'string') return null
    return {targetTree, fromTree, label}
  } catch {
    return null
  }
}

/**
 * True when the folder holds something that is neither as the interrupted restore found it nor
 * as it leaves it: an edit made after the crash, which the restore's own backup does not hold.
 */
async function changedSinceCrash(repo: ShadowRepo, current: string, journal: Journal): Promise<boolean> {
  if (current === journal.targetTree) return false
  if (!journal.fromTree) return true
  const notTarget = new Set((await repo.diffTrees(current, journal.targetTree)).map((c) => c.path))
  return (await repo.diffTrees(current, journal.fromTree)).some((c) => notTarget.has(c.path))
}

/** The paths of `paths` that exist in the folder (ignored files a restore would overwrite). */
async function existingPaths(dir: string, paths: string[]): Promise<string[]> {
  const found: string[] = []
  for (const p of paths) {
    const stat = await fs.lstat(path.join(dir, p)).catch(() => null)
    if (stat && !stat.isDirectory()) found.push(p)
  }
  return found
}
