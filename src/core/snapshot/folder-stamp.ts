import {createHash} from 'node:crypto'
import {constants, lstatSync, promises as fs, readdirSync, readFileSync, readlinkSync, rmSync, type Stats} from 'node:fs'
import path from 'node:path'
import {userGitFiles} from '../../git/nodegit.js'
import type {PlainBlob} from '../../git/plain-blobs.js'
import {MlError} from '../../shared/errors.js'
import {isGitattributes, isGitignore} from '../../shared/git-files.js'
import {AMLIGNORE, BUILTIN_EXCLUDES, SECRET_RULES} from './ignore-rules.js'
import {TRACKED_DATA_FILE} from '../project/tracked-data.js'
import {historyDir, type Project} from '../project/project.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {ML_DIR, mlPath} from '../project/layout.js'
import {RACY_MS} from '../../shared/racy.js'

/**
 * What the last snapshot saw of the folder, so that the next one can tell without loading git
 * that nothing changed (and then reuse it), or that only some tracked files were edited in
 * place (and then stage just those). Like git's index, it trusts file stats: the mode, size,
 * mtime, ctime and inode of every tracked file, and of every folder git walks (a file added,
 * removed or renamed changes its folder's mtime) with the names in it. A folder with a nested
 * repository gets no stamp: the snapshot takes the full path.
 */
export interface FolderStamp extends PackedFiles {
  tree: string
  commit: string
  /** Signatures of what decides the snapshot beyond the folder: ignore rules, git config, the branch tip. */
  context: string
  /** Per folder ('' is the root): its stat signature and a hash of its entry names. */
  dirs: Record<string, [StatSig, string]>
  /** The likely secrets the snapshot left out (they change only when names in a folder do). */
  secrets: string[]
  /**
   * Files a restore wrote, poisoned, as the blobs it wrote when no filter stands between blob
   * and file: the next check hashes such a file, and one that still is that blob is unchanged
   * without git (see holdingWritten).
   */
  written?: Record<string, PlainBlob>
}

/**
 * A stat signature: mode, size, mtimeMs, ctimeMs, ino. A poisoned one (see poisoned) has mode
 * 0, which no stat has. Numbers, not a string: a check of thousands of files compares them
 * without formatting a number.
 */
export type StatSig = number[]

/**
 * The tracked files and their signatures, FIELDS numbers a file in `paths` order: packed, as
 * the stamp file holds them (see parseStamp).
 */
export interface PackedFiles {
  paths: string[]
  stats: Float64Array
}

/** What a scan of the folder found, before git staged it. */
export interface FolderScan {
  takenAt: number
  dirs: Record<string, [StatSig, string]>
  files: Record<string, StatSig>
  /** A git repository inside the folder: its HEAD is part of the snapshot, and no stamp watches it. */
  nested: boolean
}

export type StampCheck =
  | {kind: 'same'}
  /** Only these tracked files changed (in place); the folders are as they were. */
  | {kind: 'edited'; files: Record<string, StatSig>; dirs: Record<string, [StatSig, string]>; takenAt: number}
  | {kind: 'changed'}

/** 4: the file is a JSON line, then the paths and signatures in binary (see parseStamp). */
const VERSION = 4
const FIELDS = 5
/** libgit2 walks at most 100 levels, the root's included ("directory nesting too deep"). */
const MAX_DEPTH = 100

const statSig = (st: Stats): StatSig => [st.mode, st.size, st.mtimeMs, st.ctimeMs, st.ino]
const sameSig = (a: StatSig, b: StatSig): boolean => a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4]
/**
 * The names in folder `rel`. The root's .git and any .ml are never part of a snapshot, so their
 * coming and going changes nothing; a .git appearing below the root makes a nested repository.
 */
const namesHash = (rel: string, names: string[]): string =>
  createHash('sha1').update(names.filter((n) => n !== ML_DIR && (rel || n !== '.git')).sort().join('\0')).digest('hex')

/**
 * A record keyed by file names, with no prototype: a file named `__proto__` or `constructor`
 * is a key like any other, not a setter or an inherited value.
 */
const record = <T>(): Record<string, T> => Object.create(null) as Record<string, T>

/** `root` ending in a slash: the hot loops join paths by concatenation, not path.join. */
const withSlash = (root: string): string => (root.endsWith('/') ? root : `${root}/`)

