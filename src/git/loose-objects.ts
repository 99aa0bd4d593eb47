import {promises as fs} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import {inflate} from 'node:zlib'

const inflateAsync = promisify(inflate)
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
 */
export async function findDamagedLooseObject(gitdir: string): Promise<DamagedObject | null> {
  const objects = path.join(gitdir, 'objects')
  const fanout = (await fs.readdir(objects).catch(() => [] as string[])).filter((d) => /^[0-9a-f]{2}$/.test(d))
  for (const dir of fanout) {
    for (const name of await fs.readdir(path.join(objects, dir)).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{38}$/.test(name)) continue
      const file = path.join(objects, dir, name)
      const reason = await damage(file)
      if (reason) return {id: dir + name, file, reason}
    }
  }
  return null
}

async function damage(file: string): Promise<string | null> {
  let data: Buffer
  try {
    data = await inflateAsync(await fs.readFile(file))
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
