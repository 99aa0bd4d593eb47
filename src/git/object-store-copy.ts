import {constants, promises as fs} from 'node:fs'
import path from 'node:path'
import {runPool} from '../shared/run-pool.js'

const PACK = /^pack-[0-9a-f]{40}\.pack$/
const FANOUT = /^[0-9a-f]{2}$/
const LOOSE = /^[0-9a-f]{38}$/

/**
 * Copies the packs and loose objects of the repository at gitdir `from` into the new one at
 * `to`, so that a fetch from the same remote finds what it wants already there and downloads
 * nothing (for a local remote, libgit2 builds a new pack object by object: 17 s for 240 MB).
 * Only regular files with an object store's names are copied (no alternates, no symlinks),
 * each one whole before it gets its name, and a pack before its index, by which libgit2
 * finds it.
 */
export async function copyObjectStore(from: string, to: string): Promise<void> {
  const source = path.join(from, 'objects')
  const target = path.join(to, 'objects')
  const packs = (await fs.readdir(path.join(source, 'pack')).catch(() => [] as string[])).filter((name) => PACK.test(name))
  const loose: string[] = []
  for (const dir of await fs.readdir(source)) {
    if (!FANOUT.test(dir)) continue
    for (const name of await fs.readdir(path.join(source, dir)).catch(() => [] as string[])) {
      if (LOOSE.test(name)) loose.push(path.join(dir, name))
    }
  }
  const folders = new Map<string, Promise<unknown>>()
  const copy = async (file: string): Promise<boolean> => {
    if (!(await fs.lstat(path.join(source, file)).catch(() => null))?.isFile()) return false
    const dir = path.dirname(path.join(target, file))
    if (!folders.has(dir)) folders.set(dir, fs.mkdir(dir, {recursive: true}))
    await folders.get(dir)
    const temporary = `${path.join(target, file)}.copy`
    await fs.copyFile(path.join(source, file), temporary, constants.COPYFILE_FICLONE)
    await fs.chmod(temporary, 0o444)
    await fs.rename(temporary, path.join(target, file))
    return true
  }
  await runPool(packs, 4, async (name) => {
    if (await copy(path.join('pack', name))) await copy(path.join('pack', name.replace(/\.pack$/, '.idx')))
  })
  await runPool(loose, 16, copy)
}