function stampFile(dir: string): string {
  return mlPath(dir, 'stamp')
}

/**
 * The stamp file: a line of JSON (all but the files), then the files' paths joined by NUL, then
 * their signatures as raw float64s (this machine's byte order: the file is a local cache). Read
 * by every snapshot, so kept cheap to parse: 20,000 paths in JSON with base64 signatures took
 * 15 ms to read, this 5.
 */
interface StampHeader extends Omit<FolderStamp, 'paths' | 'stats'> {
  version: number
  files: number
  pathBytes: number
}

/** The stamp file of the project folder `dir`: its bytes; null when there is none (or it cannot be read: the snapshot then stages the folder). */
export function readStampBytes(dir: string): Buffer | null {
  try {
    return readFileSync(stampFile(dir))
  } catch {
    return null
  }
}

/** A stamp from the bytes of its file; null when they are not one of this version. */
export function parseStamp(bytes: Buffer): FolderStamp | null {
  const newline = bytes.indexOf(10)
  let header: StampHeader
  try {
    header = JSON.parse(bytes.toString('utf8', 0, newline)) as StampHeader
  } catch {
    return null
  }
  const {version, files, pathBytes, ...stamp} = header
  const start = newline + 1 + pathBytes
  if (newline < 0 || version !== VERSION || !Number.isInteger(files) || !Number.isInteger(pathBytes) || bytes.length !== start + files * FIELDS * 8) return null
  const paths = files === 0 ? [] : bytes.toString('utf8', newline + 1, start).split('\0')
  if (paths.length !== files) return null
  // Copied, not viewed: a Float64Array needs an aligned offset, which the file's bytes may not have.
  const stats = new Float64Array(files * FIELDS)
  new Uint8Array(stats.buffer).set(bytes.subarray(start))
  return {...stamp, paths, stats}
}

/** The bytes of a stamp's file (see parseStamp). */
export function formatStamp({paths, stats, ...rest}: FolderStamp): Buffer {
  const names = Buffer.from(paths.join('\0'))
  const header: StampHeader = {version: VERSION, files: paths.length, pathBytes: names.length, ...rest}
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), names, new Uint8Array(stats.buffer, stats.byteOffset, stats.byteLength)])
}

/** `files` (signatures by path, as a scan gives them) packed for a stamp. */
export function packFiles(files: Record<string, StatSig>): PackedFiles {
  const paths = Object.keys(files)
  const stats = new Float64Array(paths.length * FIELDS)
  paths.forEach((file, i) => stats.set(files[file], i * FIELDS))
  return {paths, stats}
}

/** Packed `files` with the signatures of `edited` (some of its paths) put in. */
export function patchFiles({paths, stats}: PackedFiles, edited: Record<string, StatSig>): PackedFiles {
  const patched = stats.slice()
  paths.forEach((file, i) => {
    if (Object.hasOwn(edited, file)) patched.set(edited[file], i * FIELDS)
  })
  return {paths, stats: patched}
}

/** The packed files with their sizes. */
export function packedSizes({paths, stats}: PackedFiles): Array<{path: string; size: number}> {
  return paths.map((file, i) => ({path: file, size: stats[i * FIELDS + 1]}))
}

export async function dropStamp(project: Project): Promise<void> {
  await fs.rm(stampFile(project.dir), {force: true})
}

/** Saves a stamp; it is a cache, so failing to keep one never fails the snapshot. */
export async function saveStamp(project: Project, stamp: FolderStamp): Promise<void> {
  await writeAtomically(stampFile(project.dir), formatStamp(stamp), {sync: false})
    .catch(() => dropStamp(project).catch(() => undefined))
  // Stamps before version 4 were JSON, in folder-stamp.json: one an earlier ml left goes.
  rmSync(`${stampFile(project.dir)}.json`, {force: true})
}

/**
 * The signature of the snapshot's context: ml's own rules, the history repo's info/exclude and
 * branch ref, and the user's global git config and excludes file (libgit2 reads both).
 */
