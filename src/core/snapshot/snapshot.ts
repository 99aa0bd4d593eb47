import {availableParallelism} from 'node:os'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import type {StageOptions} from '../../git/staging.js'
import type {TreeChange} from '../../git/trees.js'
import type {EntryInfo} from '../../git/tree-reader.js'
import {isMlError} from '../../shared/errors.js'
import {changedFolders, checkStamp, contextSignature, dropStamp, type FolderScan, type FolderStamp, groupScan, holdingWritten, keepWritten, packedSizes, packFiles, patchFiles, parseStamp, readStampBytes, restampChanged, saveStamp, scanFolder, settleScan, type ScanGroup, type StampCheck, type StampedFolder} from './folder-stamp.js'
import {claimStampCheck} from './early-stamp-check.js'
import {isGitignore} from '../../shared/git-files.js'
import {readAmlignore, secretPaths} from './ignore-rules.js'
import {type LockOptions, withProjectLock} from '../project/lock.js'
import {checkLimits} from './limits.js'
import type {OnProgress} from '../../shared/progress.js'
import {findProject, type Project} from '../project/project.js'
import {finishInterruptedRestore, restoreInterrupted} from './restore-journal.js'
import {historyOpener, type OpenHistory} from './open-history.js'
import {crashPoint} from '../../shared/crash-point.js'

/** A snapshot: the commit on the history branch whose tree is the project folder. */
export interface Snapshot {
  commit: string
  tree: string
  /** False when the folder matched the branch tip and the tip was reused. */
  created: boolean
  /** The files (and folders) the secret rules kept out of it, to tell the user by name. */
  secrets: string[]
  /** Whether it holds the file `path`, when the folder stamp tells without git (an unchanged folder). */
  holds?: (path: string) => boolean
}

/** The folder staged into the history's index (see stageProject). */
export interface Staged {
  tree: string
  secrets: string[]
  /** The tip commit, when the folder is known unchanged since the tip was snapshotted. */
  commit?: string
  /** With `commit`: whether the tip holds the file `path`. */
  holds?: (path: string) => boolean
  /** The tracked files with their sizes. */
  files(): Promise<Array<{path: string; size: number}>>
  /** Keeps a stamp of what was staged, with the commit it became. */
  remember(commit?: string): Promise<void>
  /** What a stamp of the staged folder holds; null when it gets none (a nested repository). */
  stamped(): StampedFolder | null
}

/** How old an early stamp check may be when the staging takes it (see stageProject). */
const EARLY_CHECK_MS = 1000

export function historyRef(project: Project): string {
  return `refs/heads/${project.config.historyBranch}`
}

/**
 * Brings the history's index up to date with the folder and gives its tree; call it holding
 * the project lock. When the folder stamp shows nothing changed, neither git nor the folder is
 * read beyond a stat of each file; when only files were edited in place, only those are staged
 * (libgit2 then rewrites only their folders' trees); else the whole folder is staged. The
 * stamp check may have been begun already, on another thread (see beginStampCheck).
 */
