import {promises as fs} from 'node:fs'
import path from 'node:path'
import {MODE, type ShadowRepo, type TreeChange} from '../git/shadow-repo.js'
import {MlError} from './errors.js'
import {unsafeReason} from './trust/tree-path.js'

/**
 * Refuses (UNSAFE_PATH) a restore of `target` over the folder before anything is written when
 * it would write a dangerous path, write through a symlink (one the snapshot holds, or one in
 * the folder), or replace a folder or file that holds something not in `current` (ignored
 * files) by the other kind.
 */
export async function assertSafeRestore(repo: ShadowRepo, dir: string, current: string, target: string, changes: TreeChange[]): Promise<void> {
  const refuse = (file: string, why: string) => {
    throw new MlError('UNSAFE_PATH', `The snapshot cannot be restored: its path "${file}" ${why}. Nothing was changed; the snapshot may have been crafted, so check where it came from.`)
  }
  const written = changes.filter((c) => c.status !== 'deleted').map((c) => c.path)
  const ancestors = new Set<string>()
  for (const file of written) {
    const reason = unsafeReason(file)
    if (reason) refuse(file, reason)
    const parts = file.split('/')
    for (let i = 1; i < parts.length; i++) ancestors.add(parts.slice(0, i).join('/'))
  }
  const files = new Set(written)
  for (const ancestor of ancestors) {
    if (files.has(ancestor)) refuse(ancestor, 'is both a file and a folder in the snapshot')
    if ((await repo.modeAt(target, ancestor)) === MODE.SYMLINK) refuse(ancestor, 'is a symlink in the snapshot with files under it')
    const stat = await fs.lstat(path.join(dir, ancestor)).catch(() => null)
    if (stat?.isDirectory() && (await repo.modeAt(current, ancestor)) === MODE.GITLINK) refuse(ancestor, 'is a nested git repository in the folder, which ml never writes into')
    if (!stat || stat.isDirectory()) continue
    if (stat.isSymbolicLink()) refuse(ancestor, 'is a symlink in the folder, and files would be written through it')
    if ((await repo.modeAt(current, ancestor)) === null) refuse(ancestor, 'is an ignored file in the folder where the snapshot has a folder')
  }
  for (const file of written) {
    const stat = await fs.lstat(path.join(dir, file)).catch(() => null)
    const targetMode = await repo.modeAt(target, file)
    if (!stat?.isDirectory() || targetMode === MODE.TREE || targetMode === MODE.GITLINK) continue
    const mode = await repo.modeAt(current, file)
    if (mode === MODE.GITLINK) refuse(file, 'is a nested git repository in the folder')
    for (const entry of await fs.readdir(path.join(dir, file), {recursive: true})) {
      const inside = `${file}/${String(entry).split(path.sep).join('/')}`
      const isDir = (await fs.lstat(path.join(dir, inside))).isDirectory()
      if (!isDir && (await repo.modeAt(current, inside)) === null) refuse(file, `is a folder holding ignored files (${inside}) where the snapshot has a file`)
    }
  }
}
