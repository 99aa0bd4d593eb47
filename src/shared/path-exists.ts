import {promises as fs} from 'node:fs'

/** True when something (a file, folder or symlink, even a broken one) is at `p`. */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p)
    return true
  } catch {
    return false
  }
}
