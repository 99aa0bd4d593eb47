import {createHash} from 'node:crypto'
import {closeSync, openSync, readSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import {Worker} from 'node:worker_threads'
import {MlError} from '../../shared/errors.js'
import type {OnProgress} from '../../shared/progress.js'

/** A file's sha256 and the bytes read (its size, unless it changed while it was read). */
export interface Hashed {
  sha256: string
  size: number
}

/** Read in chunks of this size, so that a file of any size takes this much memory. */
export const CHUNK = 1 << 20
/** Less than this to hash is hashed on the calling thread: starting threads would cost more. */
const INLINE_BYTES = 8 << 20
const INLINE_FILES = 64
/** Jobs a thread holds at once: one hashing, one waiting, so it never idles for a message. */
const IN_FLIGHT = 2

/** Hashes a file with `buffer` as its chunk, never holding more of it. */
export function sha256File(file: string, buffer: Buffer): Hashed {
  const hash = createHash('sha256')
  const fd = openSync(file, 'r')
  let size = 0
  try {
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; size += n) hash.update(buffer.subarray(0, n))
  } finally {
    closeSync(fd)
  }
  return {sha256: hash.digest('hex'), size}
}

/** What a hashing thread posts back for a job: its number, and its hash or what failed. */
export type HashReply = {id: number} & ({hashed: Hashed} | {error: {message: string; code?: string}})

/**
 * Hashes `files` (absolute paths with their sizes), the largest first, on about one thread per
 * core, started here and ended before this returns; a few small files are hashed on the calling
 * thread. Progress is told after each file.
 */
export async function hashFiles(files: Array<{file: string; size: number}>, options: {onProgress?: OnProgress; signal?: AbortSignal} = {}): Promise<Hashed[]> {
  const results: Hashed[] = new Array(files.length)
  const bytesTotal = files.reduce((n, f) => n + f.size, 0)
  let done = 0
  let bytesDone = 0
  const finished = (id: number, hashed: Hashed) => {
    results[id] = hashed
    done++
    bytesDone += files[id].size
    options.onProgress?.({done, total: files.length, bytesDone, bytesTotal})
  }
  const aborted = () => new MlError('ABORTED', 'Computing the data versions was canceled; nothing was recorded.')
  if (options.signal?.aborted) throw aborted()
  if (files.length === 0) return results
  if (bytesTotal < INLINE_BYTES && files.length <= INLINE_FILES) {
    const buffer = Buffer.allocUnsafe(CHUNK)
    files.forEach((f, id) => finished(id, sha256File(f.file, buffer)))
    return results
  }
  const order = files.map((_, id) => id).sort((a, b) => files[b].size - files[a].size)
  let onAbort = () => undefined as void
  const workers = Array.from({length: Math.min(availableParallelism(), files.length)}, () => new Worker(new URL('./hash-worker.js', import.meta.url)))
  try {
    await new Promise<void>((resolve, reject) => {
      let next = 0
      const give = (worker: Worker) => {
        if (next < order.length) worker.postMessage({id: order[next], file: files[order[next++]].file})
      }
      const fail = (error: Error) => reject(error)
      onAbort = () => fail(aborted())
      options.signal?.addEventListener('abort', onAbort, {once: true})
      for (const worker of workers) {
        worker.on('message', (reply: HashReply) => {
          if ('error' in reply) {
            fail(Object.assign(new Error(reply.error.message), reply.error.code ? {code: reply.error.code} : {}))
            return
          }
          finished(reply.id, reply.hashed)
          if (done === files.length) resolve()
          else give(worker)
        })
        worker.on('error', fail)
        worker.on('exit', (code) => done < files.length && fail(new MlError('INTERNAL', `A hashing thread ended (exit code ${code}) before the data versions were computed.`)))
        for (let k = 0; k < IN_FLIGHT; k++) give(worker)
      }
    })
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    await Promise.all(workers.map((w) => w.terminate()))
  }
  return results
}