export async function contextSignature(project: Project): Promise<string> {
  const gitdir = historyDir(project)
  const files = [
    path.join(gitdir, 'info', 'exclude'), path.join(gitdir, 'config'), path.join(gitdir, 'HEAD'), path.join(gitdir, 'packed-refs'),
    path.join(gitdir, 'refs', 'heads', project.config.historyBranch), path.join(project.dir, AMLIGNORE), path.join(project.dir, TRACKED_DATA_FILE),
    ...userGitFiles(),
  ]
  // Synchronous: a dozen stats on the way of every snapshot cost less than a trip to the thread pool each.
  const sigs = files.map((f) => {
    try {
      return statSig(lstatSync(f))
    } catch {
      return '-' // none (or unreadable, which libgit2 treats alike)
    }
  })
  return createHash('sha1').update(`${BUILTIN_EXCLUDES}\0${SECRET_RULES.join('\n')}\0${sigs.join('\n')}`).digest('hex')
}

/**
 * Walks the folder as git does (skipping .git and the folders `isIgnored` names), recording
 * each folder and each file, before git reads them: a file changed after that has a newer stat.
 */
export async function scanFolder(root: string, isIgnored: (dirPath: string) => Promise<boolean>): Promise<FolderScan> {
  const scan: FolderScan = {takenAt: Date.now(), dirs: record(), files: record(), nested: false}
  const prefix = withSlash(root)
  const walk = async (rel: string, depth: number): Promise<void> => {
    const st = lstatSync(prefix + rel)
    const entries = readdirSync(prefix + rel, {withFileTypes: true})
    scan.dirs[rel] = [statSig(st), namesHash(rel, entries.map((e) => e.name))]
    const childOf = (name: string) => (rel ? `${rel}/${name}` : name)
    // The subfolders' ignore checks go to libgit2 together: one by one, each a trip to its
    // thread and back, they took most of the scan of a first snapshot.
    const subfolders = entries.filter((e) => e.isDirectory() && e.name !== '.git' && !e.name.includes('\ufffd'))
    const ignoredNow = await Promise.all(subfolders.map((e) => isIgnored(`${childOf(e.name)}/`)))
    const ignoredDirs = new Set(subfolders.filter((_, i) => ignoredNow[i]).map((e) => e.name))
    for (const entry of entries) {
      const child = childOf(entry.name)
      if (entry.name === '.git') {
        if (rel) scan.nested = true
      } else if (entry.name.includes('\ufffd')) {
        // Node reads a name that is not UTF-8 with U+FFFD in place of its bytes, so it could not
        // even stat it; libgit2 would record it, and no restore could check it against the folder.
        if (!(await isIgnored(entry.isDirectory() ? `${child}/` : child))) throw new MlError('UNSUPPORTED_NAME', `The name of ${root}/${child} is not valid UTF-8, which ml cannot record; rename it, or add it to .amlignore.`)
      } else if (entry.isDirectory()) {
        if (ignoredDirs.has(entry.name)) continue
        if (depth + 1 >= MAX_DEPTH) {
          throw new MlError('SNAPSHOT_TOO_DEEP', `The folder ${child.slice(0, 200)}... is nested ${MAX_DEPTH} levels deep or more, deeper than git's library can snapshot; add it to .amlignore.`)
        }
        await walk(child, depth + 1)
      } else {
        scan.files[child] = statSig(lstatSync(prefix + child))
      }
    }
  }
  await walk('', 0)
  return scan
}

/**
 * Poisons each signature read so close to the scan that a write in the same clock tick could
 * share it: the next check then re-reads that folder's names, or re-stages that file, instead
 * of trusting it (git's "racy" entries, handled the same way).
 */
export function settleScan(scan: Pick<FolderScan, 'takenAt' | 'dirs' | 'files'>): void {
  const racy = (sig: StatSig) => (scan.takenAt - sig[2] < RACY_MS || scan.takenAt - sig[3] < RACY_MS ? poisoned(sig) : sig)
  for (const dir in scan.dirs) scan.dirs[dir][0] = racy(scan.dirs[dir][0])
  for (const file in scan.files) scan.files[file] = racy(scan.files[file])
}

/** A signature no stat matches (mode 0), so that the next check re-reads what it stands for. */
export function poisoned(sig: StatSig): StatSig {
  return [0, sig[1], 0, 0, 0]
}

/** The size in a stat signature. */
function sizeOf(sig: StatSig): number {
  return sig[1]
}

