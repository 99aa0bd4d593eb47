import {createHash} from 'node:crypto'
import {MlError} from '../../shared/errors.js'
import {PATH_MAX, unsafeReason} from '../trust/tree-path.js'

/** A file of a data version (mode as git writes it), or a symbolic link recorded as its target, never followed. */
export type ManifestEntry =
  | {path: string; size: number; mode: 0o100644 | 0o100755; sha256: string}
  | {path: string; link: string}

/** A version of one tracked path: every file under it, sorted by path (byte order of UTF-8). */
export interface Manifest {
  /** The tracked path, relative to the project folder, POSIX, no trailing slash. */
  root: string
  /** Paths relative to the project folder: `root` itself for a tracked file, `root/...` for a folder's files. */
  entries: ManifestEntry[]
}

/** What changed from `before` (null: nothing) to `after`, by path. */
export interface ManifestDiff {
  added: ManifestEntry[]
  removed: ManifestEntry[]
  changed: Array<{before: ManifestEntry; after: ManifestEntry}>
  /** Bytes of the files added and changed (after), and removed (before). */
  bytesAdded: number
  bytesRemoved: number
}

const SCHEMA = 1
/**
 * The most entries a manifest may hold: ten times the million files of the largest data folders
 * we plan for, and about 1.5 GB of text, which a JavaScript string cannot hold anyway.
 */
export const MAX_ENTRIES = 10_000_000
const SHA256 = /^[0-9a-f]{64}$/
/** A lone surrogate, which no file name decoded from UTF-8 has, or U+FFFD, which stands for bytes that were not UTF-8. */
const NOT_UTF8 = /[\p{Cs}\ufffd]/u

/** JSON.stringify of the entry with its keys in this order, by concatenation: an unchanged folder's version formats every entry, and an object each cost 15 ms at 10,000. */
const entryLine = (e: ManifestEntry): string =>
  'link' in e
    ? `{"path":${JSON.stringify(e.path)},"link":${JSON.stringify(e.link)}}`
    : `{"path":${JSON.stringify(e.path)},"size":${e.size},"mode":${e.mode},"sha256":"${e.sha256}"}`
const headerLine = (root: string): string => JSON.stringify({schema: SCHEMA, root})

/** The canonical text: a header line {"schema":1,"root":...} then one JSON line per entry, keys in a fixed order, "\n" after each line. */
export function formatManifest(manifest: Manifest): string {
  const lines = [headerLine(manifest.root)]
  for (const entry of manifest.entries) lines.push(entryLine(entry))
  return `${lines.join('\n')}\n`
}

/** The version id: sha256 (hex) of the canonical text. */
export function manifestId(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/**
 * Orders strings by their UTF-8 bytes without encoding them: UTF-16 code units compare as code
 * points (and so as UTF-8) except that surrogates, which make the code points above U+FFFF,
 * must sort above U+E000..U+FFFF.
 */
export function byUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    const fix = (c: number) => (c >= 0xd800 && c <= 0xdfff ? c + 0x2000 : c >= 0xe000 ? c - 0x800 : c)
    return fix(x) - fix(y)
  }
  return a.length - b.length
}

/** Why `value` (a parsed line) is not an entry as formatManifest writes it under `root`, or null. */
function entryProblem(value: unknown, root: string): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not an object'
  const e = value as Record<string, unknown>
  if (typeof e.path !== 'string') return 'has no path'
  if (e.path !== root && !e.path.startsWith(`${root}/`)) return `is outside ${JSON.stringify(root)}`
  const unsafe = unsafeReason(e.path)
  if (unsafe) return unsafe
  if (NOT_UTF8.test(e.path)) return 'is not valid UTF-8'
  if ('link' in e) {
    if (typeof e.link !== 'string' || e.link === '' || e.link.includes('\0') || Buffer.byteLength(e.link) > PATH_MAX) return `has a link target that is not 1 to ${PATH_MAX} bytes without NUL`
    return null
  }
  if (typeof e.size !== 'number' || !Number.isSafeInteger(e.size) || e.size < 0) return 'has a size that is not a non-negative integer'
  if (e.mode !== 0o100644 && e.mode !== 0o100755) return 'has a mode that is neither 100644 nor 100755'
  if (typeof e.sha256 !== 'string' || !SHA256.test(e.sha256)) return 'has a sha256 that is not 64 lowercase hex digits'
  return null
}

