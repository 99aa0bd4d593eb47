import {createHash, randomBytes} from 'node:crypto'
import {createReadStream, createWriteStream, existsSync, promises as fs, utimesSync} from 'node:fs'
import path from 'node:path'
import {Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {largeOutputPath, mlPath} from '../project/layout.js'

/**
 * The local cache of objects (data files and large outputs) by sha256: what this machine has of
 * the store, and what a restore with data or a backup keeps. `.ml/objects/` unless a shared
 * folder is named (ML_DATA_CACHE), which several projects and clones may use at once: every
 * object is written under a temporary name and renamed into place whole.
 */
export interface ObjectCache {
  root: string
  /** The project whose .ml/large-outputs/ (before the cache) is looked in too. */
  projectDir: string
}

export function objectCache(projectDir: string, sharedRoot?: string): ObjectCache {
  return {root: sharedRoot ? path.resolve(sharedRoot) : mlPath(projectDir, 'objects'), projectDir}
}

/** Where object `id` is kept in the cache. */
export function cachedPath(cache: ObjectCache, id: string): string {
  return path.join(cache.root, 'sha256', id.slice(0, 2), id.slice(2))
}

/** The local file holding object `id`, or null: the cache, the project's own, or .ml/large-outputs/ where an earlier ml kept large outputs. */
export function localObject(cache: ObjectCache, id: string): string | null {
  const own = objectCache(cache.projectDir)
  for (const file of [cachedPath(cache, id), ...own.root === cache.root ? [] : [cachedPath(own, id)], largeOutputPath(cache.projectDir, id)]) {
    if (existsSync(file)) return file
  }
  return null
}

/**
 * localObject for a reader about to copy it: an object of the cache is marked used now (its
 * mtime), so that bounding the cache (cache-bound.ts) removes it last. One in a shared cache
 * of another user's may not be marked: it is read all the same.
 */
export function usedObject(cache: ObjectCache, id: string): string | null {
  const file = localObject(cache, id)
  if (file !== null && !file.startsWith(largeOutputPath(cache.projectDir, ''))) {
    const now = new Date()
    try {
      utimesSync(file, now, now)
    } catch (error) {
      if (!['EPERM', 'EACCES', 'EROFS', 'ENOENT'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error
    }
  }
  return file
}

/** A temporary name beside `file` that no object has. */
export function tempBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.ml-tmp-${randomBytes(4).toString('hex')}`)
}

/**
 * Copies `file` into the cache, hashing it on the way (one read), and returns its id; with
 * `expected`, a file that no longer holds those bytes leaves nothing in the cache and gives
 * null. An object the cache has already is not written again.
 */
export async function keepInCache(cache: ObjectCache, file: string, expected?: string): Promise<string | null> {
  if (expected && existsSync(cachedPath(cache, expected))) return expected
  await fs.mkdir(cache.root, {recursive: true})
  const temp = tempBeside(path.join(cache.root, 'object'))
  try {
    const hash = createHash('sha256')
    await pipeline(createReadStream(file), new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk)
        done(null, chunk)
      },
    }), createWriteStream(temp, {flags: 'wx'}))
    const id = hash.digest('hex')
    if (expected && id !== expected) return null
    const target = cachedPath(cache, id)
    if (!existsSync(target)) {
      await fs.mkdir(path.dirname(target), {recursive: true})
      await fs.rename(temp, target)
    }
    return id
  } finally {
    await fs.rm(temp, {force: true})
  }
}
