import {createReadStream, createWriteStream, existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {MlError} from './errors.js'
import {largeOutputPath, OUTPUTS_DIR} from './experiment.js'
import {lowerIsBetter, METRICS_FILE, type MetricPoint, parseMetrics} from './metrics.js'
import {findProject, ML_DIR, openHistory} from './project.js'
import {cachedRunList, type ListedRun} from './run-cache.js'
import {type AuthOptions, isEmptyDir, pullHistory, pushHistory, type PullResult, type PushResult} from './remote.js'
import {getRun, getRunFile, LOG_FILE, readRun, resolveRunId, runRef, type RunRecord, type RunStatus} from './runs.js'

export type {ListedRun} from './run-cache.js'

export const RUN_STATUSES: RunStatus[] = ['Running', 'Completed', 'Failed', 'Canceled', 'Corrupt']

export interface ListOptions {
  last?: number
  status?: string
  /** Only runs of this script (its path in the project, or just its file name). */
  script?: string
  /** A metric to sort by (ascending, or descending with `desc`); runs without it come last. */
  sortBy?: string
  desc?: boolean
}

/** The project's runs, newest first, filtered, sorted and cut as asked. */
export async function historyList(cwd: string, options: ListOptions = {}): Promise<ListedRun[]> {
  const project = await findProject(cwd)
  const filtered = options.status || options.script || options.sortBy
  let runs = await cachedRunList(project, filtered ? undefined : options.last)
  if (options.status) {
    const status = RUN_STATUSES.find((s) => s.toLowerCase() === options.status!.toLowerCase())
    if (!status) throw new MlError('INVALID_ARGUMENT', `There is no run status "${options.status}"; use one of: ${RUN_STATUSES.join(', ')}.`)
    runs = runs.filter((r) => r.status === status)
  }
  if (options.script) runs = runs.filter((r) => r.script === options.script || path.posix.basename(r.script) === options.script)
  if (options.sortBy) {
    const name = options.sortBy
    if (runs.length > 0 && !runs.some((r) => r.metrics?.[name] !== undefined)) {
      const known = [...new Set(runs.flatMap((r) => Object.keys(r.metrics ?? {})))]
      throw new MlError('INVALID_ARGUMENT', `No run logged a metric named "${name}"; ${known.length ? `the metrics are: ${known.join(', ')}` : 'no run logged any metric'}.`)
    }
    const sign = options.desc ? -1 : 1
    runs.sort((a, b) => {
      const x = a.metrics?.[name]
      const y = b.metrics?.[name]
      if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1
      return sign * (x - y)
    })
  }
  if (options.last !== undefined) runs = runs.slice(0, options.last)
  return runs
}

/** One run, by its id or a unique prefix of it. */
export async function historyInfo(cwd: string, runIdOrPrefix: string): Promise<RunRecord> {
  const repo = await openHistory(await findProject(cwd))
  return readRun(repo, await resolveRunId(repo, runIdOrPrefix))
}

/** The newest run. */
export async function historyLast(cwd: string): Promise<RunRecord> {
  const [run] = await cachedRunList(await findProject(cwd), 1)
  if (!run) throw new MlError('RUN_NOT_FOUND', 'The project has no runs yet; start one with `ml experiment submit <script>`.')
  return run
}

export interface Comparison {
  runs: RunRecord[]
  /** For each metric, the id of the run with the best last value (lowest for losses and errors). */
  best: Record<string, string>
}

/** Several runs side by side, with the best value of each metric. */
export async function historyCompare(cwd: string, ids: string[]): Promise<Comparison> {
  if (ids.length < 2) throw new MlError('INVALID_ARGUMENT', 'Compare needs at least two runs; give two or more run ids.')
  const repo = await openHistory(await findProject(cwd))
  const runs = await Promise.all(ids.map(async (id) => readRun(repo, await resolveRunId(repo, id))))
  const best: Record<string, string> = {}
  for (const name of new Set(runs.flatMap((r) => Object.keys(r.metrics ?? {})))) {
    const lower = lowerIsBetter(name)
    let winner: RunRecord | undefined
    for (const run of runs) {
      const value = run.metrics?.[name]
      if (value === undefined) continue
      const current = winner?.metrics?.[name]
      if (current === undefined || (lower ? value < current : value > current)) winner = run
    }
    if (winner) best[name] = winner.runId
  }
  return {runs, best}
}

export interface MetricChange {
  name: string
  a?: number
  b?: number
  change?: number
}

export interface FileChange {
  path: string
  additions: number
  deletions: number
  binary: boolean
}

export interface RunDiff {
  a: RunRecord
  b: RunRecord
  /** The unified diff between the two snapshots. */
  patch: string
  files: FileChange[]
  metrics: MetricChange[]
}

/** What changed in the project between the snapshots of two runs, and in their metrics. */
export async function historyDiff(cwd: string, idA: string, idB: string, paths: string[] = []): Promise<RunDiff> {
  const repo = await openHistory(await findProject(cwd))
  const [a, b] = await Promise.all([idA, idB].map(async (id) => getRun(repo, await resolveRunId(repo, id))))
  const patch = await repo.diffPatch(await repo.treeOf(a.snapshotId), await repo.treeOf(b.snapshotId), paths)
  const names = [...new Set([...Object.keys(a.metrics ?? {}), ...Object.keys(b.metrics ?? {})])]
  const metrics = names.map((name) => {
    const x = a.metrics?.[name]
    const y = b.metrics?.[name]
    return {name, a: x, b: y, change: x !== undefined && y !== undefined ? y - x : undefined}
  })
  return {a, b, patch, files: fileChanges(patch), metrics}
}

/** Lines added and removed per file, read from a unified diff. */
export function fileChanges(patch: string): FileChange[] {
  const files: FileChange[] = []
  let current: FileChange | undefined
  for (const line of patch.split('\n')) {
    const header = /^diff --git a\/(.*) b\/(.*)$/.exec(line)
    if (header) {
      current = {path: header[2], additions: 0, deletions: 0, binary: false}
      files.push(current)
    } else if (!current) continue
    else if (line.startsWith('Binary files')) current.binary = true
    else if (line.startsWith('+') && !line.startsWith('+++ ')) current.additions++
    else if (line.startsWith('-') && !line.startsWith('--- ')) current.deletions++
  }
  return files
}

/** A run's metric values by step, all of them or those of one name. */
export async function historyMetrics(cwd: string, runIdOrPrefix: string, name?: string): Promise<{runId: string; points: MetricPoint[]}> {
  const repo = await openHistory(await findProject(cwd))
  const runId = await resolveRunId(repo, runIdOrPrefix)
  const text = (await getRunFile(repo, runId, METRICS_FILE))?.toString('utf8') ?? ''
  let {points} = parseMetrics(text)
  if (name !== undefined) {
    if (!points.some((p) => p.name === name)) {
      const known = [...new Set(points.map((p) => p.name))]
      throw new MlError('INVALID_ARGUMENT', `Run ${runId} logged no metric named "${name}"; ${known.length ? `its metrics are: ${known.join(', ')}` : 'it logged no metrics'}.`)
    }
    points = points.filter((p) => p.name === name)
  }
  return {runId, points}
}

export interface Download {
  dir: string
  files: string[]
  /** Large outputs whose bytes are not on this machine (they stay where the run was made). */
  missing: string[]
}

/** Where `ml history download` writes without --dir: under .ml/, which snapshots never hold. */
export const DOWNLOADS_DIR = 'downloads'

/**
 * Writes a run's log, metrics and outputs into `dir`, or into .ml/downloads/<run-id>/ so that
 * the next snapshot does not pick the download up. Every name comes from a record that passed
 * the trust gate, and no file is ever overwritten.
 */
export async function downloadRun(cwd: string, runIdOrPrefix: string, dir?: string): Promise<Download> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const run = await getRun(repo, await resolveRunId(repo, runIdOrPrefix))
  const target = dir === undefined ? path.join(project.dir, ML_DIR, DOWNLOADS_DIR, run.runId) : path.resolve(cwd, dir)
  if (!(await isEmptyDir(target))) throw new MlError('DESTINATION_EXISTS', `${target} already exists and is not empty; remove it or name another folder with --dir.`)
  const commit = (await repo.resolveRef(runRef(run.runId)))!
  const result: Download = {dir: target, files: [], missing: []}
  const write = async (rel: string, from: Buffer | string) => {
    const file = path.join(target, rel)
    await fs.mkdir(path.dirname(file), {recursive: true})
    if (typeof from === 'string') await pipeline(createReadStream(from), createWriteStream(file, {flags: 'wx'}))
    else await fs.writeFile(file, from, {flag: 'wx'})
    result.files.push(rel)
  }
  for (const file of [LOG_FILE, METRICS_FILE]) {
    const data = await repo.readFile(commit, file)
    if (data) await write(file, data)
  }
  for (const output of run.outputs) {
    const rel = `${OUTPUTS_DIR}/${output.path}`
    const source = output.sha256 === undefined ? await repo.readFile(commit, rel) : largeOutputPath(project, output.sha256)
    if (source === null || (typeof source === 'string' && !existsSync(source))) result.missing.push(rel)
    else await write(rel, source)
  }
  return result
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
