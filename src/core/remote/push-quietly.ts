import type {ShadowRepo} from '../../git/shadow-repo.js'
import type {Project} from '../project/project.js'
import type {RunRecord} from '../runs/runs.js'
import {pushData} from './data-push.js'
import {type AuthOptions, pushHistory} from './remote.js'

export interface QuietPushOptions {
  /** Credentials for pushing to the project's remote; without them (or with push false) nothing is pushed. */
  auth?: AuthOptions
  push?: boolean
  /** A push that failed: the run goes on and is recorded; the refs are pushed next time. */
  onPushProblem?: (message: string) => void
}

/** The push each project's runs in this process wait for: runs of a sweep or a queue push one at a time. */
const pushing = new Map<string, Promise<void>>()

/**
 * Pushes the history if the project has a remote, after what the run `withData` (an ended run)
 * needs from the artifact store, if the project has one, so that a teammate who sees the run
 * can fetch its data; a failure is reported, never thrown. Pushes of one project from this
 * process follow each other (each sends whatever is pending then).
 */
export function pushQuietly(project: Project, repo: ShadowRepo, options: QuietPushOptions, withData?: RunRecord): Promise<void> {
  if (!options.auth || options.push === false) return Promise.resolve()
  if (!project.config.remote && !(withData && project.config.store)) return Promise.resolve()
  const mine = (pushing.get(project.dir) ?? Promise.resolve()).then(async () => {
    if (withData && project.config.store) await pushDataOnce(project, repo, options, withData)
    if (project.config.remote) await pushOnce(project, repo, options)
  })
  pushing.set(project.dir, mine)
  return mine
}

async function pushDataOnce(project: Project, repo: ShadowRepo, options: QuietPushOptions, run: RunRecord): Promise<void> {
  const later = '`ml data push` sends it later'
  try {
    const {unavailable} = await pushData(project, repo, {home: options.auth!.home, env: options.auth!.env}, [run])
    if (unavailable.length > 0) options.onPushProblem?.(`${unavailable.length} data file${unavailable.length === 1 ? '' : 's'} of run ${run.runId} changed before the store had them, so the store lacks them.`)
  } catch (error) {
    options.onPushProblem?.(`Could not send run ${run.runId}'s data and large outputs to the store ${project.config.store}: ${(error as Error).message.replace(/\.$/, '')}; ${later}.`)
  }
}

async function pushOnce(project: Project, repo: ShadowRepo, options: QuietPushOptions): Promise<void> {
  const later = 'the run is recorded here, and `ml history push` (or the next submit) sends it'
  try {
    const {rejected} = await pushHistory(project, repo, options.auth!)
    if (rejected.length > 0) options.onPushProblem?.(`The remote refused ${rejected.map((r) => `${r.ref} (${r.error})`).join(', ')}; ${later}.`)
  } catch (error) {
    options.onPushProblem?.(`Could not push to ${project.config.remote}: ${(error as Error).message.replace(/\.$/, '')}; ${later}.`)
  }
}
