import {type Dirent, lstatSync, readdirSync, readlinkSync, type Stats} from 'node:fs'
import {MlError} from '../../shared/errors.js'
import type {OnProgress} from '../../shared/progress.js'
import {NAME_MAX, PATH_MAX, unsafeReason} from '../trust/tree-path.js'
import {hashFiles} from './hash-pool.js'
import {byUtf8, formatManifest, type Manifest, type ManifestEntry, manifestId, manifestTotals} from './manifest.js'
import {loadStatCache, StatCacheBuilder, StatCacheIndex} from './stat-cache.js'
import {RACY_MS} from '../../shared/racy.js'

export interface DataVersion {
  /** The tracked path. */
  path: string
  id: string
  files: number
  bytes: number
  manifest: Manifest
  /** The canonical text (what is stored in the history, by id). */
  text: string
  /** Entries left out, with why (a socket, a fifo, a device, a nested `.git` or `.ml` folder). */
  skipped: Array<{path: string; reason: string}>
  /** The files read and hashed for this version; the others' hashes came from the stat cache. */
  hashed: number
}


/**
 * A name that the path gate passes without a look (ASCII letters, digits, `_`, `-` and `.`, not
 * first, of at most NAME_MAX): most names, and the gate's folding of each cost an unchanged
 * folder's version 15 ms at 10,000 files.
 */
const PLAIN = new RegExp(`^[\\w-][\\w.-]{0,${NAME_MAX - 1}}$`)

type FileEntry = Extract<ManifestEntry, {sha256: string}>

/** What the walk of one tracked path found: its entries, those still to hash, and the cached ones it used. */
interface Walk {
  entries: ManifestEntry[]
  pending: Array<{entry: FileEntry; st: Stats}>
  kept: number[]
  skipped: Array<{path: string; reason: string}>
}

/** Why an entry that is neither file, folder nor link is left out. */
function otherKind(entry: Stats | Dirent): string {
  if (entry.isFIFO()) return 'a fifo'
  if (entry.isSocket()) return 'a socket'
  if (entry.isBlockDevice() || entry.isCharacterDevice()) return 'a device'
  return 'neither a file, a folder nor a symbolic link'
}

const notUtf8 = (rel: string, what = 'name') =>
  new MlError('UNSUPPORTED_NAME', `The ${what} of ${rel} is not valid UTF-8, which ml cannot record in a data version; rename it, or remove it from the tracked data.`)

/**
 * Walks the tracked path `root` with synchronous lstats (as the folder stamp's scan does: a
 * trip to the thread pool per file would cost more than the stat), taking each file's hash from
 * the stat cache when its stat is the cached one.
 */
function walkTracked(prefix: string, root: string, index: StatCacheIndex): Walk {
  const walk: Walk = {entries: [], pending: [], kept: [], skipped: []}
  const file = (rel: string) => {
    const st = lstatSync(prefix + rel)
    const mode = st.mode & 0o100 ? 0o100755 : 0o100644
    const i = index.find(rel, st)
    if (i >= 0) {
      walk.entries.push({path: rel, size: st.size, mode, sha256: index.sha256(i)})
      walk.kept.push(i)
      return
    }
    const entry: FileEntry = {path: rel, size: st.size, mode, sha256: ''}
    walk.entries.push(entry)
    walk.pending.push({entry, st})
  }
  const link = (rel: string) => {
    const target = readlinkSync(prefix + rel, {encoding: 'buffer'})
    const text = target.toString()
    if (!Buffer.from(text).equals(target)) throw notUtf8(rel, 'link target')
    walk.entries.push({path: rel, link: text})
  }
  const folder = (rel: string) => {
    for (const entry of readdirSync(prefix + rel, {withFileTypes: true})) {
      const child = `${rel}/${entry.name}`
      // Node reads a name that is not UTF-8 with U+FFFD in place of its bytes, so it could not even stat it.
      if (entry.name.includes('\ufffd')) throw notUtf8(child)
      const unsafe = PLAIN.test(entry.name) && child.length * 3 <= PATH_MAX ? null : unsafeReason(child)
      if (unsafe?.startsWith('names ')) walk.skipped.push({path: child, reason: unsafe})
      else if (unsafe) throw new MlError('UNSUPPORTED_NAME', `The path ${child.slice(0, 200)} ${unsafe}, which ml cannot record in a data version; rename it, or remove it from the tracked data.`)
      else if (entry.isDirectory()) folder(child)
      else if (entry.isFile()) file(child)
      else if (entry.isSymbolicLink()) link(child)
      else walk.skipped.push({path: child, reason: otherKind(entry)})
    }
  }
  const st = lstatSync(prefix + root, {throwIfNoEntry: false})
  if (!st) return walk
  if (st.isDirectory()) folder(root)
  else if (st.isFile()) file(root)
  else if (st.isSymbolicLink()) link(root)
  else walk.skipped.push({path: root, reason: otherKind(st)})
  return walk
}

/**
 * The versions of the tracked paths `tracked` (relative to `projectDir`, already checked safe),
 * in that order, sharing one stat cache and one pool of hashing threads. A path that does not
 * exist has a version with no entries. A file whose stat (mode, size, mtime, ctime, inode) is
 * the cached one is not read; the others are hashed on all cores (see hashFiles). The cache
 * then keeps every file hashed but those changed within RACY_MS of the walk, or while it was
 * read: the next call reads them again. Symlinks are recorded as links, never followed.
 * Progress: only when there is something to hash.
 */
export async function dataVersions(projectDir: string, tracked: string[], options: {onProgress?: OnProgress; signal?: AbortSignal} = {}): Promise<DataVersion[]> {
  const takenAt = Date.now()
  const cache = loadStatCache(projectDir)
  const index = new StatCacheIndex(cache)
  const prefix = projectDir.endsWith('/') ? projectDir : `${projectDir}/`
  const walks = tracked.map((root) => walkTracked(prefix, root, index))
  const pending = walks.flatMap((w) => w.pending)
  const hashed = await hashFiles(pending.map(({entry}) => ({file: prefix + entry.path, size: entry.size})), options)
  pending.forEach(({entry}, i) => Object.assign(entry, hashed[i]))

  const under = (file: string) => tracked.some((root) => file === root || file.startsWith(`${root}/`))
  const kept = walks.reduce((n, w) => n + w.kept.length, 0)
  const cachedUnder = cache.paths.reduce((n, file) => n + (under(file) ? 1 : 0), 0)
  if (pending.length > 0 || kept !== cachedUnder) {
    const next = new StatCacheBuilder(cache)
    cache.paths.forEach((file, i) => !under(file) && next.keep(i))
    for (const walk of walks) for (const i of walk.kept) next.keep(i)
    const racy = (st: Stats) => st.mtimeMs > takenAt - RACY_MS || st.ctimeMs > takenAt - RACY_MS
    pending.forEach(({entry, st}, i) => !racy(st) && hashed[i].size === st.size && next.add(entry.path, st, entry.sha256))
    await next.save(projectDir)
  }

  return walks.map((walk, i) => {
    const manifest: Manifest = {root: tracked[i], entries: walk.entries.sort((a, b) => byUtf8(a.path, b.path))}
    const text = formatManifest(manifest)
    return {path: tracked[i], id: manifestId(text), ...manifestTotals(manifest), manifest, text, skipped: walk.skipped.sort((a, b) => byUtf8(a.path, b.path)), hashed: walk.pending.length}
  })
}
