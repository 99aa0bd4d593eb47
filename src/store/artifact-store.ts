import {FolderStore} from './folder-store.js'
import type {ArtifactStore, StoreOptions} from './store-interface.js'
import {parseStoreUrl} from './store-url.js'

export type {ArtifactStore, StoreOptions, VouchedStat} from './store-interface.js'
export {parseStoreUrl, type StoreUrl} from './store-url.js'
export {isStoreTempFile} from './temp-file.js'

/** Opens the store at `url` (connects for ssh). */
export async function openStore(url: string, options: StoreOptions): Promise<ArtifactStore> {
  const parsed = parseStoreUrl(url, options.baseDir)
  switch (parsed.kind) {
    case 'folder':
      return new FolderStore(parsed.path)
    case 'ssh': {
      const {SshStore} = await import('./ssh-store.js') // ssh2 loads only for an ssh store
      const port = parsed.port === undefined ? '' : `:${parsed.port}`
      // A relative path is under the login's home, which ssh:// URLs write as /~/.
      const where = parsed.path.startsWith('/') ? parsed.path : `/~/${parsed.path}`
      return SshStore.open(parsed, `ssh://${parsed.user ? `${parsed.user}@` : ''}${parsed.host}${port}${where}`, options)
    }
    case 's3': {
      const {S3Store} = await import('./s3-store.js') // the AWS SDK loads only for an s3 store, at its first request
      return new S3Store(parsed.bucket, parsed.prefix, options)
    }
  }
}
