import {MlError} from '../../shared/errors.js'
import {parseBytes} from '../../shared/format-bytes.js'
import {type ArtifactStore, openStore, parseStoreUrl} from '../../store/artifact-store.js'
import {withProjectLock} from '../project/lock.js'
import {findProject, type Project, saveProjectRef, writeProjectConfig} from '../project/project.js'
import {openHistory} from '../snapshot/open-history.js'
import type {OnProgress} from '../../shared/progress.js'
import {boundCache, type CacheBoundResult, DEFAULT_CACHE_LIMIT} from './cache-bound.js'
import {localObject, objectCache, type ObjectCache} from './object-cache.js'
import {fetchObjects} from './transfer.js'

/** What reaching a store takes: ssh keys and known hosts under home, AWS settings in env (never stored by ml). */
export interface StoreAccess {
  home: string
  env: NodeJS.ProcessEnv
}

/** The project's artifact store, opened; NO_STORE, saying how to set one, when it has none. */
export async function openProjectStore(project: Project, access: StoreAccess): Promise<ArtifactStore> {
  const url = project.config.store
  if (!url) throw new MlError('NO_STORE', 'The project has no artifact store; set one with `ml project update --store URL` (a folder, ssh://host/path or s3://bucket/prefix).')
  return openStore(url, {baseDir: project.dir, home: access.home, env: access.env, endpoint: project.config.storeEndpoint})
}

/** The object cache: a shared folder named by ML_DATA_CACHE, else the project's .ml/objects/. */
export function projectCache(project: Project, access: Pick<StoreAccess, 'env'>): ObjectCache {
  return objectCache(project.dir, access.env.ML_DATA_CACHE || undefined)
}

/** The object cache's limit: ML_DATA_CACHE_LIMIT (`20GB`, `500MB`) or 20 GB. */
export function cacheLimit(access: Pick<StoreAccess, 'env'>): number {
  const text = access.env.ML_DATA_CACHE_LIMIT
  if (text === undefined || text === '') return DEFAULT_CACHE_LIMIT
  const limit = parseBytes(text)
  if (limit === null) throw new MlError('INVALID_ARGUMENT', `ML_DATA_CACHE_LIMIT=${JSON.stringify(text)} is not a size (such as 20GB or 500MB).`)
  return limit
}

/**
 * Makes room in the cache for `incoming` objects before they are fetched: what the store holds
 * goes, least recently used first, until they fit under the limit; what is in `keep` stays.
 */
export async function makeRoom(store: ArtifactStore, cache: ObjectCache, access: Pick<StoreAccess, 'env'>, incoming: Array<{size: number}>, keep: Array<{id: string}>): Promise<CacheBoundResult> {
  const bytes = incoming.reduce((n, o) => n + o.size, 0)
  return boundCache(cache, store, Math.max(0, cacheLimit(access) - bytes), {keep: new Set(keep.map((o) => o.id))})
}

/**
 * `ml project update --store URL`: checks the URL (no secret may be in it: it is shared with the
 * project), reaches the store once, and records it in .ml/project.json and in the project's
 * record in the history, so that clones know it. Returns the URL as printed.
 */
export async function setProjectStore(cwd: string, url: string, endpoint: string | undefined, access: StoreAccess): Promise<string> {
  const project = await findProject(cwd)
  parseStoreUrl(url, project.dir)
  if (endpoint !== undefined && !/^https?:\/\/[^\s/@]+(\/[^\s@]*)?$/.test(endpoint)) {
    throw new MlError('INVALID_ARGUMENT', `--endpoint ${JSON.stringify(endpoint)} is not an http(s) URL without credentials (such as http://127.0.0.1:9000); credentials come from the AWS environment.`)
  }
  const config = {...project.config, store: url, ...endpoint !== undefined && {storeEndpoint: endpoint}}
  if (endpoint === undefined) delete config.storeEndpoint
  const store = await openStore(url, {baseDir: project.dir, home: access.home, env: access.env, endpoint})
  const where = store.where
  try {
    await store.has([])
  } finally {
    await store.close()
  }
  await withProjectLock(project, async () => {
    project.config = config
    await writeProjectConfig(project)
    await saveProjectRef(await openHistory(project), config)
  })
  return where
}

/**
 * Brings the objects this machine lacks into the cache from the project's store, which is
 * opened only when something is missing. Returns what is still missing: all of it when the
 * project has no store (the caller says how to set one); a store that cannot be reached or
 * returns other bytes fails (STORE_UNREACHABLE, STORE_CORRUPT) before the caller writes anything.
 */
export async function fetchMissing(project: Project, access: StoreAccess & {onProgress?: OnProgress}, objects: Array<{id: string; size: number}>): Promise<Array<{id: string; size: number}>> {
  const cache = projectCache(project, access)
  const missing = objects.filter((o) => localObject(cache, o.id) === null)
  if (missing.length === 0 || !project.config.store) return missing
  const store = await openProjectStore(project, access)
  try {
    await makeRoom(store, cache, access, missing, objects)
    await fetchObjects(store, cache, missing, access.onProgress)
  } finally {
    await store.close()
  }
  return []
}
