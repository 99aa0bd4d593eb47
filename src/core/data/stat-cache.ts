import {lstatSync, readFileSync, type Stats} from 'node:fs'
import path from 'node:path'
import {writeAtomically} from '../../shared/write-atomically.js'
import {mlPath} from '../project/layout.js'

/**
 * What the last data versions read of each file: its stat signature and sha256, so that a file
 * whose stat has not changed is not read again (as git's index and DVC's state db do). Kept
 * packed as its file holds it, and loaded once per call: a line of JSON, the paths joined by
 * NUL, their signatures as raw float64s (this machine's byte order: a local cache), then the
 * hashes, 32 bytes each.
 */
export interface StatCache {
  paths: string[]
  /** FIELDS numbers a path: mode, size, mtimeMs, ctimeMs, ino. */
  stats: Float64Array
  hashes: Buffer
}

const VERSION = 1
const FIELDS = 5
const HASH_BYTES = 32

export const emptyStatCache = (): StatCache => ({paths: [], stats: new Float64Array(0), hashes: Buffer.alloc(0)})

/** The cache of the project folder `dir`; empty when there is none or it is not one of this version (a cache is never trusted beyond its stats). */
export function loadStatCache(dir: string): StatCache {
  let bytes: Buffer
  try {
    bytes = readFileSync(mlPath(dir, 'dataStatCache'))
  } catch {
    return emptyStatCache()
  }
  const newline = bytes.indexOf(10)
  let header: {version?: unknown; files?: unknown; pathBytes?: unknown}
  try {
    header = JSON.parse(bytes.toString('utf8', 0, newline)) as typeof header
  } catch {
    return emptyStatCache()
  }
  const {version, files, pathBytes} = header ?? {}
  if (newline < 0 || version !== VERSION || !Number.isSafeInteger(files) || !Number.isSafeInteger(pathBytes) || (files as number) < 0 || (pathBytes as number) < 0) return emptyStatCache()
  const count = files as number
  const start = newline + 1 + (pathBytes as number)
  const hashesAt = start + count * FIELDS * 8
  if (bytes.length !== hashesAt + count * HASH_BYTES) return emptyStatCache()
  const paths = count === 0 ? [] : bytes.toString('utf8', newline + 1, start).split('\0')
  if (paths.length !== count) return emptyStatCache()
  // Copied, not viewed: a Float64Array needs an aligned offset, which the file's bytes may not have.
  const stats = new Float64Array(count * FIELDS)
  new Uint8Array(stats.buffer).set(bytes.subarray(start, hashesAt))
  return {paths, stats, hashes: bytes.subarray(hashesAt)}
}

/** Looks files up in a cache by path and stat. */
export class StatCacheIndex {
  private readonly at = new Map<string, number>()

  constructor(readonly cache: StatCache) {
    cache.paths.forEach((p, i) => this.at.set(p, i))
  }

  /** The number of `file` in the cache when its stat is the one cached, else -1. */
  find(file: string, st: Stats): number {
    const i = this.at.get(file)
    if (i === undefined) return -1
    const {stats} = this.cache
    const at = i * FIELDS
    return st.mode === stats[at] && st.size === stats[at + 1] && st.mtimeMs === stats[at + 2] && st.ctimeMs === stats[at + 3] && st.ino === stats[at + 4] ? i : -1
  }

  sha256(i: number): string {
    return this.cache.hashes.toString('hex', i * HASH_BYTES, (i + 1) * HASH_BYTES)
  }
}

/** Builds the next cache: entries kept from the last one, and files just hashed. */
export class StatCacheBuilder {
  private readonly paths: string[] = []
  private readonly stats: number[] = []
  private readonly hashes: Buffer[] = []

  constructor(private readonly from: StatCache) {}

  keep(i: number): void {
    this.paths.push(this.from.paths[i])
    for (let k = 0; k < FIELDS; k++) this.stats.push(this.from.stats[i * FIELDS + k])
    this.hashes.push(this.from.hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES))
  }

  add(file: string, st: Stats, sha256: string): void {
    this.paths.push(file)
    this.stats.push(st.mode, st.size, st.mtimeMs, st.ctimeMs, st.ino)
    this.hashes.push(Buffer.from(sha256, 'hex'))
  }

  /** Saves the cache; it is a cache, so failing to save it never fails the call. */
  async save(dir: string): Promise<void> {
    const names = Buffer.from(this.paths.join('\0'))
    const header = JSON.stringify({version: VERSION, files: this.paths.length, pathBytes: names.length})
    const stats = new Float64Array(this.stats)
    const bytes = Buffer.concat([Buffer.from(`${header}\n`), names, new Uint8Array(stats.buffer), ...this.hashes])
    await writeAtomically(mlPath(dir, 'dataStatCache'), bytes, {sync: false}).catch(() => undefined)
  }
}

/**
 * Vouches for files of the project folder by the stat cache: for a file that still has the
 * stat the cache hashed to `id`, that stat, so that a folder store copies it without hashing it
 * again (a file changed since, even with the same bytes, is hashed). The cache loads on first use.
 */
export function statVoucher(projectDir: string): (file: string, id: string) => Stats | undefined {
  let index: StatCacheIndex | undefined
  return (file, id) => {
    index ??= new StatCacheIndex(loadStatCache(projectDir))
    const rel = path.relative(projectDir, file).split(path.sep).join('/')
    const st = lstatSync(file, {throwIfNoEntry: false})
    const i = st?.isFile() ? index.find(rel, st) : -1
    return i >= 0 && index.sha256(i) === id ? st : undefined
  }
}