export async function stageProject(project: Project, open: OpenHistory, options: LockOptions = {}): Promise<Staged> {
  const early = claimStampCheck(project.dir)
  if (await restoreInterrupted(project)) await finishInterruptedRestore(project, await open(), options)
  const bytes = readStampBytes(project.dir)
  const stamp = bytes && parseStamp(bytes)
  let check: StampCheck = {kind: 'changed'}
  if (stamp?.context === await contextSignature(project)) {
    // An early check counts only if it read this very stamp (finishing an interrupted restore
    // drops it) and began moments ago: what changed after it began is not in it (a restore
    // would overwrite that without a backup), as with any check, but for no longer.
    const done = await early
    const fresh = done && Date.now() - done.startedAt < EARLY_CHECK_MS && done.bytes.equals(bytes!)
    check = fresh ? done.check : checkStamp(project.dir, stamp)
  }
  if (stamp && check.kind === 'same') return unchanged(project, stamp, false)
  let folder: StampedFolder | null
  let secrets: string[]
  let tree: string
  if (stamp && check.kind === 'edited') {
    // What a restore wrote and still holds is hashed here, not staged: a restore costs no git later.
    const same = holdingWritten(project.dir, stamp.written, check.files)
    // Only what the check read afresh can be racy: the rest was settled when it was stamped.
    // The stamp's files stay packed (unpacking 20,000 of them cost a restore 35 ms).
    settleScan(check)
    folder = {dirs: {...stamp.dirs, ...check.dirs}, ...patchFiles(stamp, check.files), written: keepWritten(stamp.written, same, check.files)}
    const edited = Object.keys(check.files).filter((file) => !same.has(file))
    if (edited.length === 0) return unchanged(project, {...stamp, ...folder}, true)
    tree = await (await open()).stagePaths(edited)
    secrets = stamp.secrets
  } else {
    const repo = await open()
    const scan = await scanFolder(project.dir, (dir) => repo.isIgnored(dir))
    settleScan(scan)
    const gitignores = Object.keys(scan.files).filter(isGitignore)
    tree = await repo.stageFolder({...stageGroups(scan, options.onProgress), gitignores})
    // What the scan found minus what git ignores is what the index tracks (an ignored folder
    // is listed once, with a slash, also when only all its files are ignored).
    const ignored = await repo.ignoredPaths()
    secrets = secretPaths(ignored, await readAmlignore(project.dir))
    const ignoredSet = new Set(ignored)
    const anyDir = ignored.some((p) => p.endsWith('/'))
    for (const file in scan.files) if (ignoredSet.has(file) || (anyDir && inIgnoredDir(file, ignoredSet))) delete scan.files[file]
    folder = scan.nested ? null : {dirs: scan.dirs, ...packFiles(scan.files)}
  }
  return {
    tree, secrets,
    files: async () => (folder ? packedSizes(folder) : []),
    async remember(commit = '') {
      if (!folder) return dropStamp(project)
      await saveStamp(project, {tree, commit, context: await contextSignature(project), ...folder, secrets})
    },
    stamped: () => folder,
  }
}

/**
 * The folder as `stamp` has it: its tree, and its commit when the stamp knows it. `restamped`
 * when the check read some of it afresh (remember then saves what it read).
 */
function unchanged(project: Project, stamp: FolderStamp, restamped: boolean): Staged {
  // A stamp kept without a commit (by a restore's plan) learns the commit it becomes.
  const remember = async (commit = '') => {
    if (restamped || (commit && commit !== stamp.commit)) await saveStamp(project, {...stamp, commit: commit || stamp.commit, context: await contextSignature(project)})
  }
  const holds = (path: string) => stamp.paths.includes(path)
  return {tree: stamp.tree, secrets: stamp.secrets, commit: stamp.commit || undefined, holds, files: async () => packedSizes(stamp), remember, stamped: () => stamp}
}

/**
 * The most files a restore writes whose blobs it keeps for the next snapshot to hash (see
 * holdingWritten). Past that, the next snapshot stages them with git, which hashes as much.
 */
const HASHED_FILES = 1000

/**
 * Keeps a stamp of the folder after a restore checked `tree` out into it and the index, so
 * that the next snapshot need not stage the whole folder again. The stamp of the folder as the
 * restore found it (`before`) is brought up to date with what the checkout wrote and deleted,
 * which is poisoned: the next snapshot re-reads it, never trusts its stat (it hashes a file
 * whose blob the restore kept). Whatever else changed meanwhile still differs from its
 * stamped stat. Without a stamp, the next one stages it all. `entries` are the files written,
 * as the safety check read them from `tree`.
 */
