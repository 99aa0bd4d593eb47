import type NodeGitModule from 'nodegit'
import {GIT, isGitError, isWrongType} from './git-errors.js'
import type {NodeGit} from './nodegit.js'

/** A tree entry as a trust check needs it: its mode, its object and that object's real type. */
export interface EntryInfo {
  mode: number
  oid: string
}

export type ObjectKind = 'blob' | 'tree' | 'commit' | 'tag'

const KINDS: Record<number, ObjectKind> = {1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag'}

/**
 * Looks up entries of trees by path, keeping every folder it has loaded. libgit2 caches no tree
 * over 4 KB, so looking up 20,000 paths of one flat folder one by one would parse the folder
 * 20,000 times (a restore was quadratic in a folder's size); here each folder is parsed once.
 */
export class TreeReader {
  private readonly trees = new Map<string, Promise<NodeGitModule.Tree | null>>()
  private readonly sizes = new Map<string, number>()

  constructor(private readonly Git: NodeGit, private readonly repo: NodeGitModule.Repository) {}

  /** The entry at `file` in `tree`, or null when there is none (or a folder on its way is not a tree). */
  async entry(tree: string, file: string): Promise<EntryInfo | null> {
    const parts = file.split('/')
    let current = tree
    for (const [i, name] of parts.entries()) {
      const loaded = await this.tree(current)
      // nodegit's entryByName throws on a missing name; the raw binding gives undefined.
      const entry = (loaded as unknown as {_entryByName(name: string): NodeGitModule.TreeEntry | undefined} | null)?._entryByName(name)
      if (!entry) return null
      if (i === parts.length - 1) return {mode: entry.filemode(), oid: entry.sha()}
      if (entry.filemode() !== 0o40000) return null
      current = entry.sha()
    }
    return null
  }

  /** The mode of `file` in `tree` (0o120000 a symlink, 0o40000 a folder, 0o160000 a gitlink), or null. */
  async mode(tree: string, file: string): Promise<number | null> {
    return (await this.entry(tree, file))?.mode ?? null
  }

  /** What kind of object `oid` really is, whatever a tree entry's mode claims; null when it is missing. */
  async kind(oid: string): Promise<ObjectKind | null> {
    const {Git, repo} = this
    try {
      // A blob first, as nearly every entry is one: its size comes along (see size()).
      this.sizes.set(oid, (await Git.Blob.lookup(repo, Git.Oid.fromString(oid))).rawsize())
      return 'blob'
    } catch (error) {
      if (!isWrongType(error)) {
        if (isGitError(error, GIT.ENOTFOUND)) return null
        throw error
      }
    }
    const object = await Git.Object.lookup(repo, Git.Oid.fromString(oid), Git.Object.TYPE.ANY)
    return KINDS[object.type()] ?? null
  }

  /** The size of a blob kind() found, in bytes (0 for any other object). */
  size(oid: string): number {
    return this.sizes.get(oid) ?? 0
  }

  /** Every entry of `tree` and its subtrees (not into gitlinks), as paths; a subtree that is not a tree is reported with its mode. */
  async *walk(tree: string, prefix = ''): AsyncGenerator<EntryInfo & {path: string}> {
    const loaded = await this.tree(tree)
    if (!loaded) return
    for (const entry of loaded.entries()) {
      const item = {path: `${prefix}${entry.name()}`, mode: entry.filemode(), oid: entry.sha()}
      yield item
      if (item.mode === 0o40000) yield* this.walk(item.oid, `${item.path}/`)
    }
  }

  /** The tree object `oid`, or null when it is missing or not a tree. */
  private tree(oid: string): Promise<NodeGitModule.Tree | null> {
    let loaded = this.trees.get(oid)
    if (!loaded) {
      loaded = this.repo.getTree(oid).catch((error: unknown) => {
        if (isGitError(error, GIT.ENOTFOUND)) return null // missing, or not a tree
        throw error
      })
      this.trees.set(oid, loaded)
    }
    return loaded
  }
}
