import {randomBytes} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import type {TreeChange} from '../../git/trees.js'
import type {OnProgress} from '../../shared/progress.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {crashPoint, crashPointArmed} from '../../shared/crash-point.js'
import {dropStamp} from './folder-stamp.js'
import type {LockOptions} from '../project/lock.js'
import {type Project} from '../project/project.js'
import {assertSafeRestore} from './safe-paths.js'
import {isGitOid} from '../trust/ids.js'
import {BACKUPS_PREFIX, mlPath} from '../project/layout.js'

/**
 * The part of a restore that must survive a crash: the backups it takes before writing, and the
 * journal that lets the next ml command finish a restore killed half-way. Used by restore.ts,
 * and by snapshot.ts, which finishes an interrupted restore before it stages the folder.
 */

export const RESTORED_TRAILER = 'ml-restored-tree: '
/** The subjects of the two kinds of backups: `--undo` pops only the first kind. */
export const RESTORE_SUBJECT = 'Before restoring '
export const UNDO_SUBJECT = 'Before undoing to '

/** What a restore in progress writes first, so that the next ml command can finish it: where it goes and where it came from. */
export interface Journal {
  targetTree: string
  /** The tree of the folder (with ignored files in the way) when the restore began; absent in journals of older versions. */
  fromTree?: string
  label: string
}

function journalPath(project: Project): string {
  return mlPath(project.dir, 'journal')
}

/** `tree` (the folder as staged) plus the ignored files a restore would overwrite, so that a backup of it keeps them too. */
export async function withFilesInTheWay(repo: ShadowRepo, dir: string, tree: string, changes: TreeChange[]): Promise<string> {
  const inTheWay = await existingPaths(dir, changes.filter((c) => c.status === 'added').map((c) => c.path))
  return inTheWay.length > 0 ? repo.stagePaths(inTheWay) : tree
}

/** Keeps `tree` as a backup ref (newest last), with `subject` saying what came next, and the tree that was then written. */
export async function keepBackup(repo: ShadowRepo, tree: string, subject: string, targetTree: string, parents: string[] = []): Promise<string> {
  const commit = await repo.commit(tree, parents, `${subject}\n\n${RESTORED_TRAILER}${targetTree}\n`)
  const ref = `${BACKUPS_PREFIX}${Date.now()}-${randomBytes(2).toString('hex')}`
  await repo.updateRef(ref, commit, null, subject.toLowerCase())
  return ref
}

/**
 * Checks `journal.targetTree` out over the folder, whose tree is `baseline`, with the journal on
 * disk while it runs. True when the index then holds exactly the tree.
 */
export async function checkoutJournaled(project: Project, repo: ShadowRepo, journal: Journal, baseline: string, options: {onProgress?: OnProgress; bytes?: number}): Promise<boolean> {
  await dropStamp(project)
  const file = journalPath(project)
  // Not synced, as the files libgit2 writes next are not: it has to outlive a killed process.
  await writeAtomically(file, JSON.stringify(journal), {sync: false})
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
  return existsSync(journalPath(project)) // synchronous: every snapshot asks, and nearly always no
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

