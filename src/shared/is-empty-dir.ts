import {existsSync, promises as fs} from 'node:fs'

/** Whether a path holds nothing (missing, or a folder with nothing but `except`). */
export async function isEmptyDir(dir: string, except: string[] = []): Promise<boolean> {
  if (!existsSync(dir)) return true
  const entries = await fs.readdir(dir).catch(() => null)
  return entries !== null && entries.every((e) => except.includes(e))
}
