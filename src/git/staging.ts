import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type NodeGitModule from 'nodegit'
import {isGitignore} from '../shared/git-files.js'
import type {RepoHandle} from './nodegit.js'
import {MODE} from './trees.js'
import {mergeIndexFiles} from './index-merge.js'
import {writeAtomically} from '../shared/write-atomically.js'
import {isAlive} from '../shared/is-alive.js'
import {literalIgnoreRule} from '../shared/literal-ignore-rule.js'

export interface StageOptions {
  /**
   * For a first snapshot (an empty index): groups of paths that cover the folder, each staged
   * on a repository handle of its own, so that libgit2 hashes on every core.
   */
  groups?: () => string[][] | undefined
  /**
   * Told when group `index` is staged (for progress). libgit2 is never given a per-file
   * callback: each call would stop its thread until Node's main thread ran it.
   */
  onGroup?: (index: number) => void
  /** The folder's .gitignore files, when known: saves reading every index entry for the ignore fingerprint. */
  gitignores?: string[]
}

const FINGERPRINT_FILE = 'ml-ignore-fingerprint'

/**
 * Staging the folder into the history repo's index, which is the stat cache that makes a
 * snapshot of an unchanged folder cheap. `rules` are the ignore rules added in this process;
 * `openOther` opens another handle on the same repo with them (for staging on every core).
 */
export class Staging {
  constructor(private readonly h: RepoHandle, private readonly gitdir: string, private readonly rules: () => string, private readonly openOther: () => Promise<RepoHandle>) {}

