import {constants, promises as fs} from 'node:fs'
import path from 'node:path'
import {runPool} from '../shared/run-pool.js'
import {objectKey} from './object-key.js'
import {type ArtifactStore, sameStat, type VouchedStat} from './store-interface.js'
import {tempFileFor} from './temp-file.js'
import {objectMissing, otherBytes, storeError} from './store-errors.js'
import {checkedChunks, fileChunks, localFileChunks, writeThrough} from './verified-transfer.js'

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

  async has(ids: string[]): Promise<Set<string>> {
    const held = new Set<string>()
    await runPool(ids, 16, async (id) => {
      if (await this.isObject(path.join(this.root, objectKey(id)))) held.add(id)
    })
    return held
  }

  async put(id: string, file: string, size: number, onBytes?: (bytes: number) => void, vouched?: VouchedStat): Promise<void> {
    const target = path.join(this.root, objectKey(id))
    if (await this.isObject(target)) return
    await fs.mkdir(path.dirname(target), {recursive: true}).catch((error) => {
      throw storeError(this.where, error)
    })
    if (vouched && vouched.size === size && await this.copyVouched(file, target, vouched)) {
      onBytes?.(size)
      return
    }
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

  async close(): Promise<void> {}

  /**
   * Copies `file` to `target` with the kernel (no read into Node, no hash) when it has the
   * vouched stat before and after the copy, so what was copied is what was hashed; false when
   * it changed (then the caller hashes as it sends, and a changed file is DATA_CORRUPT).
   */
  private async copyVouched(file: string, target: string, vouched: VouchedStat): Promise<boolean> {
    if (!sameStat(await fs.lstat(file), vouched)) return false
    const temp = tempFileFor(target)
    try {
      await fs.copyFile(file, temp, constants.COPYFILE_EXCL).catch((error: NodeJS.ErrnoException) => {
        throw error.code === 'ENOENT' && error.path === file ? error : storeError(this.where, error)
      })
      if (!sameStat(await fs.lstat(file), vouched)) return false
      await fs.rename(temp, target).catch((error) => {
        throw storeError(this.where, error)
      })
      return true
    } finally {
      await fs.rm(temp, {force: true})
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
