import path from 'node:path'
import {runPool} from '../shared/run-pool.js'
import {connectSsh, isNoSuchFile, type SshShell} from '../ssh/ssh-shell.js'
import {objectKey} from './object-key.js'
import {objectMissing, otherBytes, storeError} from './store-errors.js'
import type {ArtifactStore, StoreOptions} from './store-interface.js'
import {tempFileFor} from './temp-file.js'
import {checkedChunks, localFileChunks, writeThrough} from './verified-transfer.js'

/** Up to this many ids, `has` asks for each object; past it, it lists the fan-out folders the ids fall in. */
const STAT_EACH_UP_TO = 16
/** Requests at once on the one SFTP channel, for has's stats and listings. */
const REQUESTS = 16

/**
 * A store in a folder of an ssh host, over SFTP on one connection (the compute targets'
 * connection, host-key check and keys; the host may be a Host alias of ~/.ssh/config).
 * Objects are written under a temporary name beside their place and renamed there with
 * OpenSSH's posix-rename, so they are visible only whole.
 */
export class SshStore implements ArtifactStore {
  /** Fan-out folders known to exist, so that a put of many objects makes each once. */
  private readonly made = new Set<string>()
  /** Ids `has` just found missing: their put goes without asking again (a race with another machine's put of the same bytes is harmless). */
  private readonly absent = new Set<string>()

  private constructor(private readonly shell: SshShell, private readonly root: string, readonly where: string) {}

  static async open(place: {user?: string; host: string; port?: number; path: string}, where: string, options: StoreOptions): Promise<SshStore> {
    const shell = await connectSsh(place, {home: options.home, env: options.env}, {timeoutMs: options.connectTimeoutMs ?? 10_000, codes: {unreachable: 'STORE_UNREACHABLE', lost: 'STORE_UNREACHABLE', error: 'STORE_ERROR'}})
    return new SshStore(shell, place.path, where)
  }

  async has(ids: string[]): Promise<Set<string>> {
    const held = new Set<string>()
    try {
      if (ids.length <= STAT_EACH_UP_TO) {
        await runPool(ids, REQUESTS, async (id) => {
          if ((await this.shell.stat(this.file(id)))?.isFile) held.add(id)
          else this.absent.add(id)
        })
        return held
      }
      for (const id of ids) objectKey(id) // checks each id
      const wanted = new Set(ids)
      const fanOuts = [...new Set(ids.map((id) => id.slice(0, 2)))]
      await runPool(fanOuts, REQUESTS, async (fanOut) => {
        for (const name of await this.shell.listFiles(path.posix.join(this.root, 'sha256', fanOut)) ?? []) {
          if (wanted.has(fanOut + name)) held.add(fanOut + name)
        }
      })
      for (const id of wanted) if (!held.has(id)) this.absent.add(id)
      return held
    } catch (error) {
      throw storeError(this.where, error)
    }
  }

  async put(id: string, file: string, size: number, onBytes?: (bytes: number) => void): Promise<void> {
    const target = this.file(id)
    try {
      if (!this.absent.delete(id) && (await this.shell.stat(target))?.isFile) return
      const folder = path.posix.dirname(target)
      if (!this.made.has(folder)) {
        await this.shell.makeFolders(folder)
        this.made.add(folder)
      }
      const temp = tempFileFor(target)
      try {
        await this.shell.writeChunks(temp, localFileChunks(file, id, size, this.where), onBytes)
        await this.shell.rename(temp, target)
      } catch (error) {
        await this.shell.remove(temp).catch(() => {}) // the connection may be what failed: the temp name is a sweepable leftover then
        throw error
      }
    } catch (error) {
      throw storeError(this.where, error)
    }
  }

  async get(id: string, dest: string, size: number, onBytes?: (bytes: number) => void): Promise<void> {
    try {
      await writeThrough(checkedChunks(this.shell.readChunks(this.file(id), size + 1), id, size, otherBytes(this.where, id)), dest, onBytes)
    } catch (error) {
      if (isNoSuchFile(error)) throw objectMissing(this.where, id)
      // This machine's disk errors (a full disk at dest) stay as they are: they are the user's to fix, not the store's.
      throw error instanceof Error && 'syscall' in error ? error : storeError(this.where, error)
    }
  }

  async close(): Promise<void> {
    this.shell.close()
  }

  private file(id: string): string {
    return path.posix.join(this.root, objectKey(id))
  }
}
