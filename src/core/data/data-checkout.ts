import {lstatSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {MlError} from '../../shared/errors.js'
import type {ManifestDiff, ManifestEntry} from './manifest.js'
import {localObject, type ObjectCache, tempBeside, usedObject} from './object-cache.js'

/** What a data checkout writes and removes, by path. */
export interface DataWrites {
  write: ManifestEntry[]
  remove: ManifestEntry[]
}

/** A restore's writes: the target's new and changed entries, and the folder's entries the target lacks. */
export function restoreWrites(diff: ManifestDiff): DataWrites {
  return {write: [...diff.added, ...diff.changed.map((c) => c.after)], remove: diff.removed}
}

/**
 * Refuses (UNSAFE_PATH) a write whose folders are not plain folders of the project: a symlink
 * on the way would take the write out of it (a manifest's paths passed the path gate, but the
 * folder may hold a link a teammate's manifest did not know of), and a file where a folder
 * must go would be lost.
 */
export function assertPlainFolders(projectDir: string, entries: ManifestEntry[]): void {
  const checked = new Set<string>()
  for (const entry of entries) {
    const parts = entry.path.split('/')
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/')
      if (checked.has(folder)) continue
      checked.add(folder)
      let st
      try {
        st = lstatSync(path.join(projectDir, folder))
      } catch {
        break // missing: made as a plain folder, and so is everything below it
      }
      if (!st.isDirectory()) {
        throw new MlError('UNSAFE_PATH', `${folder} is ${st.isSymbolicLink() ? 'a symbolic link' : 'a file'} where the data's folder ${folder}/ must be, so ${entry.path} cannot be written; move it away first.`)
      }
    }
  }
}

/** The entries whose bytes are neither in the cache nor anywhere else on this machine. */
export function missingObjects(cache: ObjectCache, entries: ManifestEntry[]): Array<{id: string; size: number}> {
  return entries.flatMap((e) => ('sha256' in e && localObject(cache, e.sha256) === null ? [{id: e.sha256, size: e.size}] : []))
}

/**
 * Writes `writes` into the project folder from the cache: each file through a temporary name
 * beside it and a rename, so that a kill leaves either the old file or the new one, never half
 * of one; links are made as recorded, never followed. All objects must be local
 * (DATA_MISSING first, before anything is written); folders are checked first (see
 * assertPlainFolders).
 */
export async function checkoutData(projectDir: string, cache: ObjectCache, writes: DataWrites): Promise<void> {
  const missing = missingObjects(cache, writes.write)
  if (missing.length > 0) throw new MlError('DATA_MISSING', `${missing.length} data file${missing.length === 1 ? ' is' : 's are'} on neither this machine nor fetched yet; fetch them with \`ml data pull\` (the project needs its artifact store).`)
  assertPlainFolders(projectDir, [...writes.write, ...writes.remove])
  for (const entry of writes.remove) await fs.rm(path.join(projectDir, entry.path), {force: true})
  for (const entry of writes.write) {
    const target = path.join(projectDir, entry.path)
    await fs.mkdir(path.dirname(target), {recursive: true})
    const temp = tempBeside(target)
    try {
      if ('link' in entry) await fs.symlink(entry.link, temp)
      else {
        await fs.copyFile(usedObject(cache, entry.sha256)!, temp)
        await fs.chmod(temp, entry.mode === 0o100755 ? 0o755 : 0o644)
      }
      await replaceWith(temp, target)
    } finally {
      await fs.rm(temp, {force: true})
    }
  }
  await removeEmptyFolders(projectDir, writes.remove)
}

/** Renames `temp` over `target`; a folder in the way (the target's version has a file where the folder's had a folder) is removed first only when empty. */
async function replaceWith(temp: string, target: string): Promise<void> {
  try {
    await fs.rename(temp, target)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EISDIR' && (error as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw error
    await fs.rmdir(target)
    await fs.rename(temp, target)
  }
}

/** Removes the folders that removing `removed` left empty, deepest first. */
async function removeEmptyFolders(projectDir: string, removed: ManifestEntry[]): Promise<void> {
  const folders = new Set<string>()
  for (const e of removed) for (let d = path.posix.dirname(e.path); d !== '.'; d = path.posix.dirname(d)) folders.add(d)
  for (const folder of [...folders].sort((a, b) => b.length - a.length)) {
    await fs.rmdir(path.join(projectDir, folder)).catch(() => undefined) // not empty, or gone: left as it is
  }
}
