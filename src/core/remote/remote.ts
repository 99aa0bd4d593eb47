import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {type AuthOptions, Transport} from '../../git/transport.js'
import {setUserOrigin, userOriginUrl} from '../../git/user-repo.js'
import {MlError} from '../../shared/errors.js'
import {withProjectLock} from '../project/lock.js'
import {historyRef} from '../snapshot/snapshot.js'
import {findProject, historyDir, type Project, writeProjectConfig} from '../project/project.js'
import {redactSecrets, redactUrl, storableUrl} from '../../shared/remote-url.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {PROJECT_REF, RUNS_PREFIX, TRACKING_PREFIX, trackingRef} from '../project/layout.js'
import {openHistory} from '../snapshot/open-history.js'
import {crashPoint} from '../../shared/crash-point.js'
import {type DataPushResult, pushData} from './data-push.js'

export type {AuthOptions} from '../../git/transport.js'

/** The (secret-free) URL the tracking refs were seen at, in the history repo. */
const TRACKED_URL_FILE = 'ml-tracked-remote'

/**
 * Makes the tracking refs belong to `url`: when they were seen at another URL (the project was
 * pointed at a new remote), they say nothing about this one, so they are dropped and the next
 * push sends the whole history. Without a record (older projects), they belong to the remote
 * the project had so far. Call with the project lock held.
 */
async function trackRemote(project: Project, repo: ShadowRepo, url: string): Promise<void> {
  const file = path.join(historyDir(project), TRACKED_URL_FILE)
  const tracked = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return project.config.remote
    throw error
  })
  const wanted = storableUrl(url)
  if (tracked === wanted) return
  for (const ref of await repo.listRefs(TRACKING_PREFIX)) await repo.deleteRef(ref)
  await writeAtomically(file, wanted)
}

/**
 * The URL to talk to the project's remote with. Only the secret-free URL is stored under .ml/;
 * when the user's repo has the same remote with credentials in its URL, that one is used.
 */
async function remoteUrl(project: Project): Promise<string> {
  const stored = project.config.remote
  if (!stored) throw new MlError('NO_REMOTE', `The project has no remote; set one with \`ml project update -r URL\`.`)
  const origin = await userOriginUrl(project.dir)
  return origin && storableUrl(origin) === stored ? origin : stored
}

/**
 * Fails with REMOTE_NOT_EMPTY when the remote already holds a project: a master or main branch,
 * or the history branch of another ml project (Workbench, too, wanted an empty remote), unless
 * it holds this project's own history branch.
 */
export async function checkRemoteEmpty(transport: Transport, url: string, projectId: string): Promise<void> {
  const refs = await transport.listRefs(url)
  // A remote that already holds this project (a mirror, or the same server under a new URL) is fine.
  if (refs.has(`refs/heads/AzureMLHistory/${projectId}`)) return
  const taken = [...refs.keys()].filter((ref) => ref === 'refs/heads/master' || ref === 'refs/heads/main' || ref.startsWith('refs/heads/AzureMLHistory/'))
  if (taken.length > 0) {
    throw new MlError('REMOTE_NOT_EMPTY', `The remote ${redactUrl(url)} is not empty (it has ${taken.map((r) => r.replace(/^refs\/heads\//, '')).join(', ')}); use a new, empty repository for this project.`)
  }
}

export interface RemoteSetResult {
  /** The user's repo had another origin, now replaced (redacted). */
  previousOrigin?: string
  push: PushResult
}

/** `ml project update -r URL`: associates an existing project with an empty remote. */
export async function updateProjectRemote(cwd: string, url: string, auth: AuthOptions): Promise<RemoteSetResult> {
  const project = await findProject(cwd)
  await checkRemoteEmpty(new Transport(auth), url, project.config.id)
  return connectRemote(project, await openHistory(project), url, auth)
}

/**
 * `ml history push` of the project holding `cwd`: what the runs need from the artifact store
 * first (when the project has one), so that a teammate who sees a run can fetch its data, then
 * the history.
 */
export async function historyPush(cwd: string, auth: AuthOptions): Promise<{remote?: string; push?: PushResult; data?: DataPushResult}> {
  const project = await findProject(cwd)
  if (!project.config.remote && !project.config.store) await remoteUrl(project) // NO_REMOTE, saying how to set one
  const repo = await openHistory(project)
  const data = project.config.store ? await pushData(project, repo, auth) : undefined
  if (!project.config.remote) return {data}
  return {remote: project.config.remote, push: await pushHistory(project, repo, auth), data}
}

/** `ml history pull` of the project holding `cwd`. */
export async function historyPull(cwd: string, auth: AuthOptions): Promise<{remote: string} & PullResult> {
  const project = await findProject(cwd)
  const result = await pullHistory(project, await openHistory(project), auth)
  return {remote: project.config.remote!, ...result}
}

/**
 * Sets `origin` on the user's repo and the shadow repo, records the URL (without secrets)
 * and pushes the history.
 */
export async function connectRemote(project: Project, repo: ShadowRepo, url: string, auth: AuthOptions): Promise<RemoteSetResult> {
  await withProjectLock(project, () => trackRemote(project, repo, url))
  const previousOrigin = await setUserOrigin(project.dir, url)
  await repo.setOrigin(storableUrl(url))
  project.config.remote = storableUrl(url)
  await writeProjectConfig(project)
  const push = await pushHistory(project, repo, auth)
  return {previousOrigin: previousOrigin && previousOrigin !== url ? redactUrl(previousOrigin) : undefined, push}
}