/**
 * Parses a manifest read from a history, a store or a teammate (untrusted): DATA_CORRUPT unless
 * the text is exactly canonical (formatManifest(parsed) === text), every path passes the snapshot
 * path gate and is `root` or below it, paths are sorted and unique and no path is inside another
 * entry's path (a link's too), sizes are safe non-negative integers, sha256 are 64 lowercase hex,
 * modes are one of the two, link targets are 1 to 4,095 bytes without NUL, and it has at most
 * MAX_ENTRIES entries. With `expectedId`, the text must also hash to it.
 */
export function parseManifest(text: string, source: string, expectedId?: string): Manifest {
  const corrupt = (why: string) => new MlError('DATA_CORRUPT', `The data manifest ${source} ${why}, so it is damaged or was crafted; fetch it again from a copy you trust.`)
  if (expectedId !== undefined && manifestId(text) !== expectedId) throw corrupt(`does not hash to its id ${expectedId}`)
  if (!text.endsWith('\n')) throw corrupt('does not end with a newline')
  const lines = text.slice(0, -1).split('\n', MAX_ENTRIES + 2)
  if (lines.length > MAX_ENTRIES + 1) throw corrupt(`has more than ${MAX_ENTRIES} entries`)
  const parse = (line: string, at: number): unknown => {
    try {
      return JSON.parse(line)
    } catch {
      throw corrupt(`has a line ${at + 1} that is not JSON`)
    }
  }
  const header = parse(lines[0], 0) as {schema?: unknown; root?: unknown} | null
  if (typeof header !== 'object' || header === null || header.schema !== SCHEMA) throw corrupt(`is not of schema ${SCHEMA}`)
  const {root} = header
  if (typeof root !== 'string' || unsafeReason(root) !== null || NOT_UTF8.test(root)) throw corrupt('has a root that is not a safe relative path')
  if (lines[0] !== headerLine(root)) throw corrupt('has a header that is not in canonical form')
  const entries: ManifestEntry[] = []
  /** Every entry's path: nothing may be below one. */
  const leaves = new Set<string>()
  for (let i = 1; i < lines.length; i++) {
    const value = parse(lines[i], i)
    const problem = entryProblem(value, root)
    const entry = value as ManifestEntry
    if (problem) throw corrupt(`has an entry on line ${i + 1} that ${problem}`)
    if (entryLine(entry) !== lines[i]) throw corrupt(`has a line ${i + 1} that is not in canonical form`)
    const previous = entries.at(-1)
    if (previous && byUtf8(previous.path, entry.path) >= 0) throw corrupt(`has paths out of order or repeated on line ${i + 1}`)
    for (let slash = entry.path.indexOf('/'); slash >= 0; slash = entry.path.indexOf('/', slash + 1)) {
      if (leaves.has(entry.path.slice(0, slash))) throw corrupt(`has a path on line ${i + 1} inside another entry's path`)
    }
    leaves.add(entry.path)
    entries.push(entry)
  }
  return {root, entries}
}

/** A link counts as a file of size 0. */
const sizeOf = (e: ManifestEntry): number => ('link' in e ? 0 : e.size)

const sameEntry = (a: ManifestEntry, b: ManifestEntry): boolean =>
  'link' in a ? 'link' in b && a.link === b.link : !('link' in b) && a.size === b.size && a.mode === b.mode && a.sha256 === b.sha256

/** What changed from `before` (null: nothing) to `after`, by path. */
export function diffManifests(before: Manifest | null, after: Manifest): ManifestDiff {
  const old = new Map((before?.entries ?? []).map((e) => [e.path, e]))
  const diff: ManifestDiff = {added: [], removed: [], changed: [], bytesAdded: 0, bytesRemoved: 0}
  for (const entry of after.entries) {
    const was = old.get(entry.path)
    old.delete(entry.path)
    if (!was) diff.added.push(entry)
    else if (!sameEntry(was, entry)) diff.changed.push({before: was, after: entry})
    else continue
    diff.bytesAdded += sizeOf(entry)
  }
  for (const entry of old.values()) {
    diff.removed.push(entry)
    diff.bytesRemoved += sizeOf(entry)
  }
  return diff
}

/** The entries (links count as files of size 0) and their bytes. */
export function manifestTotals(manifest: Manifest): {files: number; bytes: number} {
  let bytes = 0
  for (const entry of manifest.entries) bytes += sizeOf(entry)
  return {files: manifest.entries.length, bytes}
}
