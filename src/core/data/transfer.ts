import {promises as fs} from 'node:fs'
import path from 'node:path'
import {isMlError, MlError} from '../../shared/errors.js'
import type {OnProgress} from '../../shared/progress.js'
import {runPool} from '../../shared/run-pool.js'
import type {ArtifactStore, VouchedStat} from '../../store/artifact-store.js'
import {hashFiles} from './hash-pool.js'
import {cachedPath, localObject, type ObjectCache, tempBeside} from './object-cache.js'

/** An object a run or a data version needs, with the local files that may hold its bytes. */
export interface NeededObject {
  id: string
  size: number
  /** Files besides the cache that may hold it (a tracked file that may have changed since): each is checked as it is sent. */
  sources: string[]
}

/** How many objects go to or come from a store at once. */
const TRANSFERS = 4

export interface SendResult {
  sent: number
  bytes: number
  /** Objects the store lacks and no local file holds any more (changed since the run read them). */
  unavailable: NeededObject[]
}

/** Objects by id, once each (the first one's sources first). */
function distinct<T extends {id: string}>(objects: T[]): T[] {
  const byId = new Map<string, T>()
  for (const o of objects) if (!byId.has(o.id)) byId.set(o.id, o)
  return [...byId.values()]
}

/**
 * Sends the objects the store lacks, each from the cache or else from the first source that
 * still holds its bytes (the store checks them as they go: a changed file is DATA_CORRUPT and
 * the next source is tried). Nothing half-sent is ever visible in the store. `vouch` may give
 * the stat a source had when it was hashed (see statVoucher), for the store to trust it by.
 */
export async function sendObjects(store: ArtifactStore, cache: ObjectCache, objects: NeededObject[], onProgress?: OnProgress, vouch?: (file: string, id: string) => VouchedStat | undefined): Promise<SendResult> {
  const all = distinct(objects)
  const present = await store.has(all.map((o) => o.id))
  const missing = all.filter((o) => !present.has(o.id))
  const result: SendResult = {sent: 0, bytes: 0, unavailable: []}
  const bytesTotal = missing.reduce((n, o) => n + o.size, 0)
  let bytesDone = 0
  const tell = () => onProgress?.({done: result.sent, total: missing.length, bytesDone, bytesTotal})
  await runPool(missing, TRANSFERS, async (object) => {
    const local = localObject(cache, object.id)
    for (const file of [...(local ? [local] : []), ...object.sources]) {
      let sentHere = 0
      try {
        await store.put(object.id, file, object.size, (n) => {
          sentHere += n
          bytesDone += n
          tell()
        }, file === local ? undefined : vouch?.(file, object.id))
        result.sent++
        result.bytes += object.size
        tell()
        return
      } catch (error) {
        bytesDone -= sentHere
        if (!isMlError(error, 'DATA_CORRUPT') && (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      }
    }
    result.unavailable.push(object)
  })
  return result
}

export interface FetchResult {
  fetched: number
  bytes: number
}

/**
 * Brings the objects this machine lacks from the store into the cache, each checked against its
 * id and size before it is renamed into place (STORE_CORRUPT otherwise, and nothing is kept).
 */
export async function fetchObjects(store: ArtifactStore, cache: ObjectCache, objects: Array<{id: string; size: number}>, onProgress?: OnProgress): Promise<FetchResult> {
  const missing = distinct(objects).filter((o) => localObject(cache, o.id) === null)
  const result: FetchResult = {fetched: 0, bytes: 0}
  const bytesTotal = missing.reduce((n, o) => n + o.size, 0)
  let bytesDone = 0
  await runPool(missing, TRANSFERS, async (object) => {
    const target = cachedPath(cache, object.id)
    await fs.mkdir(path.dirname(target), {recursive: true})
    await store.get(object.id, target, object.size, (n) => {
      bytesDone += n
      onProgress?.({done: result.fetched, total: missing.length, bytesDone, bytesTotal})
    }).catch((error: unknown) => {
      // Another process of this machine fetched it meanwhile.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' || localObject(cache, object.id)) return
      throw error
    })
    result.fetched++
    result.bytes += object.size
    onProgress?.({done: result.fetched, total: missing.length, bytesDone, bytesTotal})
  })
  return result
}

/**
 * Fetches files the project folder lacks straight into their places from the store, without a
 * copy in the cache (the store keeps them): each is streamed into a temporary name beside its
 * place, checked against its id and size, then renamed there, with the entry's mode. The caller
 * checks the folders first (assertPlainFolders).
 */
export async function fetchIntoFolder(store: ArtifactStore, projectDir: string, entries: Array<{path: string; sha256: string; size: number; mode: number}>, onProgress?: OnProgress): Promise<FetchResult> {
  if (store.copyOut) return copyIntoFolder(store, store.copyOut.bind(store), projectDir, entries, onProgress)
  const result: FetchResult = {fetched: 0, bytes: 0}
  const bytesTotal = entries.reduce((n, e) => n + e.size, 0)
  let bytesDone = 0
  await runPool(entries, TRANSFERS, async (entry) => {
    const target = path.join(projectDir, entry.path)
    await fs.mkdir(path.dirname(target), {recursive: true})
    await store.get(entry.sha256, target, entry.size, (n) => {
      bytesDone += n
      onProgress?.({done: result.fetched, total: entries.length, bytesDone, bytesTotal})
    })
    if (entry.mode === 0o100755) await fs.chmod(target, 0o755)
    result.fetched++
    result.bytes += entry.size
    onProgress?.({done: result.fetched, total: entries.length, bytesDone, bytesTotal})
  })
  return result
}

/**
 * fetchIntoFolder from a store on this filesystem: every file copied by the kernel to a
 * temporary name beside its place, then all of them hashed on every core, and only when every
 * one holds its id are they renamed into place (STORE_CORRUPT otherwise, and nothing is).
 */
async function copyIntoFolder(store: ArtifactStore, copyOut: (id: string, dest: string) => Promise<void>, projectDir: string, entries: Array<{path: string; sha256: string; size: number; mode: number}>, onProgress?: OnProgress): Promise<FetchResult> {
  const temps = entries.map((e) => tempBeside(path.join(projectDir, e.path)))
  try {
    const folders = new Set(temps.map((t) => path.dirname(t)))
    for (const folder of folders) await fs.mkdir(folder, {recursive: true})
    await runPool(entries.map((e, i) => ({e, temp: temps[i]})), TRANSFERS, async ({e, temp}) => {
      await copyOut(e.sha256, temp)
      if (e.mode === 0o100755) await fs.chmod(temp, 0o755)
    })
    const hashed = await hashFiles(temps.map((file, i) => ({file, size: entries[i].size})), {onProgress})
    const wrong = entries.findIndex((e, i) => hashed[i].sha256 !== e.sha256 || hashed[i].size !== e.size)
    if (wrong >= 0) throw new MlError('STORE_CORRUPT', `The store ${store.where} returned other bytes for ${entries[wrong].sha256} (${entries[wrong].path}); the object there is damaged: remove it from the store and push the file again from a machine that has it. Nothing was written.`)
    await runPool(entries.map((e, i) => ({e, temp: temps[i]})), TRANSFERS, ({e, temp}) => fs.rename(temp, path.join(projectDir, e.path)))
    return {fetched: entries.length, bytes: entries.reduce((n, e) => n + e.size, 0)}
  } finally {
    await runPool(temps, TRANSFERS, (temp) => fs.rm(temp, {force: true}))
  }
}
