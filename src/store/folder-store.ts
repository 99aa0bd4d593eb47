import {constants, promises as fs} from 'node:fs'
import path from 'node:path'
import {runPool} from '../shared/run-pool.js'
import {objectKey} from './object-key.js'
import {type ArtifactStore, sameStat, type VouchedStat} from './store-interface.js'
import {tempFileFor} from './temp-file.js'
import {objectMissing, otherBytes, storeError} from './store-errors.js'
import {checkedChunks, fileChunks, localFileChunks, writeThrough} from './verified-transfer.js'

/** From how many ids `has` lists folders instead of looking at each object. */
const LIST_FROM = 64

/**
 * A store in a folder: a local disk or a shared mount. An object is written under a temporary
 * name beside its place and renamed there, so that a reader (another machine on the mount)
 * sees it whole or not at all, and two writers of one id both end with the same bytes.
 */
export class FolderStore implements ArtifactStore {
  constructor(private readonly root: string) {}

  get where(): string {
    return this.root
  }

  /** Folders of objects made by this store, so that a put does not make them again. */
  private readonly made = new Set<string>()

  async has(ids: string[]): Promise<Set<string>> {
    const held = new Set<string>()
    if (ids.length <= LIST_FROM) {
      await runPool(ids, 16, async (id) => {
        if (await this.isObject(path.join(this.root, objectKey(id)))) held.add(id)
      })
      return held
    }
    // Many ids: one listing of each folder they fall in costs less than a stat each.
    const byFolder = new Map<string, string[]>()
    for (const id of ids) {
      const folder = path.dirname(objectKey(id))
      byFolder.set(folder, [...byFolder.get(folder) ?? [], id])
    }
    await runPool([...byFolder], 16, async ([folder, wanted]) => {
      let names
      try {
        names = await fs.readdir(path.join(this.root, folder), {withFileTypes: true})
      } catch (error) {
        if (['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) return
        throw storeError(this.where, error)
      }
      const files = new Set(names.filter((n) => n.isFile()).map((n) => n.name))
      for (const id of wanted) if (files.has(path.basename(objectKey(id)))) held.add(id)
    })
    return held
  }

  async put(id: string, file: string, size: number, onBytes?: (bytes: number) => void, vouched?: VouchedStat): Promise<void> {
    const target = path.join(this.root, objectKey(id))
    // A vouched file is copied without a look first: renamed over an object already there, it
    // has the same bytes (the callers ask `has` before they put).
    if (!vouched && await this.isObject(target)) return
    const folder = path.dirname(target)
    if (!this.made.has(folder)) {
      await fs.mkdir(folder, {recursive: true}).catch((error) => {
        throw storeError(this.where, error)
      })
      this.made.add(folder)
    }
    if (vouched && vouched.size === size && await this.copyVouched(file, target, vouched)) {
      onBytes?.(size)
      return
    }
    if (vouched && await this.isObject(target)) return
    await writeThrough(localFileChunks(file, id, size, this.where), target, onBytes, (error) => storeError(this.where, error))
  }

  async get(id: string, dest: string, size: number, onBytes?: (bytes: number) => void): Promise<void> {
    let handle
    try {
      handle = await fs.open(path.join(this.root, objectKey(id)), 'r')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw objectMissing(this.where, id)
      throw storeError(this.where, error)
    }
    try {
      await writeThrough(checkedChunks(fileChunks(handle, size + 1), id, size, otherBytes(this.where, id)), dest, onBytes)
    } finally {
      await handle.close()
    }
  }

  async copyOut(id: string, dest: string): Promise<void> {
    await fs.copyFile(path.join(this.root, objectKey(id)), dest, constants.COPYFILE_EXCL).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' && error.path === path.join(this.root, objectKey(id))) throw objectMissing(this.where, id)
      throw storeError(this.where, error)
    })
  }

  async close(): Promise<void> {}

  /**
   * Copies `file` to `target` with the kernel (no read into Node, no hash) when it still has
   * the vouched stat (taken a moment before) after the copy, so what was copied is what was
   * hashed; false when it changed (then it is hashed as it is sent: a changed file is
   * DATA_CORRUPT).
   */
  private async copyVouched(file: string, target: string, vouched: VouchedStat): Promise<boolean> {
    const temp = tempFileFor(target)
    let renamed = false
    try {
      await fs.copyFile(file, temp, constants.COPYFILE_EXCL).catch((error: NodeJS.ErrnoException) => {
        throw error.code === 'ENOENT' && error.path === file ? error : storeError(this.where, error)
      })
      if (!sameStat(await fs.lstat(file), vouched)) return false
      await fs.rename(temp, target).catch((error) => {
        throw storeError(this.where, error)
      })
      renamed = true
      return true
    } finally {
      if (!renamed) await fs.rm(temp, {force: true})
    }
  }

  private async isObject(file: string): Promise<boolean> {
    try {
      return (await fs.stat(file)).isFile()
    } catch (error) {
      if (['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) return false
      throw storeError(this.where, error)
    }
  }

}
