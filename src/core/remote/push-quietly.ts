import type {ShadowRepo} from '../../git/shadow-repo.js'
import type {Project} from '../project/project.js'
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
 * Pushes the history if the project has a remote; a failure is reported, never thrown. Pushes
 * of one project from this process follow each other (each sends whatever is pending then).
 */
export function pushQuietly(project: Project, repo: ShadowRepo, options: QuietPushOptions): Promise<void> {
  if (!project.config.remote || !options.auth || options.push === false) return Promise.resolve()
  const mine = (pushing.get(project.dir) ?? Promise.resolve()).then(() => pushOnce(project, repo, options))
  pushing.set(project.dir, mine)
  return mine
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
