import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {MODE, type TreeChange} from '../../git/trees.js'
import type {EntryInfo, TreeReader} from '../../git/tree-reader.js'
import {MlError} from '../../shared/errors.js'
import {runPool} from '../../shared/run-pool.js'
import {PATH_MAX, type PathCheck, unsafeReason} from '../trust/tree-path.js'

/**
 * Why the tree entry `entry` at `file` must not be written into `dir`, or null: the path rules
 * of the trust gate, the folder's own path length, or a mode that disagrees with its object (a
 * "file" that is a tree; libgit2 folds any other odd mode into a file mode when it reads a
 * tree). A missing object is PROJECT_CORRUPT.
 */
export async function entryProblem(trees: TreeReader, dir: string, file: string, entry: EntryInfo, {objects = true, ...check}: PathCheck & {objects?: boolean} = {}): Promise<string | null> {
  const reason = unsafeReason(file, {...check, symlink: entry.mode === MODE.SYMLINK})
  if (reason) return reason
  if (Buffer.byteLength(path.join(dir, file)) > PATH_MAX) return `would make a path longer than ${PATH_MAX} bytes in ${dir}`
  if (entry.mode === MODE.GITLINK || !objects) return null
  const kind = await trees.kind(entry.oid)
  if (kind === null) throw new MlError('PROJECT_CORRUPT', `The content of "${file}" (object ${entry.oid}) is missing from the history; pull the history again (\`ml history pull\`) or clone the project again.`)
  const expected = entry.mode === MODE.TREE ? 'tree' : 'blob'
  return kind === expected ? null : `is a ${expected === 'tree' ? 'folder' : 'file'} whose object is a ${kind}`
}

/** Throws the UNSAFE_PATH error for `file`. */
export function refuseUnsafe(file: string, why: string, what = 'The snapshot cannot be restored'): never {
  throw new MlError('UNSAFE_PATH', `${what}: its path "${file}" ${why}. Nothing was changed; it may have been crafted, so check where it came from.`)
}

/**
 * Refuses (UNSAFE_PATH) a whole tree (a cloned branch) before any of it is written into `dir`.
 * Gives the paths of its gitlinks (nested git repositories), which a checkout leaves empty.
 * With `objects: false`, a file's or symlink's object is not read to see that it is a blob:
 * see checkOutNewTree.
 */
export async function assertSafeTree(trees: TreeReader, dir: string, tree: string, what: string, {objects = true} = {}): Promise<string[]> {
  const gitlinks: string[] = []
  for await (const entry of trees.walk(tree)) {
    const problem = await entryProblem(trees, dir, entry.path, entry, {objects: objects || entry.mode === MODE.TREE})
    if (problem) refuseUnsafe(entry.path, problem, what)
    if (entry.mode === MODE.GITLINK) gitlinks.push(entry.path)
  }
  return gitlinks
}

/**
 * Checks `tree` (assertSafeTree) and writes it with `checkout` into `dir`, a new folder that
 * the caller removes when this throws. libgit2 reads each file's object as it writes it and
 * fails on one that is missing or not a blob, so the objects are read beforehand only when it
 * failed, to say which entry and why: reading them all twice made a clone of 240 MB 3 s slower.
 */
export async function checkOutNewTree(trees: TreeReader, dir: string, tree: string, what: string, checkout: () => Promise<void>): Promise<string[]> {
  const gitlinks = await assertSafeTree(trees, dir, tree, what, {objects: false})
  try {
    await checkout()
  } catch (error) {
    await assertSafeTree(trees, dir, tree, what)
    throw error
  }
  return gitlinks
}

/** A file a restore writes, as its snapshot has it. */
export interface WrittenEntry extends EntryInfo {
  size: number
}

/** How many lookups a restore's check keeps going at once. */
const LOOKUPS = 8

/**
 * Refuses (UNSAFE_PATH) a restore of `target` over the folder before anything is written when
 * it would write a dangerous path (see entryProblem), write through a symlink (one the snapshot
 * holds, or one in the folder), or replace a folder or file that holds something not in
 * `current` (ignored files) by the other kind. Each folder of the two trees is read once, so
 * the check is linear in the number of changes. Gives each file it will write: its mode, its
 * object and that object's size.
 */
export async function assertSafeRestore(repo: ShadowRepo, dir: string, current: string, target: string, changes: TreeChange[]): Promise<Map<string, WrittenEntry>> {
  const trees = repo.treeReader()
  const written = changes.filter((c) => c.status !== 'deleted').map((c) => c.path)
  const ancestors = new Set<string>()
  const entries = new Map<string, WrittenEntry>()
  // Looked up some at a time (each lookup is a trip to libgit2's threads, and trips overlap),
  // then refused in order, so that the same file is named whichever lookup ends first.
  const found = await runPool(written, LOOKUPS, async (file) => {
    const entry = await trees.entry(target, file)
    if (!entry) return {problem: unsafeReason(file, {snapshot: true}) ?? 'is not where the snapshot says it is'}
    return {entry, problem: await entryProblem(trees, dir, file, entry, {snapshot: true})}
  })
  for (const [i, file] of written.entries()) {
    const {entry, problem} = found[i]
    if (problem || !entry) refuseUnsafe(file, problem!)
    entries.set(file, {...entry, size: trees.size(entry.oid)})
    for (let slash = file.indexOf('/'); slash >= 0; slash = file.indexOf('/', slash + 1)) ancestors.add(file.slice(0, slash))
  }
  const files = new Set(written)
  for (const ancestor of ancestors) {
    if (files.has(ancestor)) refuseUnsafe(ancestor, 'is both a file and a folder in the snapshot')
    if ((await trees.mode(target, ancestor)) === MODE.SYMLINK) refuseUnsafe(ancestor, 'is a symlink in the snapshot with files under it')
    const stat = await lstatOrNull(path.join(dir, ancestor))
    if (stat?.isDirectory() && (await trees.mode(current, ancestor)) === MODE.GITLINK) refuseUnsafe(ancestor, 'is a nested git repository in the folder, which ml never writes into')
    if (!stat || stat.isDirectory()) continue
    if (stat.isSymbolicLink()) refuseUnsafe(ancestor, 'is a symlink in the folder, and files would be written through it')
    if ((await trees.mode(current, ancestor)) === null) refuseUnsafe(ancestor, 'is an ignored file in the folder where the snapshot has a folder')
  }
  const stats = await runPool(written, LOOKUPS, (file) => lstatOrNull(path.join(dir, file)))
  for (const [i, file] of written.entries()) {
    const stat = stats[i]
    const targetMode = await trees.mode(target, file)
    if (!stat?.isDirectory() || targetMode === MODE.TREE || targetMode === MODE.GITLINK) continue
    if ((await trees.mode(current, file)) === MODE.GITLINK) refuseUnsafe(file, 'is a nested git repository in the folder')
    for (const entry of await fs.readdir(path.join(dir, file), {recursive: true})) {
      const inside = `${file}/${String(entry).split(path.sep).join('/')}`
      const isDir = (await fs.lstat(path.join(dir, inside))).isDirectory()
      if (!isDir && (await trees.mode(current, inside)) === null) refuseUnsafe(file, `is a folder holding ignored files (${inside}) where the snapshot has a file`)
    }
  }
  return entries
}

/** lstat, or null when nothing is there; any other failure (EACCES, EIO) is not "absent" and is thrown. */
async function lstatOrNull(file: string) {
  try {
    return await fs.lstat(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    throw error
  }
}