/** Compares the folder with the stamp, by stats only (the hot loop of a snapshot: kept plain). */
export function checkStamp(root: string, stamp: FolderStamp): StampCheck {
  const takenAt = Date.now()
  const prefix = withSlash(root)
  const dirs = record<[StatSig, string]>()
  let dirsChanged = false
  for (const rel in stamp.dirs) {
    const [sig, names] = stamp.dirs[rel]
    const st = lstatSync(prefix + rel, {throwIfNoEntry: false})
    if (!st?.isDirectory()) return {kind: 'changed'}
    const now = statSig(st)
    if (sameSig(now, sig)) continue
    let entries: string[]
    try {
      entries = readdirSync(prefix + rel)
    } catch {
      return {kind: 'changed'}
    }
    if (namesHash(rel, entries) !== names) return {kind: 'changed'}
    dirs[rel] = [now, names]
    dirsChanged = true
  }
  const files = record<StatSig>()
  let filesChanged = false
  const {paths, stats} = stamp
  for (let i = 0, at = 0; i < paths.length; i++, at += FIELDS) {
    const rel = paths[i]
    const st = lstatSync(prefix + rel, {throwIfNoEntry: false})
    if (!st || st.isDirectory()) return {kind: 'changed'}
    if (st.mode === stats[at] && st.size === stats[at + 1] && st.mtimeMs === stats[at + 2] && st.ctimeMs === stats[at + 3] && st.ino === stats[at + 4]) continue
    // New rules can drop tracked files from the snapshot: that takes the full path.
    if (isGitignore(rel)) return {kind: 'changed'}
    files[rel] = statSig(st)
    filesChanged = true
  }
  return filesChanged || dirsChanged ? {kind: 'edited', files, dirs, takenAt} : {kind: 'same'}
}

/** The part of a stamp that describes the folder: its walked folders and tracked files. */
export type StampedFolder = Pick<FolderStamp, 'dirs' | 'paths' | 'stats' | 'written'>

/** Files larger than this are left to git, which streams them, rather than read whole. */
const HASH_LIMIT = 64 * 1024 * 1024

/**
 * Of the files a check found changed (`files`, with their signatures before settling), those a
 * restore wrote that still hold the blob it wrote, hashed as git hashes a blob: they need no
 * staging. None when a .gitattributes changed too, as a filter may apply to them now.
 */
