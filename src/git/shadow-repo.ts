import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type NodeGitModule from 'nodegit'
import {MlError} from '../shared/errors.js'
import {isGitignore} from '../shared/git-files.js'
import {pathExists} from '../shared/path-exists.js'
import {GIT, isGitError, isWrongType} from './git-errors.js'
import {loadNodegit, signatureFor, type NodeGit} from './nodegit.js'
import type {PushedRef, Transport} from './transport.js'
import {TreeReader} from './tree-reader.js'

/** A file to put into a tree: its bytes, or a file on disk to read them from. */
export interface TreeFile {
  path: string
  data?: Buffer | string
  file?: string
  executable?: boolean
}

export interface TreeChange {
  status: 'added' | 'deleted' | 'modified' | 'typechange' | 'renamed' | 'other'
  path: string
}

const FINGERPRINT_FILE = 'ml-ignore-fingerprint'

/**
 * The hidden history repository: a bare repo whose work tree is set to the project folder
 * only while ml uses it, so it never appears as a git repo to the user's tools. Its index is
 * the stat cache that makes a snapshot of an unchanged folder cheap.
 */
export const MODE = {TREE: 0o40000, SYMLINK: 0o120000, GITLINK: 0o160000}
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904'

export interface StageOptions {
  /** Told of each file added (for progress); without it libgit2 adds with no per-file callback. */
  onFile?: (file: string) => void
  /** For a first snapshot (an empty index): two groups of paths covering the folder, to stage on two cores. */
  split?: () => [string[], string[]] | undefined
  /** The folder's .gitignore files, when known: saves reading every index entry for the ignore fingerprint. */
  gitignores?: string[]
}

export class ShadowRepo {
  private rules = ''

  private constructor(
    private readonly Git: NodeGit,
    readonly repo: NodeGitModule.Repository,
    readonly gitdir: string,
  ) {}

  /**
   * Creates the bare repo, with `excludes` as its info/exclude and HEAD on `branch`. Never over
   * an existing folder: its config, hooks or info files would be kept, and they are ml's alone.
   */
  static async create(gitdir: string, workdir: string, branch: string, excludes: string): Promise<ShadowRepo> {
    if (await pathExists(gitdir)) {
      throw new MlError('PROJECT_EXISTS', `${gitdir} already exists; ml creates the history repository only where there is none.`)
    }
    const Git = await loadNodegit()
    const repo = await Git.Repository.init(gitdir, 1)
    await fs.mkdir(path.join(gitdir, 'info'), {recursive: true})
    await fs.writeFile(path.join(gitdir, 'info', 'exclude'), excludes)
    const config = await repo.config()
    await config.setString('core.filemode', 'true')
    await config.setString('core.symlinks', 'true')
    await config.setString('core.logallrefupdates', 'true')
    await config.setString('gc.auto', '0')
    repo.setWorkdir(workdir, 0)
    const shadow = new ShadowRepo(Git, repo, gitdir)
    await shadow.setHead(`refs/heads/${branch}`)
    return shadow
  }

  static async open(gitdir: string, workdir: string): Promise<ShadowRepo> {
    const Git = await loadNodegit()
    let repo: NodeGitModule.Repository
    try {
      repo = await Git.Repository.openBare(gitdir)
    } catch (error) {
      throw new MlError('PROJECT_CORRUPT', `The history repository ${gitdir} cannot be opened (${messageOf(error)}); restore the .ml folder from a backup or clone the project again.`, {cause: error})
    }
    repo.setWorkdir(workdir, 0)
    return new ShadowRepo(Git, repo, gitdir)
  }

  /** Points HEAD at `ref` (the history branch), which need not exist yet. */
  async setHead(ref: string): Promise<void> {
    await this.repo.setHead(ref)
  }

  /** Adds gitignore-syntax rules (relative to the folder root) for this process only. */
  addIgnoreRules(rules: string): void {
    if (!rules.trim()) return
    this.Git.Ignore.addRule(this.repo, rules)
    this.rules += `${rules}\n`
  }

