import {promises as fs} from 'node:fs'
import path from 'node:path'
import {runPool} from '../shared/run-pool.js'
import {objectKey} from './object-key.js'
import type {ArtifactStore} from './store-interface.js'
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

  async put(id: string, file: string, size: number, onBytes?: (bytes: number) => void): Promise<void> {
    const target = path.join(this.root, objectKey(id))
    if (await this.isObject(target)) return
    await fs.mkdir(path.dirname(target), {recursive: true}).catch((error) => {
      throw storeError(this.where, error)
    })
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

  private async isObject(file: string): Promise<boolean> {
    try {
      return (await fs.stat(file)).isFile()
    } catch (error) {
      if (['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) return false
      throw storeError(this.where, error)
    }
  }

}
