import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {ShadowRepo, TreeChange} from '../git/shadow-repo.js'
import {MlError} from './errors.js'
import {dropStamp} from './folder-stamp.js'
import {AMLIGNORE, isGitignore} from './ignore-rules.js'
import {type LockOptions, withProjectLock} from './lock.js'
import {findProject, ML_DIR, openHistory, type Project} from './project.js'
import {getRun, resolveRunId} from './runs.js'
import {assertSafeRestore} from './safe-paths.js'
import {stageProject, stampRestored} from './snapshot.js'
import {writeAtomically} from './write-atomically.js'

export const BACKUPS_PREFIX = 'refs/ml/backups/'
const RESTORED_TRAILER = 'ml-restored-tree: '

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

/** Plans undoing the latest restore: back to the newest pre-restore snapshot. */
export async function planUndo(cwd: string): Promise<RestorePlan> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const backupRef = (await repo.listRefs(BACKUPS_PREFIX)).at(-1)
  if (!backupRef) throw new MlError('NOTHING_TO_UNDO', 'There is no restore to undo; `ml project restore --undo` goes back to what the folder held before a restore.')
  const commit = (await repo.resolveRef(backupRef))!
  const message = await repo.commitMessage(commit)
  const restoredTree = message.split('\n').find((l) => l.startsWith(RESTORED_TRAILER))?.slice(RESTORED_TRAILER.length).trim()
  const label = `backup ${backupRef.slice(BACKUPS_PREFIX.length)}`
  return {project, repo, label, targetCommit: commit, targetTree: await repo.treeOf(commit), backupRef, restoredTree}
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

/** A pre-restore snapshot, newest last: `ml project restore --undo` takes the newest. */
export interface Backup {
  id: string
  commit: string
  /** When it was taken. */
  time: string
  /** What the restore that made it put back. */
  before: string
}

export async function listBackups(cwd: string): Promise<Backup[]> {
  const repo = await openHistory(await findProject(cwd))
  const backups: Backup[] = []
  for (const ref of await repo.listRefs(BACKUPS_PREFIX)) {
    const id = ref.slice(BACKUPS_PREFIX.length)
    const commit = (await repo.resolveRef(ref))!
    const subject = (await repo.commitMessage(commit)).split('\n')[0]
    backups.push({id, commit, time: new Date(Number.parseInt(id, 10)).toISOString(), before: subject.replace(/^Before restoring /, '')})
  }
  return backups
}

/**
 * Carries out a plan. The folder is snapshotted again first (it may have changed since the
 * plan), including any ignored file the restore would overwrite, and kept as a backup ref,
 * so that nothing the folder held is ever lost.
 */
export async function applyRestore(plan: RestorePlan, options: LockOptions = {}): Promise<RestoreResult> {
  return withProjectLock(plan.project, () => applyLocked(plan, options), options)
}

async function applyLocked(plan: RestorePlan, options: LockOptions): Promise<RestoreResult> {
  const {project, repo} = plan
  const since = Date.now()
  const staged = await stageProject(project, async () => repo, options)
  let current = staged.tree
  const changes = await repo.diffTrees(current, plan.targetTree)
  await assertSafeRestore(repo, project.dir, current, plan.targetTree, changes)
  const inTheWay = await existingPaths(project.dir, changes.filter((c) => c.status === 'added').map((c) => c.path))
  if (inTheWay.length > 0) current = await repo.stagePaths(inTheWay)

  let backupRef: string | undefined
  const alreadyKept = current === plan.targetTree || current === plan.restoredTree
  if (changes.length > 0 && !alreadyKept) {
    const commit = await repo.commit(current, [], `Before restoring ${plan.label}\n\n${RESTORED_TRAILER}${plan.targetTree}\n`)
    backupRef = `${BACKUPS_PREFIX}${Date.now()}-${randomBytes(2).toString('hex')}`
    await repo.updateRef(backupRef, commit, null, `backup before restoring ${plan.label}`)
  }
  if (changes.length > 0) {
    await dropStamp(project)
    // A journal, so that a restore killed half-way is finished by the next ml command.
    const journal = journalPath(project)
    await writeAtomically(journal, JSON.stringify({targetTree: plan.targetTree, label: plan.label}))
    const onProgress = options.onProgress && ((done: number, total: number) => options.onProgress!({done, total, bytesDone: 0, bytesTotal: 0}))
    const exact = await repo.checkoutTree(plan.targetTree, current, onProgress)
    await fs.rm(journal, {force: true})
    // New ignore rules would change what the folder's snapshot holds: then no stamp.
    if (exact && !changes.some((c) => isGitignore(c.path) || c.path === AMLIGNORE)) {
      await stampRestored(project, repo, plan.targetTree, staged, changes, since)
    }
  }
  if (plan.backupRef) await repo.deleteRef(plan.backupRef)
  return {backupRef, changes}
}

function journalPath(project: Project): string {
  return path.join(project.dir, ML_DIR, 'restore-in-progress.json')
}

/** True when a restore was killed half-way: its journal is still there. */
export async function restoreInterrupted(project: Project): Promise<boolean> {
  return fs.access(journalPath(project)).then(() => true, () => false)
}

/**
 * Finishes a restore that was killed half-way (its backup was taken before it wrote anything),
 * so the folder is never left half old, half new. Call with the project lock held.
 */
export async function finishInterruptedRestore(project: Project, repo: ShadowRepo, options: LockOptions = {}): Promise<void> {
  const journal = journalPath(project)
  const text = await fs.readFile(journal, 'utf8').catch(() => null)
  if (text === null) return
  const {targetTree, label} = JSON.parse(text) as {targetTree: string; label: string}
  await dropStamp(project)
  const current = await repo.stageFolder()
  await assertSafeRestore(repo, project.dir, current, targetTree, await repo.diffTrees(current, targetTree))
  await repo.checkoutTree(targetTree, current)
  await fs.rm(journal, {force: true})
  options.onNotice?.(`Finished restoring ${label}, which was interrupted; \`ml project restore --undo\` goes back to what the folder held before it.`)
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