  /**
   * Brings the index up to date with the folder, as `git add -A` does, and returns the tree id.
   * When the in-memory ignore rules or any .gitignore changed since the last time, the index
   * is rebuilt from scratch, because files already in an index stay there even when a new
   * rule ignores them.
   */
  async stageFolder(options: StageOptions = {}): Promise<string> {
    const {onFile} = options
    const index = await this.repo.refreshIndex()
    const wasEmpty = index.entryCount() === 0
    const split = wasEmpty ? options.split?.() : undefined
    if (split) await this.addAllSplit(index, split, onFile)
    else await this.addAll(index, onFile)
    const fingerprintPath = path.join(this.gitdir, FINGERPRINT_FILE)
    const fingerprint = ignoreFingerprint(index, this.rules, options.gitignores)
    const previous = await fs.readFile(fingerprintPath, 'utf8').catch(() => '')
    if (previous !== fingerprint && !wasEmpty) {
      await index.clear()
      await this.addAll(index, onFile)
    }
    const tree = await index.writeTree()
    await index.write()
    if (previous !== fingerprint) await fs.writeFile(fingerprintPath, fingerprint)
    return tree.tostrS()
  }

  /** Whether the rules in force ignore `file` (a folder with a trailing /), as `git check-ignore` says. */
  async isIgnored(file: string): Promise<boolean> {
    return Boolean(await this.Git.Ignore.pathIsIgnored(this.repo, file))
  }

  /** The ignored paths of the folder, as `git status --ignored` lists them (an ignored folder once, with a trailing /). */
  async ignoredPaths(): Promise<string[]> {
    const {Git, repo} = this
    const opts = {show: Git.Status.SHOW.WORKDIR_ONLY, flags: Git.Status.OPT.INCLUDE_IGNORED | Git.Status.OPT.INCLUDE_UNTRACKED | Git.Status.OPT.RECURSE_UNTRACKED_DIRS}
    const list = await Git.StatusList.create(repo, opts as unknown as NodeGitModule.StatusOptions)
    const paths: string[] = []
    for (let i = 0; i < list.entrycount(); i++) {
      const entry = Git.Status.byIndex(list, i) as unknown as {status(): number; indexToWorkdir(): NodeGitModule.DiffDelta}
      if (entry.status() & Git.Status.STATUS.IGNORED) paths.push(entry.indexToWorkdir().newFile().path())
    }
    return paths
  }

