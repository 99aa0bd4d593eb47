// TEMPORARY stand-in (a folder store only), replaced by the store branch's artifact-store.ts at merge.
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {MlError} from '../shared/errors.js'

export interface StoreOptions {
  baseDir: string
  home: string
  env: NodeJS.ProcessEnv
  endpoint?: string
  connectTimeoutMs?: number
}
export interface ArtifactStore {
  readonly where: string
  has(ids: string[]): Promise<Set<string>>
  put(id: string, file: string, size: number, onBytes?: (bytes: number) => void): Promise<void>
  get(id: string, dest: string, size: number, onBytes?: (bytes: number) => void): Promise<void>
  close(): Promise<void>
}
export type StoreUrl = {kind: 'folder'; path: string} | {kind: 'ssh'; user?: string; host: string; port?: number; path: string} | {kind: 's3'; bucket: string; prefix: string}
export function parseStoreUrl(url: string, baseDir: string): StoreUrl {
  if (/^[a-z0-9]+:\/\//.test(url) && !url.startsWith('file://')) throw new MlError('INVALID_ARGUMENT', `stand-in: ${url}`)
  return {kind: 'folder', path: path.resolve(baseDir, url.replace(/^file:\/\//, ''))}
}
export async function openStore(url: string, options: StoreOptions): Promise<ArtifactStore> {
  const {path: root} = parseStoreUrl(url, options.baseDir) as {path: string}
  const at = (id: string) => path.join(root, 'sha256', id.slice(0, 2), id.slice(2))
  const hash = async (file: string) => createHash('sha256').update(await fs.readFile(file)).digest('hex')
  return {
    where: url,
    async has(ids) {
      return new Set(ids.filter((id) => existsSync(at(id))))
    },
    async put(id, file) {
      if (existsSync(at(id))) return
      if ((await hash(file)) !== id) throw new MlError('DATA_CORRUPT', `${file} changed`)
      await fs.mkdir(path.dirname(at(id)), {recursive: true})
      const tmp = `${at(id)}.tmp-${randomBytes(4).toString('hex')}`
      await fs.copyFile(file, tmp)
      await fs.rename(tmp, at(id))
    },
    async get(id, dest) {
      if (!existsSync(at(id))) throw new MlError('DATA_MISSING', `no ${id}`)
      const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.ml-tmp-${randomBytes(4).toString('hex')}`)
      await fs.copyFile(at(id), tmp)
      if ((await hash(tmp)) !== id) {
        await fs.rm(tmp)
        throw new MlError('STORE_CORRUPT', `bad ${id}`)
      }
      await fs.rename(tmp, dest)
    },
    async close() {},
  }
}