  /**
   * Brings the index up to date with the folder, as `git add -A` does, and returns the tree id.
   * When the in-memory ignore rules or any .gitignore changed since the last time, the index
   * is rebuilt from scratch, because files already in an index stay there even when a new
   * rule ignores them.
   */
  async stageFolder(options: StageOptions = {}): Promise<string> {
    const index = await this.h.repo.refreshIndex()
    const wasEmpty = index.entryCount() === 0
    const groups = wasEmpty ? options.groups?.() : undefined
    if (groups) await this.addGroups(index, groups, options.onGroup)
    else await this.addAll(index)
    const fingerprintPath = path.join(this.gitdir, FINGERPRINT_FILE)
    const fingerprint = ignoreFingerprint(index, this.rules(), options.gitignores)
    const previous = await fs.readFile(fingerprintPath, 'utf8').catch(() => '')
    if (previous !== fingerprint && !wasEmpty) {
      await index.clear()
      await this.addAll(index)
    }
    const tree = await index.writeTree()
    await index.write()
    if (previous !== fingerprint) await fs.writeFile(fingerprintPath, fingerprint)
    return tree.tostrS()
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
   * where git would refuse the whole add).
   */
  private async addAll(index: NodeGitModule.Index): Promise<void> {
    const {Git, repo} = this.h
    try {
      await index.addAll(undefined, Git.Index.ADD_OPTION.ADD_DEFAULT)
      return
    } catch (error) {
      if (!/invalid path|directory/i.test((error as Error).message)) throw error
    }
    const gitlinks = new Set(index.entries().filter((e) => e.mode === MODE.GITLINK).map((e) => e.path))
    const nested: string[] = []
    await index.addAll(undefined, Git.Index.ADD_OPTION.ADD_DEFAULT, (file: string) => {
      if (!file.endsWith('/') && !gitlinks.has(file)) return 0
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
   * The first `git add -A` of the folder, on every core: libgit2 hashes and compresses on one
   * thread per call, so each group is staged on a repository handle of its own, into an index
   * file of its own, and those are merged into `index` (see mergeIndexFiles). Each handle is
   * told to ignore the other groups' paths (see otherGroupsRules) and adds all it then sees;
   * when they are too many for that, it adds its group's paths as a pathspec, which libgit2
   * cannot match literally for every name: then the folder is staged in one call. Falls back
   * to one call, too, if anything goes wrong (a nested repository, say).
   */
  private async addGroups(index: NodeGitModule.Index, groups: string[][], onGroup?: (index: number) => void): Promise<void> {
    const {Git} = this.h
    await removeDeadParts(this.gitdir)
    const rules = groups.map((_, i) => otherGroupsRules(groups, i))
    const byRules = rules.every((r) => r !== null)
    if (groups.length === 1 || (!byRules && !groups.flat().every(isLiteralPathspec))) {
      await this.addAll(index)
      groups.forEach((_, i) => onGroup?.(i))
      return
    }
    const parts = groups.map((_, i) => path.join(this.gitdir, `index.part-${process.pid}-${i}`))
    // Each index only points at its repository handle, which nothing else references: the
    // handles are kept here, or the garbage collector could free one while libgit2 stages on it.
    const handles: NodeGitModule.Repository[] = []
    try {
      const others = await Promise.all(parts.map(async (file, i) => {
        const other = (await this.openOther()).repo as NodeGitModule.Repository & {setIndex(index: NodeGitModule.Index, unused: undefined): void}
        handles.push(other)
        const own = await Git.Index.open(file)
        // nodegit's binding reads its argument only when given two (with one, it unsets the index).
        other.setIndex(own, undefined)
        if (byRules) Git.Ignore.addRule(other, rules[i]!)
        return own
      }))
      await Promise.all(others.map(async (own, i) => {
        if (byRules) await own.addAll(undefined, Git.Index.ADD_OPTION.ADD_DEFAULT)
        else await own.addAll(groups[i], Git.Index.ADD_OPTION.ADD_DISABLE_PATHSPEC_MATCH)
        onGroup?.(i)
      }))
      await Promise.all([index, ...others].map((each) => each.write()))
      const merged = mergeIndexFiles([path.join(this.gitdir, 'index'), ...parts])
      if (merged) {
        await writeAtomically(path.join(this.gitdir, 'index'), merged, {sync: false})
        await index.read(1)
      } else {
        await this.mergeEntries(index, others)
      }
    } catch {
      await index.clear()
      await this.addAll(index)
    } finally {
      await Promise.all([...parts.map((file) => fs.rm(file, {force: true})), ...handles.map((other) => other.cleanup())])
    }
  }

  /** The entries of `others` added to `index` one by one (when mergeIndexFiles cannot). */
  private async mergeEntries(index: NodeGitModule.Index, others: NodeGitModule.Index[]): Promise<void> {
    // In chunks: all 10,000 entries of a half at once would cost 40 MB more.
    for (const other of others) {
      for (let start = 0, count = other.entryCount(); start < count; start += 500) {
        const chunk: NodeGitModule.IndexEntry[] = []
        for (let i = start; i < Math.min(count, start + 500); i++) chunk.push(other.getByIndex(i))
        await Promise.all(chunk.map((entry) => index.add(entry)))
      }
    }
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

/** The index files of groups (see addGroups) that an ml killed while it staged left behind. */
async function removeDeadParts(gitdir: string): Promise<void> {
  for (const name of await fs.readdir(gitdir)) {
    const pid = /^index\.part-(\d+)-\d+$/.exec(name)?.[1]
    if (pid && !isAlive(Number(pid))) await fs.rm(path.join(gitdir, name), {force: true})
  }
}

/**
 * True when `file` as a pathspec of addAll matches just that path and what is in it: libgit2
 * matches the pathspec as a glob whatever the flags say (a name with a wildcard then matches
 * nothing inside it), reads a leading # as a comment and a leading ! as a negation, and a
 * space at either end is left to its parser's trimming, so such names are not taken for literal.
 */
function isLiteralPathspec(file: string): boolean {
  return !/[*?[\\]/.test(file) && !/^[#!\s]|\s$/.test(file)
}

/** The most paths of other groups that a handle is told to ignore; past that, matching them costs more than it saves. */
const MAX_OTHER_PATHS = 256

/**
 * Ignore rules for the paths of every group but `mine`, for the handle that stages `mine`: an
 * addAll diffs the whole folder, whatever its pathspec, and looks up each file's attributes
 * before matching it (in git_diff_foreach), so without them every handle would pay that for
 * every file. Each rule is one path, anchored and escaped, so it can only ignore that path;
 * null when there are too many paths, or a name no rule can hold (a line break).
 */
export function otherGroupsRules(groups: string[][], mine: number): string | null {
  const others = groups.filter((_, i) => i !== mine).flat()
  if (others.length > MAX_OTHER_PATHS || others.some((p) => /[\r\n]/.test(p))) return null
  return others.map(literalIgnoreRule).join('\n')
}