export interface PushResult {
  /** Refs sent (or already there). */
  pushed: string[]
  /** Refs the server refused, with its reason. */
  rejected: Array<{ref: string; error: string}>
}

/** The refs ml pushes: the history branch, the project record and every run. */
async function historyRefs(project: Project, repo: ShadowRepo): Promise<string[]> {
  return [historyRef(project), PROJECT_REF, ...(await repo.listRefs(RUNS_PREFIX))]
}

/** Refs whose local commit is not what the remote was last seen to have. */
async function pendingRefs(project: Project, repo: ShadowRepo): Promise<string[]> {
  const pending: string[] = []
  for (const ref of await historyRefs(project, repo)) {
    const local = await repo.resolveRef(ref)
    if (local && local !== (await repo.resolveRef(trackingRef(ref)))) pending.push(ref)
  }
  return pending
}

/**
 * Pushes every ref that is not on the remote yet. When another machine moved the history branch
 * meanwhile, its snapshots are fetched, ours are replayed on top (the branch stays linear, and
 * each run keeps its own snapshot commit), and the push is tried once more.
 */
export async function pushHistory(project: Project, repo: ShadowRepo, auth: AuthOptions): Promise<PushResult> {
  return withProjectLock(project, () => pushLocked(project, repo, auth))
}

async function pushLocked(project: Project, repo: ShadowRepo, auth: AuthOptions): Promise<PushResult> {
  const url = await remoteUrl(project)
  await trackRemote(project, repo, url)
  const transport = new Transport(auth)
  const push = async () => {
    const pending = await pendingRefs(project, repo)
    return pending.length === 0 ? [] : repo.push(transport, url, pending.map((r) => `${r}:${r}`))
  }
  try {
    const results = await push()
    if (!results.some((r) => r.error && NOT_FAST_FORWARD.test(r.error))) return await record(repo, results)
  } catch (error) {
    if (!NOT_FAST_FORWARD.test((error as Error).message)) throw error
  }
  await fetchAndMerge(project, repo, transport, url)
  return record(repo, await push())
}

const NOT_FAST_FORWARD = /fast.?forward|fetch first|stale info|not present locally/i

/** Notes what reached the remote in the tracking refs, and sorts out what was refused. */
async function record(repo: ShadowRepo, results: Array<{ref: string; error?: string}>): Promise<PushResult> {
  crashPoint('push-sent')
  const result: PushResult = {pushed: [], rejected: []}
  for (const r of results) {
    if (r.error) {
      result.rejected.push({ref: r.ref, error: redactSecrets(r.error)})
      continue
    }
    const local = await repo.resolveRef(r.ref)
    if (local) await repo.setRef(trackingRef(r.ref), local, 'ml push')
    result.pushed.push(r.ref)
  }
  return result
}

export interface PullResult {
  newRuns: number
  updatedRuns: number
}

/** Fetches the remote's history and runs and merges them with the local ones. */
export async function pullHistory(project: Project, repo: ShadowRepo, auth: AuthOptions): Promise<PullResult> {
  const url = await remoteUrl(project)
  return withProjectLock(project, async () => {
    await trackRemote(project, repo, url)
    return fetchAndMerge(project, repo, new Transport(auth), url)
  })
}

async function fetchAndMerge(project: Project, repo: ShadowRepo, transport: Transport, url: string): Promise<PullResult> {
  const branch = historyRef(project)
  await repo.fetch(transport, url, [
    `+${branch}:${trackingRef(branch)}`,
    `+${PROJECT_REF}:${trackingRef(PROJECT_REF)}`,
    `+${RUNS_PREFIX}*:${trackingRef(RUNS_PREFIX)}*`,
  ])
  await mergeBranch(repo, branch)
  const result: PullResult = {newRuns: 0, updatedRuns: 0}
  for (const remoteRef of await repo.listRefs(trackingRef(RUNS_PREFIX))) {
    const ref = `${RUNS_PREFIX}${remoteRef.slice(trackingRef(RUNS_PREFIX).length)}`
    const theirs = (await repo.resolveRef(remoteRef))!
    const ours = await repo.resolveRef(ref)
    if (ours === theirs) continue
    if (!ours) {
      await repo.setRef(ref, theirs, 'ml pull')
      result.newRuns++
    } else if (await repo.isAncestor(ours, theirs)) {
      await repo.setRef(ref, theirs, 'ml pull')
      result.updatedRuns++
    }
  }
  return result
}

/** Brings the remote's snapshots into the local history branch, keeping it linear. */
async function mergeBranch(repo: ShadowRepo, branch: string): Promise<void> {
  const theirs = await repo.resolveRef(trackingRef(branch))
  const ours = await repo.resolveRef(branch)
  if (!theirs || ours === theirs) return
  if (!ours || (await repo.isAncestor(ours, theirs))) {
    await repo.setRef(branch, theirs, 'ml pull: fast-forward')
    return
  }
  if (await repo.isAncestor(theirs, ours)) return
  let tip = theirs
  for (const commit of await repo.commitsSince(theirs, ours)) {
    tip = await repo.commit(await repo.treeOf(commit), [tip], await repo.commitMessage(commit))
  }
  await repo.updateRef(branch, tip, ours, 'ml pull: replay local snapshots')
}
