import {createHash} from 'node:crypto'
import {type BigIntStats, promises as fs} from 'node:fs'
import {availableParallelism, homedir} from 'node:os'
import path from 'node:path'
import type NodeGitModule from 'nodegit'
import {isGitignore} from '../shared/git-files.js'
import {withoutIgnored} from '../shared/ignored-paths.js'
import {pathExists} from '../shared/path-exists.js'
import type {RepoHandle} from './nodegit.js'
import {MODE} from './trees.js'

export interface StageOptions {
  /** Told of each file added (for progress); without it libgit2 adds with no per-file callback. */
  onFile?: (file: string) => void
  /**
   * The folder's files as a scan found them, ignored ones included but none in an ignored
   * folder or a nested repository: with them, a first snapshot is hashed by ml on all cores.
   */
  scanned?: string[]
  /** The folder's .gitignore files, when known: saves reading every index entry for the ignore fingerprint. */
  gitignores?: string[]
}

/** What staging the folder gave: the tree, and the ignored paths when it had to look them up. */
export interface StagedTree {
  tree: string
  ignored?: string[]
}

/** A file at least this large is hashed by libgit2 from disk, in pieces, not read into memory first. */
const STREAM_BYTES = 8 << 20

const FINGERPRINT_FILE = 'ml-ignore-fingerprint'

/**
 * Staging the folder into the history repo's index, which is the stat cache that makes a
 * snapshot of an unchanged folder cheap. `rules` are the ignore rules added in this process;
 * `openOther` opens another handle on the same repo (to write blobs on every core).
 */
export class Staging {
  constructor(private readonly h: RepoHandle, private readonly gitdir: string, private readonly rules: () => string, private readonly openOther: () => Promise<RepoHandle>) {}

  /**
   * Brings the index up to date with the folder, as `git add -A` does, and returns the tree id.
   * When the in-memory ignore rules or any .gitignore changed since the last time, the index
   * is rebuilt from scratch, because files already in an index stay there even when a new
   * rule ignores them.
   */
  async stageFolder(options: StageOptions = {}): Promise<StagedTree> {
    const {onFile} = options
    const index = await this.h.repo.refreshIndex()
    const wasEmpty = index.entryCount() === 0
    let ignored = wasEmpty ? await this.addFirst(index, options) : (await this.addAll(index, onFile), undefined)
    const fingerprintPath = path.join(this.gitdir, FINGERPRINT_FILE)
    const fingerprint = ignoreFingerprint(index, this.rules(), options.gitignores)
    const previous = await fs.readFile(fingerprintPath, 'utf8').catch(() => '')
    if (previous !== fingerprint && !wasEmpty) {
      await index.clear()
      ignored = await this.addFirst(index, options)
    }
    const tree = await index.writeTree()
    await index.write()
    if (previous !== fingerprint) await fs.writeFile(fingerprintPath, fingerprint)
    return {tree: tree.tostrS(), ignored}
  }

  /** Adds these paths to the index whatever the ignore rules say, and returns the new tree id. */
  async stagePaths(paths: string[]): Promise<string> {
    const index = await this.h.repo.refreshIndex()
    for (const p of paths) await index.addByPath(p)
    const tree = await index.writeTree()
    await index.write()
    return tree.tostrS()
  }

  /** Every file of the index (the last staged folder) with its size in bytes. */
  async stagedFiles(): Promise<Array<{path: string; size: number}>> {
    const index = await this.h.repo.refreshIndex()
    const files: Array<{path: string; size: number}> = []
    // One entry at a time: index.entries() would hold a native wrapper for every file at once.
    for (let i = 0, count = index.entryCount(); i < count; i++) {
      const entry = index.getByIndex(i)
      files.push({path: entry.path, size: entry.fileSize})
    }
    return files
  }

