import type {ShadowRepo} from '../../git/shadow-repo.js'
import {MlError} from '../../shared/errors.js'
import {plural} from '../../shared/plural.js'
import type {OnProgress} from '../../shared/progress.js'
import {assertPlainFolders, checkoutData} from '../data/data-checkout.js'
import {diffManifests} from '../data/manifest.js'
import {makeRoom, openProjectStore, projectCache, type StoreAccess} from '../data/project-store.js'
import {localObject} from '../data/object-cache.js'
import {statVoucher} from '../data/stat-cache.js'
import {fetchIntoFolder, fetchObjects, type SendResult, sendObjects} from '../data/transfer.js'
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
    return {store: store.where, ...await sendObjects(store, projectCache(project, access), objects, access.onProgress, statVoucher(project.dir))}
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
  const {dataVersions} = await import('../data/data-version.js')
  const current = await dataVersions(project.dir, manifests.map((m) => m.input.path))
  const diffs = manifests.map(({manifest}, i) => diffManifests(current[i].manifest, manifest))
  const added = diffs.flatMap((d) => d.added)
  assertPlainFolders(project.dir, added)
  const store = await openProjectStore(project, access)
  const cache = projectCache(project, access)
  try {
    // What the folder lacks and this machine has nowhere comes straight into the folder; the
    // rest (large outputs, files the cache has) goes through the cache.
    const direct = added.flatMap((e) => ('sha256' in e && localObject(cache, e.sha256) === null ? [e] : []))
    const viaFolder = new Set(direct.map((e) => e.sha256))
    const objects = (await storedObjects(project, repo, run)).filter((o) => !viaFolder.has(o.id))
    const wanted = [...viaFolder, ...objects.filter((o) => localObject(cache, o.id) === null).map((o) => o.id)]
    const held = await store.has(wanted)
    const absent = wanted.filter((id) => !held.has(id))
    if (absent.length > 0) {
      throw new MlError('DATA_MISSING', `${plural(absent.length, 'file')} run ${run.runId} needs ${absent.length === 1 ? 'is' : 'are'} neither on this machine nor in the store ${store.where} (${absent.slice(0, 3).map((id) => id.slice(0, 12)).join(', ')}${absent.length > 3 ? ', ...' : ''}); push ${absent.length === 1 ? 'it' : 'them'} from the machine that ran it (\`ml data push\`); nothing was written.`)
    }
    await makeRoom(store, cache, access, objects.filter((o) => localObject(cache, o.id) === null), objects)
    const fetched = await fetchObjects(store, cache, objects, access.onProgress)
    const written = await fetchIntoFolder(store, project.dir, direct, access.onProgress)
    await checkoutData(project.dir, cache, {write: added.filter((e) => !('sha256' in e) || !viaFolder.has(e.sha256)), remove: []})
    return {
      runId: run.runId, store: store.where, fetched: fetched.fetched + written.fetched, bytes: fetched.bytes + written.bytes,
      placed: added.map((e) => e.path), differing: diffs.flatMap((d) => d.changed.map((c) => c.after.path)),
    }
  } finally {
    await store.close()
  }
}

async function newestWithData(project: Project): Promise<RunRecord> {
  const run = (await cachedRunList(project)).find((r) => r.status !== 'Corrupt' && dataInputsOf(r).length > 0)
  if (!run) throw new MlError('RUN_NOT_FOUND', 'No run of the project read tracked data yet; name a run (`ml data pull RUN`), or track data with `ml data track PATH`.')
  return run
}
