import type NodeGitModule from 'nodegit'
import {MlError} from '../shared/errors.js'
import {diffStats as statsOf, type FileStat} from './diff-stats.js'
import {isWrongType} from './git-errors.js'
import type {RepoHandle} from './nodegit.js'

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

/** The modes of tree entries that are not files. */
export const MODE = {TREE: 0o40000, SYMLINK: 0o120000, GITLINK: 0o160000}
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904'

type TreeNode = Map<string, TreeNode | TreeFile>

/** Writes blobs and nested trees for `files` and returns the root tree id. */
export async function writeTree(h: RepoHandle, files: TreeFile[]): Promise<string> {
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
  return (await writeNode(h, root)).tostrS()
}

async function writeNode(h: RepoHandle, node: TreeNode): Promise<NodeGitModule.Oid> {
  const {Git, repo} = h
  const builder = await Git.Treebuilder.create(repo, null as unknown as NodeGitModule.Tree)
  for (const [name, child] of node) {
    if (child instanceof Map) {
      await builder.insert(name, await writeNode(h, child), Git.TreeEntry.FILEMODE.TREE)
    } else {
      const oid = child.file === undefined
        ? await Git.Blob.createFromBuffer(repo, Buffer.from(child.data ?? ''), Buffer.byteLength(child.data ?? ''))
        : await Git.Blob.createFromDisk(repo, child.file)
      await builder.insert(name, oid, child.executable ? Git.TreeEntry.FILEMODE.EXECUTABLE : Git.TreeEntry.FILEMODE.BLOB)
    }
  }
  return builder.write()
}

/**
 * The last whole diff each repository handle made: a restore diffs the same two trees to plan
 * and to check out (15 ms of L), and trees named by their ids never change.
 */
const lastDiffs = new WeakMap<RepoHandle, {from: string; to: string; diff: NodeGitModule.Diff}>()

/** libgit2's diff of two trees (type changes as such), limited to `pathspec` when given. */
export async function treeDiff(h: RepoHandle, from: string, to: string, pathspec: string[] = []): Promise<NodeGitModule.Diff> {
  const {Git, repo} = h
  const last = lastDiffs.get(h)
  if (pathspec.length === 0 && last?.from === from && last.to === to) return last.diff
  const [a, b] = await Promise.all([repo.getTree(from), repo.getTree(to)])
  try {
    const diff = await Git.Diff.treeToTree(repo, a, b, {pathspec, flags: Git.Diff.OPTION.INCLUDE_TYPECHANGE} as unknown as NodeGitModule.DiffOptions)
    if (pathspec.length === 0) lastDiffs.set(h, {from, to, diff})
    return diff
  } catch (error) {
    // A crafted tree whose folder entry names a blob: libgit2 finds out only when it descends.
    if (isWrongType(error)) throw new MlError('UNSAFE_PATH', `The history holds a tree with a folder entry that is not a folder (${(error as Error).message}); it may have been crafted, so check where it came from. Nothing was changed.`, {cause: error})
    throw error
  }
}

const STATUS_NAMES: Record<number, TreeChange['status']> = {1: 'added', 2: 'deleted', 3: 'modified', 4: 'renamed', 8: 'typechange'}

/** What differs between two trees, path by path. */
export async function diffTrees(h: RepoHandle, from: string, to: string): Promise<TreeChange[]> {
  const diff = await treeDiff(h, from, to)
  const changes: TreeChange[] = []
  for (let i = 0; i < diff.numDeltas(); i++) {
    const delta = diff.getDelta(i)
    const status = STATUS_NAMES[delta.status()] ?? 'other'
    changes.push({status, path: (status === 'deleted' ? delta.oldFile() : delta.newFile()).path()})
  }
  return changes
}

/** The unified diff between two trees (as `git diff A B -- paths` prints it). */
export async function diffPatch(h: RepoHandle, from: string, to: string, paths: string[] = []): Promise<string> {
  const diff = await treeDiff(h, from, to, paths)
  return String(await (diff as unknown as {toBuf(format: number): Promise<string>}).toBuf(h.Git.Diff.FORMAT.PATCH))
}

/** Lines added and removed per file between two trees, limited to `paths` when given. */
export async function diffStats(h: RepoHandle, from: string, to: string, paths: string[] = []): Promise<FileStat[]> {
  return statsOf(h.Git, await treeDiff(h, from, to, paths))
}
