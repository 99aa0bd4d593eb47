import {promises as fs} from 'node:fs'
import path from 'node:path'
import type NodeGitModule from 'nodegit'
import {MlError} from '../shared/errors.js'
import {pathExists} from '../shared/path-exists.js'
import {checkoutInto, checkoutTree} from './checkout.js'
import type {FileStat} from './diff-stats.js'
import {GIT, isGitError} from './git-errors.js'
import {loadNodegit, signatureFor, type NodeGit, type RepoHandle} from './nodegit.js'
import {type PlainBlob, plainBlobs} from './plain-blobs.js'
import {Staging, type StageOptions} from './staging.js'
import type {PushedRef, Transport} from './transport.js'
import {type EntryInfo, TreeReader} from './tree-reader.js'
import {diffPatch, diffStats, diffTrees, type TreeChange, type TreeFile, writeTree} from './trees.js'

/**
 * The hidden history repository: a bare repo whose work tree is set to the project folder
 * only while ml uses it, so it never appears as a git repo to the user's tools. Its index is
 * the stat cache that makes a snapshot of an unchanged folder cheap. A thin facade: staging is
 * in staging.ts, the checkout in checkout.ts, tree writing and diffs in trees.ts; refs and
 * objects are here.
 */
export class ShadowRepo {
  private rules = ''
  private readonly h: RepoHandle
  private readonly staging: Staging

  private constructor(
    private readonly Git: NodeGit,
    readonly repo: NodeGitModule.Repository,
    readonly gitdir: string,
  ) {
    this.h = {Git, repo}
    this.staging = new Staging(this.h, gitdir, () => this.rules, async () => {
      const other = await ShadowRepo.open(gitdir, repo.workdir())
      other.addIgnoreRules(this.rules)
      return other.h
    })
  }

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

  /** See Staging.stageFolder. */
  stageFolder(options: StageOptions = {}): Promise<string> {
    return this.staging.stageFolder(options)
  }

  /** Whether the rules in force ignore `file` (a folder with a trailing /), as `git check-ignore` says. */
  async isIgnored(file: string): Promise<boolean> {
    return Boolean(await this.Git.Ignore.pathIsIgnored(this.repo, file))
  }

  /** The ignored paths of the folder, as `git status --ignored` lists them (an ignored folder once, with a trailing /). */
  async ignoredPaths(): Promise<string[]> {
    const {Git, repo} = this
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

  /** Every file of the index (the last staged folder) with its size in bytes. */
  stagedFiles(): Promise<Array<{path: string; size: number}>> {
    return this.staging.stagedFiles()
  }

  /** Adds these paths to the index whatever the ignore rules say, and returns the new tree id. */
  stagePaths(paths: string[]): Promise<string> {
    return this.staging.stagePaths(paths)
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

  /** The parents of a commit, first parent first. */
  async parentsOf(commit: string): Promise<string[]> {
    return (await this.repo.getCommit(commit)).parents().map((oid) => oid.tostrS())
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

  /** Every entry of `tree` that is not a folder, with its mode and object id, folders first walked in tree order. */
  async listEntries(tree: string): Promise<Array<{path: string; mode: number; oid: string}>> {
    const entries: Array<{path: string; mode: number; oid: string}> = []
    const walk = async (node: NodeGitModule.Tree, prefix: string): Promise<void> => {
      for (const entry of node.entries()) {
        const name = `${prefix}${entry.name()}`
        if (entry.isTree()) await walk(await entry.getTree(), `${name}/`)
        else entries.push({path: name, mode: entry.filemode(), oid: entry.sha()})
      }
    }
    await walk(await this.repo.getTree(tree), '')
    return entries
  }

  /** The bytes of the blob `oid`. */
  async readBlob(oid: string): Promise<Buffer> {
    return (await this.repo.getBlob(oid)).content()
  }

  /** See plain-blobs.ts. */
  plainBlobs(entries: Map<string, EntryInfo>): Promise<Record<string, PlainBlob>> {
    return plainBlobs(this.h, entries)
  }

  /** Writes blobs and nested trees for `files` and returns the root tree id. */
  writeTree(files: TreeFile[]): Promise<string> {
    return writeTree(this.h, files)
  }

  /** What differs between two trees, path by path. */
  diffTrees(from: string, to: string): Promise<TreeChange[]> {
    return diffTrees(this.h, from, to)
  }

  /** The unified diff between two trees (as `git diff A B -- paths` prints it). */
  diffPatch(from: string, to: string, paths: string[] = []): Promise<string> {
    return diffPatch(this.h, from, to, paths)
  }

  /** Lines added and removed per file between two trees, limited to `paths` when given. */
  diffStats(from: string, to: string, paths: string[] = []): Promise<FileStat[]> {
    return diffStats(this.h, from, to, paths)
  }

  /** See checkout.ts. */
  checkoutTree(tree: string, baseline: string, onProgress?: (done: number, total: number) => void, everyFile = false): Promise<boolean> {
    return checkoutTree(this.h, tree, baseline, onProgress, everyFile)
  }

  /** See checkout.ts. */
  checkoutInto(tree: string, dir: string): Promise<void> {
    return checkoutInto(this.h, tree, dir)
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
