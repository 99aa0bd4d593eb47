import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'

/**
 * Writes `file` through a temporary file (a unique name, removed if the write fails) and a
 * rename, so that a reader never sees half of it. `sync: false` does not wait for the disk (no
 * fsync): for a cache ml can rebuild, or a journal that need outlive only its process, not the
 * machine (as the refs libgit2 writes without fsync); that is a write and a rename, done here,
 * as loading write-file-atomic (which does the durable writes) costs a command's first write
 * 8 ms, on the way to a run's start.
 */
export async function writeAtomically(file: string, data: string | Buffer, options: {sync?: boolean} = {}): Promise<void> {
  if (options.sync !== false) {
    const {default: writeFileAtomic} = await import('write-file-atomic')
    return writeFileAtomic(file, data, {fsync: true})
  }
  const temporary = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`
  try {
    await fs.writeFile(temporary, data)
    await fs.rename(temporary, file)
  } catch (error) {
    await fs.rm(temporary, {force: true})
    throw error
  }
}
