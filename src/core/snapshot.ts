import type {ShadowRepo} from '../git/shadow-repo.js'
import {isMlError} from './errors.js'
import {readAmlignore, secretPaths} from './ignore-rules.js'
import {type LockOptions, withProjectLock} from './lock.js'
import {checkLimits} from './limits.js'
import {findProject, openHistory, type Project} from './project.js'
import {finishInterruptedRestore} from './restore.js'

/** A snapshot: the commit on the history branch whose tree is the project folder. */
export interface Snapshot {
  commit: string
  tree: string
  /** False when the folder matched the branch tip and the tip was reused. */
  created: boolean
}

export function historyRef(project: Project): string {
  return `refs/heads/${project.config.historyBranch}`
}

/**
 * Snapshots the folder onto the history branch: a new commit only when the tree differs from
 * the tip. The branch is moved with compare-and-swap, so concurrent snapshots stay linear.
 */
export async function takeSnapshot(project: Project, repo: ShadowRepo, message: string, options: LockOptions = {}): Promise<Snapshot> {
  return withProjectLock(project, async () => {
    await finishInterruptedRestore(project, repo, options)
    return snapshotLocked(project, repo, message, options)
  }, options)
}

async function snapshotLocked(project: Project, repo: ShadowRepo, message: string, options: LockOptions): Promise<Snapshot> {
  const ref = historyRef(project)
  for (let attempt = 0; ; attempt++) {
    const tree = await repo.stageFolder()
    const tip = await repo.resolveRef(ref)
    if (attempt === 0 && (!tip || (await repo.treeOf(tip)) !== tree)) await checkLimits(project, repo, options.onNotice)
    if (tip && (await repo.treeOf(tip)) === tree) return {commit: tip, tree, created: false}
    const commit = await repo.commit(tree, tip ? [tip] : [], message)
    try {
      await repo.updateRef(ref, commit, tip, message)
      return {commit, tree, created: true}
    } catch (error) {
      if (!isMlError(error, 'CONCURRENT_UPDATE') || attempt >= 10) throw error
    }
  }
}

/** Snapshots the project holding `cwd` (`ml project snapshot`). */
export async function snapshotProject(cwd: string, message: string, options: LockOptions = {}): Promise<Snapshot> {
  const project = await findProject(cwd)
  return takeSnapshot(project, await openHistory(project), message, options)
}

/** The files (and folders) the secret rules kept out of the snapshot, to tell the user by name. */
export async function leftOutSecrets(project: Project, repo: ShadowRepo): Promise<string[]> {
  return secretPaths(await repo.ignoredPaths(), await readAmlignore(project.dir))
}