  /**
   * `git add -A` into `index`. libgit2 cannot add a git repository nested in the folder (it
   * fails on it), so when there is one, the files are added around it and the repository is
   * recorded as git does: a gitlink to its HEAD commit (one with no commit yet is left out,
   * where git would refuse the whole add). Without `onFile` (told of each file added, for
   * progress), the fast path stays free of per-file callbacks.
   */
  private async addAll(index: NodeGitModule.Index, onFile?: (file: string) => void): Promise<void> {
    const {Git, repo} = this.h
    const each = addCallback(onFile)
    try {
      await index.addAll(undefined, Git.Index.ADD_OPTION.ADD_DEFAULT, each)
      return
    } catch (error) {
      if (!/invalid path|directory/i.test((error as Error).message)) throw error
    }
    const gitlinks = new Set(index.entries().filter((e) => e.mode === MODE.GITLINK).map((e) => e.path))
    const nested: string[] = []
    await index.addAll(undefined, Git.Index.ADD_OPTION.ADD_DEFAULT, (file: string) => {
      if (!file.endsWith('/') && !gitlinks.has(file)) return each?.(file) ?? 0
      nested.push(file.replace(/\/$/, ''))
      return 1
    })
    for (const file of nested) {
      let head: NodeGitModule.Oid
      try {
        head = await Git.Reference.nameToId(await Git.Repository.open(path.join(repo.workdir(), file)), 'HEAD')
      } catch {
        if (gitlinks.has(file)) await index.removeByPath(file)
        continue
      }
      const zero = {seconds: 0, nanoseconds: 0}
      await index.add({path: file, id: head, mode: MODE.GITLINK, flags: 0, flagsExtended: 0, ctime: zero, mtime: zero, dev: 0, ino: 0, uid: 0, gid: 0, fileSize: 0} as unknown as NodeGitModule.IndexEntry)
    }
  }

  /**
   * `git add -A` into the empty `index`. When the scan's files are known and no gitattributes
   * or core.autocrlf can make what git stores differ from a file's bytes, ml hashes the files
   * itself: libgit2's addAll looks up attributes several times per file (about 40 system calls
   * each) and hashes on one thread, where this writes blobs from a handle per core and builds
   * the index entries from the files' stats, as libgit2 would. Gives the ignored paths it looked
   * up (none when libgit2's addAll did the work).
   */
  private async addFirst(index: NodeGitModule.Index, options: StageOptions): Promise<string[] | undefined> {
    const {scanned, onFile} = options
    if (scanned && !(await this.contentFilters(scanned))) {
      const ignored = await ignoredPaths(this.h)
      await this.addHashed(index, withoutIgnored(scanned, ignored), onFile)
      return ignored
    }
    await this.addAll(index, onFile)
    return undefined
  }

  /** Whether a gitattributes file or core.autocrlf could filter what is stored (see addFirst). */
  private async contentFilters(scanned: string[]): Promise<boolean> {
    if (scanned.some(isGitattributes)) return true
    const config = await this.h.repo.config()
    const value = (key: string) => config.getStringBuf(key).then(String, () => undefined)
    const autocrlf = await value('core.autocrlf')
    if ((autocrlf && autocrlf.toLowerCase() !== 'false') || (await value('core.attributesfile')) !== undefined) return true
    const files = [path.join(this.gitdir, 'info', 'attributes'), '/etc/gitattributes', path.join(xdgConfigHome(), 'git', 'attributes')]
    return (await Promise.all(files.map(pathExists))).some(Boolean)
  }

  /**
   * Writes the blobs of `files` (two at a time per core, each core's on its own repository
   * handle: nodegit locks a repository for the length of a call) and adds their entries to
   * `index` as they come. Rejects after every started call has ended.
   */
  private async addHashed(index: NodeGitModule.Index, files: string[], onFile?: (file: string) => void): Promise<void> {
    const handles = [this.h]
    for (let i = 1; i < availableParallelism(); i++) handles.push(await this.openOther())
    const workdir = this.h.repo.workdir()
    const adds: Array<Promise<unknown>> = []
    let next = 0
    const work = async (h: RepoHandle): Promise<void> => {
      while (next < files.length) {
        const file = files[next++]
        const entry = await hashEntry(h, workdir, file)
        if (!entry) continue
        adds.push(Promise.resolve(index.add(entry)))
        onFile?.(file)
      }
    }
    const workers = await Promise.allSettled(handles.flatMap((h) => [work(h), work(h)]))
    const results = [...workers, ...(await Promise.allSettled(adds))]
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failure) throw failure.reason
  }
}