export async function stampRestored(project: Project, repo: ShadowRepo, tree: string, before: Staged, changes: TreeChange[], entries: Map<string, EntryInfo>): Promise<void> {
  const folder = before.stamped()
  if (!folder) return
  const written = [...entries.keys()]
  // A folder the restore made must be one snapshots walk: the snapshot restored may be older than the rules.
  for (const dir of changedFolders(written)) {
    if (!Object.hasOwn(folder.dirs, dir) && (await repo.isIgnored(`${dir}/`))) return
  }
  const blobs = entries.size <= HASHED_FILES ? await repo.plainBlobs(entries) : {}
  const after = restampChanged(project.dir, folder, new Map(changes.map((c) => [c.path, c.status === 'deleted'])), blobs)
  if (after) await saveStamp(project, {tree, commit: '', context: await contextSignature(project), ...after, secrets: before.secrets})
}

/** True when a folder holding `file` is in `ignored` (as 'dir/'). */
function inIgnoredDir(file: string, ignored: Set<string>): boolean {
  for (let slash = file.indexOf('/'); slash >= 0; slash = file.indexOf('/', slash + 1)) {
    if (ignored.has(file.slice(0, slash + 1))) return true
  }
  return false
}

/**
 * The groups a first snapshot stages the folder in, made only when staging asks for them (an
 * empty index), and the progress of those staged, in files and bytes of the scan (ignored files
 * included, so that the total is at most that). One group per core: each group costs a
 * repository handle and a walk of the folder's top, so more groups (for a smoother bar) make
 * it slower.
 */
function stageGroups(scan: FolderScan, onProgress?: OnProgress): Pick<StageOptions, 'groups' | 'onGroup'> {
  let groups: ScanGroup[] = []
  const progress = {done: 0, total: 0, bytesDone: 0, bytesTotal: 0}
  return {
    groups() {
      if (scan.nested) return undefined
      groups = groupScan(scan, availableParallelism())
      for (const group of groups) {
        progress.total += group.files
        progress.bytesTotal += group.bytes
      }
      onProgress?.({...progress})
      return groups.length ? groups.map((g) => g.paths) : undefined
    },
    onGroup: onProgress && ((group) => {
      progress.done += groups[group].files
      progress.bytesDone += groups[group].bytes
      onProgress({...progress})
    }),
  }
}

/**
 * Snapshots the folder onto the history branch: a new commit only when the tree differs from
 * the tip. The branch is moved with compare-and-swap, so concurrent snapshots stay linear.
 * When the folder stamp shows nothing changed, the tip is reused without loading git.
 */
export async function takeSnapshot(project: Project, open: OpenHistory, message: string, options: LockOptions = {}): Promise<Snapshot> {
  return withProjectLock(project, async () => {
    const staged = await stageProject(project, open, options)
    if (staged.commit) {
      await staged.remember(staged.commit)
      return {commit: staged.commit, tree: staged.tree, created: false, secrets: staged.secrets, holds: staged.holds}
    }
    const repo = await open()
    const ref = historyRef(project)
    for (let attempt = 0; ; attempt++) {
      const tree = attempt === 0 ? staged.tree : await repo.stageFolder()
      const tip = await repo.resolveRef(ref)
      const created = !tip || (await repo.treeOf(tip)) !== tree
      if (attempt === 0 && created) checkLimits(project.config.limits, await staged.files(), options.onNotice)
      const commit = created ? await repo.commit(tree, tip ? [tip] : [], message) : tip!
      try {
        crashPoint('snapshot-commit-written')
        if (created) await repo.updateRef(ref, commit, tip, message)
        crashPoint('snapshot-branch-moved')
        if (attempt === 0) await staged.remember(commit)
        return {commit, tree, created, secrets: staged.secrets}
      } catch (error) {
        if (!isMlError(error, 'CONCURRENT_UPDATE') || attempt >= 10) throw error
      }
    }
  }, options)
}

/** Snapshots the project holding `cwd` (`ml project snapshot`). */
export async function snapshotProject(cwd: string, message: string, options: LockOptions = {}): Promise<Snapshot> {
  const project = await findProject(cwd)
  return takeSnapshot(project, historyOpener(project), message, options)
}