export function holdingWritten(root: string, written: Record<string, PlainBlob> | undefined, files: Record<string, StatSig>): Set<string> {
  const same = new Set<string>()
  if (!written || Object.keys(files).some(isGitattributes)) return same
  const prefix = withSlash(root)
  for (const file in files) {
    if (!Object.hasOwn(written, file)) continue
    const [mode, oid] = written[file]
    const [stMode, size] = files[file]
    const type = stMode & constants.S_IFMT
    // The mode as libgit2 reads it with core.filemode: executable when the owner may run it.
    const sameMode = mode === 0o120000 ? type === constants.S_IFLNK : type === constants.S_IFREG && (mode === 0o100755) === ((stMode & 0o100) !== 0)
    if (!sameMode || size > HASH_LIMIT) continue
    let content: Buffer
    try {
      content = type === constants.S_IFLNK ? readlinkSync(prefix + file, {encoding: 'buffer'}) : readFileSync(prefix + file)
    } catch {
      continue // gone or unreadable since the check: staging it says what is wrong
    }
    if (createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex') === oid) same.add(file)
  }
  return same
}

/** Of `written`, the files in `same` that are still poisoned in `files` (racy): the next check hashes them again. */
export function keepWritten(written: Record<string, PlainBlob> | undefined, same: Set<string>, files: Record<string, StatSig>): Record<string, PlainBlob> | undefined {
  const kept = record<PlainBlob>()
  for (const file of same) if (files[file][0] === 0) kept[file] = written![file]
  return Object.keys(kept).length ? kept : undefined
}

/**
 * `before` (the folder as stamped) after the files `changed` (path -> deleted or written) were
 * deleted or written, without a walk: each written file and each folder on a changed path is
 * read again, and poisoned (the next snapshot re-reads it, as the restore just wrote it); the
 * rest keeps its signature, which the next check still compares with the folder. `blobs` are
 * what was written, of the files whose content the next check may hash (see holdingWritten).
 * Null when a written file is not there (the next snapshot then stages the folder).
 */
export function restampChanged(root: string, before: StampedFolder, changed: Map<string, boolean>, blobs: Record<string, PlainBlob> = {}): StampedFolder | null {
  const prefix = withSlash(root)
  const fresh = (rel: string): StatSig | null => {
    const st = lstatSync(prefix + rel, {throwIfNoEntry: false})
    return st && !st.isDirectory() ? poisoned(statSig(st)) : null
  }
  const paths: string[] = []
  const stats = new Float64Array((before.paths.length + changed.size) * FIELDS)
  const keep = (rel: string, sig: ArrayLike<number>, at = 0) => {
    for (let k = 0; k < FIELDS; k++) stats[paths.length * FIELDS + k] = sig[at + k]
    paths.push(rel)
  }
  const seen = new Set<string>()
  for (let i = 0; i < before.paths.length; i++) {
    const rel = before.paths[i]
    const deleted = changed.get(rel)
    if (deleted === undefined) {
      keep(rel, before.stats, i * FIELDS)
      continue
    }
    seen.add(rel)
    const sig = deleted ? undefined : fresh(rel)
    if (sig === null) return null
    if (sig) keep(rel, sig)
  }
  for (const [rel, deleted] of changed) {
    if (deleted || seen.has(rel)) continue
    const sig = fresh(rel)
    if (!sig) return null
    keep(rel, sig)
  }
  const dirs = Object.assign(record<[StatSig, string]>(), before.dirs)
  for (const dir of changedFolders(changed.keys())) {
    const st = lstatSync(prefix + dir, {throwIfNoEntry: false})
    if (!st?.isDirectory()) {
      delete dirs[dir]
      continue
    }
    dirs[dir] = [poisoned(statSig(st)), namesHash(dir, readdirSync(prefix + dir))]
  }
  const written = Object.assign(record<PlainBlob>(), before.written)
  for (const rel of changed.keys()) delete written[rel]
  Object.assign(written, blobs)
  return {dirs, paths, stats: stats.slice(0, paths.length * FIELDS), ...(Object.keys(written).length ? {written} : {})}
}

/** The folders on the way to `files` ('' the root), each once. */
export function changedFolders(files: Iterable<string>): Set<string> {
  const folders = new Set([''])
  for (const file of files) {
    for (let slash = file.indexOf('/'); slash >= 0; slash = file.indexOf('/', slash + 1)) folders.add(file.slice(0, slash))
  }
  return folders
}

/** A group of the folder's paths to stage in one call, with the files and bytes it holds. */
export interface ScanGroup {
  paths: string[]
  files: number
  bytes: number
}

/**
 * Splits the scanned files into `count` groups of about equal bytes, each a list of folders
 * and files, so that a first snapshot can hash on every core and tell its progress group by
 * group. A folder heavier than a group's share is split into its children.
 */
export function groupScan(scan: FolderScan, count: number): ScanGroup[] {
  const bytes = new Map<string, number>()
  const files = new Map<string, number>()
  const children = new Map<string, string[]>()
  const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '')
  const addChild = (p: string) => {
    const siblings = children.get(parentOf(p))
    if (siblings) siblings.push(p)
    else children.set(parentOf(p), [p])
  }
  for (const dir of Object.keys(scan.dirs)) if (dir) addChild(dir)
  for (const [file, sig] of Object.entries(scan.files)) {
    const size = sizeOf(sig)
    bytes.set(file, size)
    files.set(file, 1)
    addChild(file)
    for (let dir = parentOf(file); ; dir = parentOf(dir)) {
      bytes.set(dir, (bytes.get(dir) ?? 0) + size)
      files.set(dir, (files.get(dir) ?? 0) + 1)
      if (!dir) break
    }
  }
  const share = (bytes.get('') ?? 0) / count
  const units = [...(children.get('') ?? [])]
  for (;;) {
    units.sort((a, b) => (bytes.get(b) ?? 0) - (bytes.get(a) ?? 0))
    const largest = units[0]
    if (!largest || (bytes.get(largest) ?? 0) <= share || !children.has(largest)) break
    units.splice(0, 1, ...children.get(largest)!)
  }
  const groups: ScanGroup[] = Array.from({length: count}, () => ({paths: [], files: 0, bytes: 0}))
  for (const unit of units) {
    const lightest = groups.reduce((a, b) => (b.bytes < a.bytes ? b : a))
    lightest.paths.push(unit)
    lightest.bytes += bytes.get(unit) ?? 0
    lightest.files += files.get(unit) ?? 0
  }
  return groups.filter((g) => g.paths.length > 0)
}
