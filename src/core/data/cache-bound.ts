import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {ArtifactStore} from '../../store/artifact-store.js'
import type {ObjectCache} from './object-cache.js'

/** The object cache's size when nothing else is said (ML_DATA_CACHE_LIMIT, `ml data gc --max-size`). */
export const DEFAULT_CACHE_LIMIT = 20 * 1024 ** 3

/**
 * How long an object no run names may stay before gc takes it: a run that is ending keeps its
 * large outputs in the cache a moment before its record names them.
 */
export const UNNEEDED_GRACE_MS = 60 * 60 * 1000

/** One object in the cache, with when it was last written or used (see usedObject). */
export interface CachedObject {
  id: string
  file: string
  size: number
  usedMs: number
}

/** Every whole object in the cache: temporary names (a write under way) and anything else are left alone. */
export async function cachedObjects(cache: ObjectCache): Promise<CachedObject[]> {
  const root = path.join(cache.root, 'sha256')
  const prefixes = await fs.readdir(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw error
  })
  const objects: CachedObject[] = []
  for (const prefix of prefixes.filter((p) => /^[0-9a-f]{2}$/.test(p))) {
    for (const rest of await fs.readdir(path.join(root, prefix))) {
      if (!/^[0-9a-f]{62}$/.test(rest)) continue
      const file = path.join(root, prefix, rest)
      const stat = await fs.lstat(file).catch(() => null)
      if (stat?.isFile()) objects.push({id: prefix + rest, file, size: stat.size, usedMs: stat.mtimeMs})
    }
  }
  return objects
}

export interface CacheBoundResult {
  /** Everything removed, of it `unneeded` because nothing names it any more. */
  removed: number
  bytesRemoved: number
  unneeded: number
  bytesUnneeded: number
  kept: number
  bytesKept: number
  /** Of what stays, what the store lacks (all of it without a store): never removed while needed. */
  notInStore: number
  bytesNotInStore: number
}

export interface BoundOptions {
  /** What the caller is about to use: it stays. */
  keep?: Set<string>
  /** Every object a run or a backup names: an object outside it, unused for UNNEEDED_GRACE_MS, goes first. */
  needed?: Set<string>
  dryRun?: boolean
  now?: number
}

/**
 * Brings the cache down to `maxBytes`: first what nothing needs (when `needed` is given), then
 * what the store holds, least recently used first. An object needed and lacking from the store
 * is never removed, whatever the size (a large output not pushed yet, a restore's backup of data
 * never pushed). The store is asked only when the cache is still over the limit. With `dryRun`,
 * says what would go and removes nothing.
 */
export async function boundCache(cache: ObjectCache, store: ArtifactStore | null, maxBytes: number, options: BoundOptions = {}): Promise<CacheBoundResult> {
  const objects = (await cachedObjects(cache)).sort((a, b) => a.usedMs - b.usedMs)
  let total = objects.reduce((n, o) => n + o.size, 0)
  const result: CacheBoundResult = {removed: 0, bytesRemoved: 0, unneeded: 0, bytesUnneeded: 0, kept: objects.length, bytesKept: total, notInStore: 0, bytesNotInStore: 0}
  const gone = new Set<string>()
  const remove = async (o: CachedObject) => {
    if (!options.dryRun) await fs.rm(o.file, {force: true})
    gone.add(o.id)
    total -= o.size
    result.removed++
    result.bytesRemoved += o.size
  }
  const {needed, keep} = options
  if (needed) {
    const before = (options.now ?? Date.now()) - UNNEEDED_GRACE_MS
    for (const o of objects.filter((o) => !needed.has(o.id) && !keep?.has(o.id) && o.usedMs < before)) {
      await remove(o)
      result.unneeded++
      result.bytesUnneeded += o.size
    }
  }
  if (total > maxBytes) {
    const left = objects.filter((o) => !gone.has(o.id))
    const inStore = store ? await store.has(left.map((o) => o.id)) : new Set<string>()
    for (const o of left) {
      if (!inStore.has(o.id)) {
        result.notInStore++
        result.bytesNotInStore += o.size
      } else if (total > maxBytes && !keep?.has(o.id)) {
        await remove(o)
      }
    }
  }
  result.kept = objects.length - result.removed
  result.bytesKept = total
  return result
}
