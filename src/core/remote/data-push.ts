import type {ShadowRepo} from '../../git/shadow-repo.js'
import {MlError} from '../../shared/errors.js'
import type {OnProgress} from '../../shared/progress.js'
import {checkoutData} from '../data/data-checkout.js'
import {diffManifests} from '../data/manifest.js'
import {makeRoom, openProjectStore, projectCache, type StoreAccess} from '../data/project-store.js'
import {localObject} from '../data/object-cache.js'
import {fetchObjects, type SendResult, sendObjects} from '../data/transfer.js'
import {findProject, type Project} from '../project/project.js'
import {cachedRunList} from '../runs/run-cache.js'
import {dataInputsOf, runManifests, storedObjects} from '../runs/run-inputs.js'
import {getRun, resolveRunId, type RunRecord} from '../runs/runs.js'
import {openHistory} from '../snapshot/open-history.js'

export interface DataPushResult extends SendResult {
  store: string
}

/**
 * Sends the store what `runs` (every run, by default) need from it and it lacks: their data
 * versions' files and their large outputs. A file changed since a run read it, and not kept in
 * the cache, cannot be sent: it is counted in `unavailable`.
 */
export async function pushData(project: Project, repo: ShadowRepo, access: StoreAccess & {onProgress?: OnProgress}, runs?: RunRecord[]): Promise<DataPushResult> {
  const store = await openProjectStore(project, access)
  try {
    const records = runs ?? (await cachedRunList(project)).filter((r) => r.status !== 'Corrupt')
    const objects = (await Promise.all(records.map((run) => storedObjects(project, repo, run)))).flat()
    return {store: store.where, ...await sendObjects(store, projectCache(project, access), objects, access.onProgress)}
  } finally {
    await store.close()
  }
}

/** `ml data push` of the project holding `cwd`. */
export async function dataPush(cwd: string, access: StoreAccess & {onProgress?: OnProgress}): Promise<DataPushResult> {
  const project = await findProject(cwd)
  return pushData(project, await openHistory(project), access)
}

export interface DataPullResult {
  runId: string
  store: string
  fetched: number
  bytes: number
  /** Data files written into the folder (there was none at their path). */
  placed: string[]
  /** Files of the run's data versions that the folder holds other bytes of: left as they are. */
  differing: string[]
}

/**
 * `ml data pull [RUN]`: fetches what the run (the newest that read tracked data, by default)
 * needs from the store into the cache, its data versions' files and large outputs, then writes
 * the data files the folder lacks. A file the folder has with other bytes is never touched:
 * `ml project restore RUN --with-data` puts those back, with a backup.
 */
export async function dataPull(cwd: string, runIdOrPrefix: string | undefined, access: StoreAccess & {onProgress?: OnProgress}): Promise<DataPullResult> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const run = runIdOrPrefix === undefined ? await newestWithData(project) : await getRun(repo, await resolveRunId(repo, runIdOrPrefix))
  const manifests = await runManifests(repo, run)
  const store = await openProjectStore(project, access)
  const cache = projectCache(project, access)
  try {
    const objects = await storedObjects(project, repo, run)
    await makeRoom(store, cache, access, objects.filter((o) => localObject(cache, o.id) === null), objects)
    const fetched = await fetchObjects(store, cache, objects, access.onProgress)
    const result: DataPullResult = {runId: run.runId, store: store.where, ...fetched, placed: [], differing: []}
    const {dataVersions} = await import('../data/data-version.js')
    const current = await dataVersions(project.dir, manifests.map((m) => m.input.path))
    for (const [i, {manifest}] of manifests.entries()) {
      const diff = diffManifests(current[i].manifest, manifest)
      await checkoutData(project.dir, cache, {write: diff.added, remove: []})
      result.placed.push(...diff.added.map((e) => e.path))
      result.differing.push(...diff.changed.map((c) => c.after.path))
    }
    return result
  } finally {
    await store.close()
  }
}

async function newestWithData(project: Project): Promise<RunRecord> {
  const run = (await cachedRunList(project)).find((r) => r.status !== 'Corrupt' && dataInputsOf(r).length > 0)
  if (!run) throw new MlError('RUN_NOT_FOUND', 'No run of the project read tracked data yet; name a run (`ml data pull RUN`), or track data with `ml data track PATH`.')
  return run
}
