import {findProject, openHistory} from './project.js'
import {getRun, listRuns, resolveRunId, type RunRecord} from './runs.js'

/** The project's runs, newest first (the last N when `last` is given). */
export async function historyList(cwd: string, options: {last?: number} = {}): Promise<RunRecord[]> {
  const repo = await openHistory(await findProject(cwd))
  return listRuns(repo, options)
}

/** One run, by its id or a unique prefix of it. */
export async function historyInfo(cwd: string, runIdOrPrefix: string): Promise<RunRecord> {
  const repo = await openHistory(await findProject(cwd))
  return getRun(repo, await resolveRunId(repo, runIdOrPrefix))
}
