import type {ShadowRepo} from '../../git/shadow-repo.js'
import {boundCache, type CacheBoundResult} from '../data/cache-bound.js'
import {cacheLimit, openProjectStore, projectCache, type StoreAccess} from '../data/project-store.js'
import {BACKUPS_PREFIX} from '../project/layout.js'
import {findProject, type Project} from '../project/project.js'
import {backupData} from '../restore/data-restore.js'
import {cachedRunList} from '../runs/run-cache.js'
import {storedObjects} from '../runs/run-inputs.js'
import {openHistory} from '../snapshot/open-history.js'

export interface DataGcResult extends CacheBoundResult {
  /** The store asked, if the project has one. */
  store?: string
  cache: string
  limit: number
  /** A cache shared by several projects (ML_DATA_CACHE): what this project's runs do not name may be another's, and stays. */
  shared: boolean
}

/**
 * `ml data gc`: removes from the object cache what no run and no backup of the project names
 * (unused for an hour), then, while it is over `maxBytes` (the cache's limit by default; 0 for
 * all), what the store holds, least recently used first: anything removed that a run needs can be
 * fetched again.
 */
export async function dataGc(cwd: string, access: StoreAccess, options: {maxBytes?: number; dryRun?: boolean}): Promise<DataGcResult> {
  const project = await findProject(cwd)
  const limit = options.maxBytes ?? cacheLimit(access)
  const cache = projectCache(project, access)
  const shared = Boolean(access.env.ML_DATA_CACHE)
  const needed = shared ? undefined : await neededObjects(project, await openHistory(project))
  const store = project.config.store ? await openProjectStore(project, access) : null
  try {
    return {store: store?.where, cache: cache.root, limit, shared, ...await boundCache(cache, store, limit, {needed, dryRun: options.dryRun})}
  } finally {
    await store?.close()
  }
}

/** The objects the project's runs (data versions, large outputs) and restore backups name. */
async function neededObjects(project: Project, repo: ShadowRepo): Promise<Set<string>> {
  const ids = new Set<string>()
  for (const run of (await cachedRunList(project)).filter((r) => r.status !== 'Corrupt')) {
    for (const o of await storedObjects(project, repo, run)) ids.add(o.id)
  }
  for (const ref of await repo.listRefs(BACKUPS_PREFIX)) {
    const commit = await repo.resolveRef(ref)
    const data = commit ? await backupData(repo, commit) : null
    for (const m of data?.before ?? []) for (const e of m.entries) if ('sha256' in e) ids.add(e.sha256)
  }
  return ids
}
