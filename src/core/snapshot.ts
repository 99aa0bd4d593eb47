import type {ShadowRepo} from '../git/shadow-repo.js'
import {isMlError} from './errors.js'
import {checkStamp, contextSignature, type FolderScan, readStamp, saveStamp, scanFolder, settledScan} from './folder-stamp.js'
import {readAmlignore, secretPaths} from './ignore-rules.js'
import {type LockOptions, withProjectLock} from './lock.js'
import {checkLimits} from './limits.js'
import {findProject, historyOpener, type OpenHistory, type Project} from './project.js'
import {finishInterruptedRestore, restoreInterrupted} from './restore.js'

/** A snapshot: the commit on the history branch whose tree is the project folder. */
export interface Snapshot {
  commit: string
  tree: string
  /** False when the folder matched the branch tip and the tip was reused. */
  created: boolean
  /** The likely secrets left out of it (see leftOutSecrets). */
  secrets: string[]
}

export function historyRef(project: Project): string {
  return `refs/heads/${project.config.historyBranch}`
}

/**
 * Snapshots the folder onto the history branch: a new commit only when the tree differs from
 * the tip. The branch is moved with compare-and-swap, so concurrent snapshots stay linear.
 * When the folder stamp shows nothing changed, the tip is reused without opening the history
 * (so git is not even loaded); when it shows only edited files, only those are staged.
 */
export async function takeSnapshot(project: Project, open: OpenHistory, message: string, options: LockOptions = {}): Promise<Snapshot> {
  return withProjectLock(project, async () => {
    if (await restoreInterrupted(project)) await finishInterruptedRestore(project, await open(), options)
    const stamp = await readStamp(project)
    const context = await contextSignature(project)
    const check = stamp?.context === context ? checkStamp(project.dir, stamp) : {kind: 'changed' as const}
    if (stamp && check.kind === 'same') return {commit: stamp.commit, tree: stamp.tree, created: false, secrets: stamp.secrets}
    const repo = await open()
    let scan: FolderScan
    let secrets: string[]
    let tree: string
    if (stamp && check.kind === 'edited') {
      scan = {takenAt: check.takenAt, dirs: {...stamp.dirs, ...check.dirs}, files: {...stamp.files, ...check.files}, nested: false}
      tree = await repo.stagePaths(Object.keys(check.files))
      secrets = stamp.secrets
    } else {
      scan = await scanFolder(project.dir, (dir) => repo.isIgnored(dir))
      tree = await repo.stageFolder()
      secrets = await leftOutSecrets(project, repo)
    }
    const snapshot = await commitSnapshot(project, repo, tree, message, options)
    if (scan.nested) return {...snapshot, secrets}
    const tracked = new Set((await repo.stagedFiles()).map((f) => f.path))
    const files = Object.fromEntries(Object.entries(scan.files).filter(([file]) => tracked.has(file)))
    const settled = settledScan(project.dir, scan.dirs, Object.keys(files), scan.takenAt)
    await saveStamp(project, {tree: snapshot.tree, commit: snapshot.commit, context: await contextSignature(project), dirs: scan.dirs, files, secrets}, settled)
    return {...snapshot, secrets}
  }, options)
}

async function commitSnapshot(project: Project, repo: ShadowRepo, staged: string, message: string, options: LockOptions): Promise<Omit<Snapshot, 'secrets'>> {
  const ref = historyRef(project)
  for (let attempt = 0; ; attempt++) {
    const tree = attempt === 0 ? staged : await repo.stageFolder()
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
  return takeSnapshot(project, historyOpener(project), message, options)
}

/** The files (and folders) the secret rules kept out of the snapshot, to tell the user by name. */
export async function leftOutSecrets(project: Project, repo: ShadowRepo): Promise<string[]> {
  return secretPaths(await repo.ignoredPaths(), await readAmlignore(project.dir))
}