  /** Every file of the index (the last staged folder) with its size in bytes. */
  async stagedFiles(): Promise<Array<{path: string; size: number}>> {
    const index = await this.repo.refreshIndex()
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
    const {Git} = this
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
        head = await Git.Reference.nameToId(await Git.Repository.open(path.join(this.repo.workdir(), file)), 'HEAD')
      } catch {
        if (gitlinks.has(file)) await index.removeByPath(file)
        continue
      }
      const zero = {seconds: 0, nanoseconds: 0}
      await index.add({path: file, id: head, mode: MODE.GITLINK, flags: 0, flagsExtended: 0, ctime: zero, mtime: zero, dev: 0, ino: 0, uid: 0, gid: 0, fileSize: 0} as unknown as NodeGitModule.IndexEntry)
    }
  }

  /**
   * The first `git add -A` of a large folder, on two cores: libgit2 hashes and compresses on one
   * thread per call, so two repository handles each add one group of paths (`split` covers the
   * whole folder), and the second's entries are merged into `index`. Falls back to one addAll
   * if anything goes wrong (a nested repository, say).
   */
  private async addAllSplit(index: NodeGitModule.Index, split: [string[], string[]], onFile?: (file: string) => void): Promise<void> {
    const {Git} = this
    const literal = Git.Index.ADD_OPTION.ADD_DISABLE_PATHSPEC_MATCH
    const each = addCallback(onFile)
    try {
      const other = await ShadowRepo.open(this.gitdir, this.repo.workdir())
      other.addIgnoreRules(this.rules)
      const otherIndex = await other.repo.refreshIndex()
      await Promise.all([index.addAll(split[0], literal, each), otherIndex.addAll(split[1], literal, each)])
      // In chunks: all 10,000 entries of a half at once would cost 40 MB more.
      for (let start = 0, count = otherIndex.entryCount(); start < count; start += 500) {
        const chunk: NodeGitModule.IndexEntry[] = []
        for (let i = start; i < Math.min(count, start + 500); i++) chunk.push(otherIndex.getByIndex(i))
        await Promise.all(chunk.map((entry) => index.add(entry)))
      }
    } catch {
      await index.clear()
      await this.addAll(index)
    }
  }

  /** Adds these paths to the index whatever the ignore rules say, and returns the new tree id. */
  async stagePaths(paths: string[]): Promise<string> {
    const index = await this.repo.refreshIndex()
    for (const p of paths) await index.addByPath(p)
    const tree = await index.writeTree()
    await index.write()
    return tree.tostrS()
  }

  /** The commit `name` points at, or null when there is no such ref. */
  async resolveRef(name: string): Promise<string | null> {
    try {
      return (await this.Git.Reference.nameToId(this.repo, name)).tostrS()
    } catch (error) {
      if (isGitError(error, GIT.ENOTFOUND, GIT.EINVALIDSPEC)) return null
      throw error
    }
  }

  async treeOf(commit: string): Promise<string> {
    return (await this.repo.getCommit(commit)).treeId().tostrS()
  }

  async commitMessage(commit: string): Promise<string> {
    return (await this.repo.getCommit(commit)).message()
  }

  /** A reader of this repo's trees that keeps the folders it loads (for many lookups in one check). */
  treeReader(): TreeReader {
    return new TreeReader(this.Git, this.repo)
  }

  /** Writes a commit object without moving any ref. */
  async commit(tree: string, parents: string[], message: string): Promise<string> {
    const sig = await signatureFor(this.repo)
    const oid = await this.repo.createCommit(null as unknown as string, sig, sig, message, tree, parents)
    return oid.tostrS()
  }

  /**
   * Points `name` at `target` only if it still points at `expected` (null: must not exist),
   * so that two processes never overwrite each other's update.
   */
  async updateRef(name: string, target: string, expected: string | null, log: string): Promise<void> {
    const oid = this.Git.Oid.fromString(target)
    try {
      if (expected === null) await this.Git.Reference.create(this.repo, name, oid, 0, log)
      else await this.Git.Reference.createMatching(this.repo, name, oid, 1, this.Git.Oid.fromString(expected), log)
    } catch (error) {
      // Only a ref that moved, exists already or is locked is another writer's doing; a full disk is not.
      if (!isGitError(error, GIT.EMODIFIED, GIT.EEXISTS, GIT.ELOCKED)) throw error
      throw new MlError('CONCURRENT_UPDATE', `The reference ${name} was changed by another ml process; try again.`, {cause: error})
    }
  }

  /** Points `name` at `target` whatever it pointed at before (for remote-tracking refs). */
  async setRef(name: string, target: string, log: string): Promise<void> {
    await this.Git.Reference.create(this.repo, name, this.Git.Oid.fromString(target), 1, log)
  }

  /** True when `ancestor` is `commit` or one of its ancestors. */
  async isAncestor(ancestor: string, commit: string): Promise<boolean> {
    if (ancestor === commit) return true
    return Boolean(await this.Git.Graph.descendantOf(this.repo, this.Git.Oid.fromString(commit), this.Git.Oid.fromString(ancestor)))
  }

  /** The commits reachable from `tip` but not from `base`, oldest first. */
  async commitsSince(base: string, tip: string): Promise<string[]> {
    const walk = this.repo.createRevWalk()
    walk.sorting(this.Git.Revwalk.SORT.TOPOLOGICAL | this.Git.Revwalk.SORT.REVERSE)
    walk.push(this.Git.Oid.fromString(tip))
    walk.hide(this.Git.Oid.fromString(base))
    const commits: string[] = []
    for (;;) {
      try {
        commits.push((await walk.next()).tostrS())
      } catch (error) {
        if (isGitError(error, GIT.ITEROVER)) return commits
        throw error
      }
    }
  }

  /** Sets the `origin` remote, so that git pointed at this repo pushes where ml does. */
  async setOrigin(url: string): Promise<void> {
    const {Git, repo} = this
    try {
      await Git.Remote.lookup(repo, 'origin')
    } catch (error) {
      if (!isGitError(error, GIT.ENOTFOUND)) throw error
      await Git.Remote.create(repo, 'origin', url)
      return
    }
    Git.Remote.setUrl(repo, 'origin', url)
  }

  async fetch(transport: Transport, url: string, refspecs: string[]): Promise<void> {
    await transport.fetch(this.repo, url, refspecs)
  }

  async push(transport: Transport, url: string, refspecs: string[]): Promise<PushedRef[]> {
    return transport.push(this.repo, url, refspecs)
  }

  /** Deletes `name`; one that is already gone is fine, any other failure is thrown. */
  async deleteRef(name: string): Promise<void> {
    const code = this.Git.Reference.remove(this.repo, name) as unknown as number
    if (code < 0 && code !== GIT.ENOTFOUND) throw new Error(`libgit2 could not delete ${name} (error ${code})`)
  }

  /** The refs under `prefix` and the commits they point at, read in one call. */
  async refTargets(prefix: string): Promise<Map<string, string>> {
    const targets = new Map<string, string>()
    for (const ref of await this.repo.getReferences()) {
      const name = ref.name()
      if (name.startsWith(prefix) && !ref.isSymbolic()) targets.set(name, ref.target().tostrS())
    }
    return targets
  }

  async listRefs(prefix: string): Promise<string[]> {
    const names = await this.repo.getReferenceNames(this.Git.Reference.TYPE.ALL)
    return names.filter((n: string) => n.startsWith(prefix)).sort()
  }

  /** The bytes of `file` in the tree of `commit`, or null when there is no such file. */
  async readFile(commit: string, file: string): Promise<Buffer | null> {
    const tree = await this.repo.getCommit(commit).then((c) => c.getTree()).catch((error: unknown) => {
      if (error instanceof MlError) throw error // already in words (see native-guard.ts)
      throw new MlError('PROJECT_CORRUPT', `The history's commit ${commit} cannot be read (${messageOf(error)}); pull the history again or clone the project again.`, {cause: error})
    })
    let entry: NodeGitModule.TreeEntry
    try {
      entry = await tree.getEntry(file)
    } catch (error) {
      if (isGitError(error, GIT.ENOTFOUND)) return null
      throw error
    }
    if (!entry.isBlob()) return null
    return (await entry.getBlob()).content()
  }

  /** Writes blobs and nested trees for `files` and returns the root tree id. */
  async writeTree(files: TreeFile[]): Promise<string> {
    const root: TreeNode = new Map()
    for (const file of files) {
      const parts = file.path.split('/')
      let node = root
      for (const dir of parts.slice(0, -1)) {
        let child = node.get(dir)
        if (!(child instanceof Map)) {
          child = new Map()
          node.set(dir, child)
        }
        node = child
      }
      node.set(parts.at(-1)!, file)
    }
    return (await this.writeNode(root)).tostrS()
  }

  private async writeNode(node: TreeNode): Promise<NodeGitModule.Oid> {
    const {Git, repo} = this
    const builder = await Git.Treebuilder.create(repo, null as unknown as NodeGitModule.Tree)
    for (const [name, child] of node) {
      if (child instanceof Map) {
        await builder.insert(name, await this.writeNode(child), Git.TreeEntry.FILEMODE.TREE)
      } else {
        const oid = child.file === undefined
          ? await Git.Blob.createFromBuffer(repo, Buffer.from(child.data ?? ''), Buffer.byteLength(child.data ?? ''))
          : await Git.Blob.createFromDisk(repo, child.file)
        await builder.insert(name, oid, child.executable ? Git.TreeEntry.FILEMODE.EXECUTABLE : Git.TreeEntry.FILEMODE.BLOB)
      }
    }
    return builder.write()
  }

  /** What differs between two trees, path by path. */
  async diffTrees(from: string, to: string): Promise<TreeChange[]> {
    const diff = await this.treeDiff(from, to)
    const changes: TreeChange[] = []
    for (let i = 0; i < diff.numDeltas(); i++) {
      const delta = diff.getDelta(i)
      const status = STATUS_NAMES[delta.status()] ?? 'other'
      changes.push({status, path: (status === 'deleted' ? delta.oldFile() : delta.newFile()).path()})
    }
    return changes
  }

  /** libgit2's diff of two trees (type changes as such), limited to `pathspec` when given. */
  private async treeDiff(from: string, to: string, pathspec: string[] = []): Promise<NodeGitModule.Diff> {
    const {Git, repo} = this
    const [a, b] = await Promise.all([repo.getTree(from), repo.getTree(to)])
    try {
      return await Git.Diff.treeToTree(repo, a, b, {pathspec, flags: Git.Diff.OPTION.INCLUDE_TYPECHANGE} as unknown as NodeGitModule.DiffOptions)
    } catch (error) {
      // A crafted tree whose folder entry names a blob: libgit2 finds out only when it descends.
      if (isWrongType(error)) throw new MlError('UNSAFE_PATH', `The history holds a tree with a folder entry that is not a folder (${messageOf(error)}); it may have been crafted, so check where it came from. Nothing was changed.`, {cause: error})
      throw error
    }
  }

  /** The unified diff between two trees (as `git diff A B -- paths` prints it). */
  async diffPatch(from: string, to: string, paths: string[] = []): Promise<string> {
    const diff = await this.treeDiff(from, to, paths)
    return String(await (diff as unknown as {toBuf(format: number): Promise<string>}).toBuf(this.Git.Diff.FORMAT.PATCH))
  }

  /**
   * Makes the folder match `tree`: writes its files with their modes and removes the files of
   * `baseline` (the tree of what the folder holds now) that `tree` does not have. Ignored
   * files that neither tree holds, and nested git repositories, are left alone. True when the
   * index then holds exactly `tree` (false when gitlinks had to be left out of it). `onProgress`
   * is told how many files were written or removed of how many, at most every 100 ms, or after
   * every file with `everyFile` (the crash tests).
   */
  async checkoutTree(tree: string, baseline: string, onProgress?: (done: number, total: number) => void, everyFile = false): Promise<boolean> {
    const {Git, repo} = this
    // Nested git repositories (gitlinks) are the user's: leave them out of both sides, so that
    // libgit2 neither removes nor creates them.
    const diff = await this.treeDiff(baseline, tree)
    const gitlinks: string[] = []
    for (let i = 0; i < diff.numDeltas(); i++) {
      const delta = diff.getDelta(i)
      for (const file of [delta.oldFile(), delta.newFile()]) if (file.mode() === MODE.GITLINK) gitlinks.push(file.path())
    }
    // libgit2 also removes what the index tracks and the target lacks, so out of the index too
    // (a gitlink both trees hold alike is left alone by the checkout anyway).
    if (gitlinks.length > 0) {
      const index = await repo.refreshIndex()
      for (const file of gitlinks) if (index.getByPath(file)) await index.removeByPath(file)
      await index.write()
    }
    const [base, target] = await Promise.all([this.withoutPaths(baseline, gitlinks), this.withoutPaths(tree, gitlinks)])
    const callback = onProgress && ((_file: string | null, done: number, total: number) => onProgress(done, total))
    const progressCb = callback && (everyFile ? {callback, throttle: 0} : callback)
    await Git.Checkout.tree(repo, await repo.getTree(target), {checkoutStrategy: Git.Checkout.STRATEGY.FORCE, baseline: await repo.getTree(base), progressCb} as NodeGitModule.CheckoutOptions)
    return gitlinks.length === 0
  }

  /** `tree` with these paths taken out (only the folders on their way are rewritten). */
  private async withoutPaths(tree: string, paths: string[]): Promise<string> {
    if (paths.length === 0) return tree
    const {Git, repo} = this
    const builder = await Git.Treebuilder.create(repo, await repo.getTree(tree))
    const here = new Set<string>()
    const below = new Map<string, string[]>()
    for (const p of paths) {
      const slash = p.indexOf('/')
      if (slash < 0) here.add(p)
      else below.set(p.slice(0, slash), [...(below.get(p.slice(0, slash)) ?? []), p.slice(slash + 1)])
    }
    for (const name of here) if (builder.get(name)) builder.remove(name)
    for (const [dir, rest] of below) {
      const entry = builder.get(dir)
      if (!entry || entry.filemode() !== MODE.TREE) continue
      const sub = await this.withoutPaths(entry.id().tostrS(), rest)
      if (sub === EMPTY_TREE) builder.remove(dir)
      else builder.insert(dir, Git.Oid.fromString(sub), MODE.TREE)
    }
    return (await builder.write()).tostrS()
  }

  /** Lines added and removed per file between two trees (see diff-stats.ts), limited to `paths` when given. */
  async diffStats(from: string, to: string, paths: string[] = []): Promise<import('./diff-stats.js').FileStat[]> {
    const {diffStats} = await import('./diff-stats.js')
    return diffStats(this.Git, await this.treeDiff(from, to, paths))
  }
}

type TreeNode = Map<string, TreeNode | TreeFile>

const STATUS_NAMES: Record<number, TreeChange['status']> = {1: 'added', 2: 'deleted', 3: 'modified', 4: 'renamed', 8: 'typechange'}

function ignoreFingerprint(index: NodeGitModule.Index, rules: string, gitignores?: string[]): string {
  const hash = createHash('sha1').update(rules)
  const files = gitignores ? [...gitignores].sort() : index.entries().map((e) => e.path).filter(isGitignore)
  for (const file of files) {
    const entry = index.getByPath(file, 0)
    if (entry) hash.update(`\0${file}\0${entry.id.tostrS()}`)
  }
  return hash.digest('hex')
}

/** addAll's per-file callback for `onFile`: told of the file, and 0 so that libgit2 adds it. */
function addCallback(onFile?: (file: string) => void): ((file: string) => number) | undefined {
  return onFile && ((file) => {
    onFile(file)
    return 0
  })
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
