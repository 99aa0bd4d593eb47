import {promises as fs, statSync} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'

const HEADER = /^(blob|tree|commit|tag) (\d+)\0/

export interface DamagedObject {
  id: string
  file: string
  reason: string
}

/**
 * The first loose object of `gitdir` that does not inflate to a whole object ("type size\0"
 * and exactly size bytes), or null. libgit2 (before libgit2/libgit2#7346) spins forever on a
 * truncated loose object instead of failing, so ml checks them itself with Node's zlib.
 * Objects (and whole fan-out folders) created at or after `bornSince` (ms since the epoch) are
 * passed over: libgit2 writes an object whole under another name before renaming it, so only
 * an older one can be damaged. Inflating a first snapshot's objects while libgit2 was still
 * writing them took 3.5 of its 9 s on 240 MB. The file's birth time is used, as libgit2 sets
 * the modified time of an object it finds already written (and has not checked).
 */
export async function findDamagedLooseObject(gitdir: string, bornSince = Infinity): Promise<DamagedObject | null> {
  const objects = path.join(gitdir, 'objects')
  const fanout = (await fs.readdir(objects).catch(() => [] as string[])).filter((d) => /^[0-9a-f]{2}$/.test(d))
  const young = (file: string) => {
    const born = statSync(file, {throwIfNoEntry: false})?.birthtimeMs
    return born === undefined || born >= bornSince
  }
  for (const dir of fanout) {
    if (young(path.join(objects, dir))) continue
    for (const name of await fs.readdir(path.join(objects, dir)).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{38}$/.test(name)) continue
      const file = path.join(objects, dir, name)
      if (young(file)) continue
      const reason = await damage(file)
      if (reason) return {id: dir + name, file, reason}
    }
  }
  return null
}

async function damage(file: string): Promise<string | null> {
  let data: Buffer
  try {
    // zlib is imported here, on the rare check, not by every command that loads nodegit.
    data = await promisify((await import('node:zlib')).inflate)(await fs.readFile(file))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return null // packed or pruned meanwhile
    return code === 'Z_BUF_ERROR' ? 'it is truncated' : `it cannot be inflated: ${(error as Error).message}`
  }
  const header = HEADER.exec(data.subarray(0, 32).toString('latin1'))
  if (!header) return 'its header is not that of a git object'
  const size = data.length - header[0].length
  return size === Number(header[2]) ? null : `it holds ${size} bytes where its header says ${header[2]}`
}
