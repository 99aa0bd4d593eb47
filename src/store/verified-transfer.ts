import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import {MlError} from '../shared/errors.js'
import {tempFileFor} from './temp-file.js'

/** The read size: large enough that hashing, not system calls, is the cost of a big file. */
const CHUNK = 1 << 20

/**
 * `chunks` passed on while they are hashed: throws `wrong()`, before the last chunk is given
 * out, when they are not `size` bytes hashing to `id`, and as soon as they pass `size`. So a
 * sink that makes an object visible on its last byte (a PUT, a rename after the loop) never
 * does for other bytes.
 */
export async function* checkedChunks(chunks: AsyncIterable<Buffer>, id: string, size: number, wrong: (what: string) => MlError): AsyncGenerator<Buffer> {
  const hash = createHash('sha256')
  let total = 0
  let held: Buffer | null = null
  for await (const chunk of chunks) {
    if (chunk.length === 0) continue
    total += chunk.length
    if (total > size) throw wrong(`more than the ${size} bytes expected`)
    hash.update(chunk)
    if (held) yield held
    held = chunk
  }
  if (total !== size) throw wrong(`${total} bytes instead of ${size}`)
  if (hash.digest('hex') !== id) throw wrong('their sha256 differs')
  if (held) yield held
}

/** Up to `limit` bytes of the open file `handle` from its start, in fresh buffers (a sink may keep them). */
export async function* fileChunks(handle: fs.FileHandle, limit: number): AsyncGenerator<Buffer> {
  for (let position = 0; position < limit;) {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK, limit - position))
    const {bytesRead} = await handle.read(buffer, 0, buffer.length, position)
    if (bytesRead === 0) return
    position += bytesRead
    yield buffer.subarray(0, bytesRead)
  }
}

/**
 * The local file `file` to send as object `id`, read once and checked on the way (at most
 * `size + 1` bytes of it): DATA_CORRUPT naming it when it changed since it was hashed.
 */
export async function* localFileChunks(file: string, id: string, size: number, where: string): AsyncGenerator<Buffer> {
  const handle = await fs.open(file, 'r')
  try {
    yield* checkedChunks(fileChunks(handle, size + 1), id, size, (what) =>
      new MlError('DATA_CORRUPT', `${file} changed while it was sent to ${where} (${what}): it is no longer the file hashed as ${id.slice(0, 12)}; let whatever writes it finish, then send it again.`))
  } finally {
    await handle.close()
  }
}

/**
 * Writes `chunks` into a temporary file beside `dest` and renames it to `dest` once they all
 * came; when anything fails (the chunks' own check, a full disk) the temporary file is removed
 * and nothing is at `dest`. `sinkError` words a failure of the writing itself.
 */
export async function writeThrough(chunks: AsyncIterable<Buffer>, dest: string, onBytes?: (bytes: number) => void, sinkError: (error: unknown) => unknown = (e) => e): Promise<void> {
  const temp = tempFileFor(dest)
  const sink = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (error) {
      throw sinkError(error)
    }
  }
  const handle = await sink(() => fs.open(temp, 'wx'))
  let open = true
  try {
    for await (const chunk of chunks) {
      await sink(() => writeAll(handle, chunk))
      onBytes?.(chunk.length)
    }
    open = false
    await sink(() => handle.close())
    await sink(() => fs.rename(temp, dest))
  } catch (error) {
    if (open) await handle.close()
    await fs.rm(temp, {force: true})
    throw error
  }
}

async function writeAll(handle: fs.FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length;) offset += (await handle.write(chunk, offset)).bytesWritten
}
