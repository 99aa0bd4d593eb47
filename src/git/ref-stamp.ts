import {promises as fs} from 'node:fs'
import path from 'node:path'
import {RACY_MS} from '../shared/racy.js'


export interface RefStamp {
  /** Changes whenever a ref under the folders is created, moved or deleted, or refs are packed. */
  stamp: string
  /** False when something was written so recently that a write in the same clock tick could hide in the stamp. */
  settled: boolean
}

/**
 * A cheap signature of the refs in `folders` of a git dir, without reading any ref: git and
 * libgit2 write a ref by renaming a lock file into its folder, which changes the folder's mtime,
 * and packing rewrites packed-refs. Only folders with no subfolders are covered (run ids have no
 * slash). Used to tell whether a cache built from those refs is still true.
 */
export async function refStamp(gitdir: string, folders: string[]): Promise<RefStamp> {
  const now = Date.now()
  let settled = true
  const parts: string[] = []
  for (const rel of [...folders, 'packed-refs']) {
    const stat = await fs.stat(path.join(gitdir, rel)).catch(() => null)
    if (stat && now - stat.mtimeMs < RACY_MS) settled = false
    parts.push(stat ? `${stat.ino}:${stat.mtimeMs}:${stat.ctimeMs}:${stat.size}` : '-')
  }
  return {stamp: parts.join('|'), settled}
}