function ignoreFingerprint(index: NodeGitModule.Index, rules: string, gitignores?: string[]): string {
  const hash = createHash('sha1').update(rules)
  const files = gitignores ? [...gitignores].sort() : index.entries().map((e) => e.path).filter(isGitignore)
  for (const file of files) {
    const entry = index.getByPath(file, 0)
    if (entry) hash.update(`\0${file}\0${entry.id.tostrS()}`)
  }
  return hash.digest('hex')
}

/**
 * The index entry of `file` with its blob written, as libgit2 makes one from the file's stat
 * (git_index_entry__init_from_stat: the device is st_rdev, times and sizes in 32 bits); null
 * for what git does not store (a socket, a fifo) or a file gone since the scan.
 */
async function hashEntry(h: RepoHandle, workdir: string, file: string): Promise<NodeGitModule.IndexEntry | null> {
  const {Git, repo} = h
  const full = workdir + file
  let st: BigIntStats
  let id: NodeGitModule.Oid
  try {
    st = await fs.lstat(full, {bigint: true})
    if (st.isSymbolicLink()) {
      const target = await fs.readlink(full, {encoding: 'buffer'})
      id = await Git.Blob.createFromBuffer(repo, target, target.length)
    } else if (!st.isFile()) {
      return null
    } else if (st.size >= STREAM_BYTES) {
      id = await Git.Blob.createFromDisk(repo, full)
    } else {
      const data = await fs.readFile(full)
      id = await Git.Blob.createFromBuffer(repo, data, data.length)
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  const mode = st.isSymbolicLink() ? MODE.SYMLINK : st.mode & 0o100n ? MODE.EXECUTABLE : MODE.FILE
  const time = (ns: bigint) => ({seconds: Number((ns / 1_000_000_000n) & 0xffffffffn) | 0, nanoseconds: Number(ns % 1_000_000_000n)})
  const u32 = (n: bigint) => Number(n & 0xffffffffn)
  const entry = {
    path: file, id, mode, flags: 0, flagsExtended: 0, ctime: time(st.ctimeNs), mtime: time(st.mtimeNs),
    dev: u32(st.rdev), ino: u32(st.ino), uid: u32(st.uid), gid: u32(st.gid), fileSize: u32(st.size),
  }
  return entry as unknown as NodeGitModule.IndexEntry
}

/** The ignored paths of the folder, as `git status --ignored` lists them (an ignored folder once, with a trailing /). */
export async function ignoredPaths(h: RepoHandle): Promise<string[]> {
  const {Git, repo} = h
  // Without INCLUDE_UNTRACKED the list holds only the ignored paths, however many files are untracked.
  const opts = {show: Git.Status.SHOW.WORKDIR_ONLY, flags: Git.Status.OPT.INCLUDE_IGNORED | Git.Status.OPT.RECURSE_UNTRACKED_DIRS}
  const list = await Git.StatusList.create(repo, opts as unknown as NodeGitModule.StatusOptions)
  const paths: string[] = []
  for (let i = 0; i < list.entrycount(); i++) {
    const entry = Git.Status.byIndex(list, i) as unknown as {status(): number; indexToWorkdir(): NodeGitModule.DiffDelta}
    if (entry.status() & Git.Status.STATUS.IGNORED) paths.push(entry.indexToWorkdir().newFile().path())
  }
  return paths
}

function isGitattributes(file: string): boolean {
  return file === '.gitattributes' || file.endsWith('/.gitattributes')
}

/** Where libgit2 looks for the user's attributes file when core.attributesFile is not set. */
function xdgConfigHome(): string {
  return process.env.XDG_CONFIG_HOME || path.join(process.env.HOME || homedir(), '.config')
}

/** addAll's per-file callback for `onFile`: told of the file, and 0 so that libgit2 adds it. */
function addCallback(onFile?: (file: string) => void): ((file: string) => number) | undefined {
  return onFile && ((file) => {
    onFile(file)
    return 0
  })
}
