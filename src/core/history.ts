import {findProject, openHistory} from './project.js'
import {type AuthOptions, pullHistory, pushHistory, type PullResult, type PushResult, unpushedRunIds} from './remote.js'
import {getRun, listRuns, resolveRunId, type RunRecord} from './runs.js'

/** A run as listed: its record, and whether the remote has its latest state (when there is a remote). */
export type ListedRun = RunRecord & {pushed?: boolean}

/** The project's runs, newest first (the last N when `last` is given). */
export async function historyList(cwd: string, options: {last?: number} = {}): Promise<ListedRun[]> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const runs: ListedRun[] = await listRuns(repo, options)
  if (project.config.remote) {
    const unpushed = await unpushedRunIds(repo)
    for (const run of runs) run.pushed = !unpushed.has(run.runId)
  }
  return runs
}

/** One run, by its id or a unique prefix of it. */
export async function historyInfo(cwd: string, runIdOrPrefix: string): Promise<RunRecord> {
  const repo = await openHistory(await findProject(cwd))
  return getRun(repo, await resolveRunId(repo, runIdOrPrefix))
}

export async function historyPush(cwd: string, auth: AuthOptions): Promise<{remote: string; push: PushResult}> {
  const project = await findProject(cwd)
  const push = await pushHistory(project, await openHistory(project), auth)
  return {remote: project.config.remote!, push}
}

export async function historyPull(cwd: string, auth: AuthOptions): Promise<{remote: string} & PullResult> {
  const project = await findProject(cwd)
  const result = await pullHistory(project, await openHistory(project), auth)
  return {remote: project.config.remote!, ...result}
}
