import {createReadStream, createWriteStream, promises as fs} from 'node:fs'
import {hostname} from 'node:os'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {setTimeout as sleep} from 'node:timers/promises'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {MlError} from '../../shared/errors.js'
import type {FileStat} from '../../git/diff-stats.js'
import {lowerIsBetter, METRICS_FILE, type MetricPoint, parseMetrics} from './metrics.js'
import {findProject, type Project} from '../project/project.js'
import {cachedRunList, type ListedRun} from './run-cache.js'
import {isEmptyDir} from '../../shared/is-empty-dir.js'
import {getRun, getRunFile, LOG_FILE, readRun, resolveRunId, type RunRecord, type RunStatus} from './runs.js'
import {mlPath, OUTPUTS_DIR, runRef} from '../project/layout.js'
import {usedObject} from '../data/object-cache.js'
import {fetchMissing, projectCache, type StoreAccess} from '../data/project-store.js'
import type {OnProgress} from '../../shared/progress.js'
import {openHistory} from '../snapshot/open-history.js'
import {paramChanges, type ParamChange} from './params.js'
import {inSweepOrder} from './sweep-order.js'
import {type InputChange, inputChanges, type Lineage, lineageOf} from './data-history.js'
import {ENVIRONMENT_FILE, environmentChanges, environmentSummary, parseEnvironment, REQUIREMENTS_FILE} from './run-environment.js'

export type {ListedRun} from './run-cache.js'

export const RUN_STATUSES: RunStatus[] = ['Queued', 'Running', 'Completed', 'Failed', 'Canceled', 'Corrupt']

export interface ListOptions {
  last?: number
  status?: string
  /** Only runs of this script (its path in the project, or just its file name). */
  script?: string
  /** A metric or parameter to sort by (ascending, or descending with `desc`); runs without it come last. */
  sortBy?: string
  desc?: boolean
  /** Only the runs of this sweep (its id or a unique prefix). */
  sweep?: string
  /** Only the runs that read this version of tracked data (its id or a prefix of it). */
  inputVersion?: string
}

/** The project's runs, newest first, filtered, sorted and cut as asked. */
export async function historyList(cwd: string, options: ListOptions = {}): Promise<ListedRun[]> {
  const project = await findProject(cwd)
  const filtered = options.status || options.script || options.sortBy || options.sweep || options.inputVersion
  let runs = await cachedRunList(project, filtered ? undefined : options.last)
  if (options.sweep) runs = sweepRuns(runs, options.sweep)
  if (options.inputVersion !== undefined) {
    const prefix = options.inputVersion.toLowerCase()
    if (!/^[0-9a-f]{4,64}$/.test(prefix)) throw new MlError('INVALID_ARGUMENT', `--input-version ${JSON.stringify(options.inputVersion)} is not a data version id (4 to 64 hex digits; \`ml data log\` lists them).`)
    runs = runs.filter((r) => r.inputs?.some((i) => i.kind === 'data' && i.version.startsWith(prefix)))
  }
  if (options.status) {
    const status = RUN_STATUSES.find((s) => s.toLowerCase() === options.status!.toLowerCase())
    if (!status) throw new MlError('INVALID_ARGUMENT', `There is no run status "${options.status}"; use one of: ${RUN_STATUSES.join(', ')}.`)
    runs = runs.filter((r) => r.status === status)
  }
  if (options.script) runs = runs.filter((r) => r.script === options.script || path.posix.basename(r.script) === options.script)
  if (options.sortBy) {
    const name = options.sortBy
    const valueOf = (r: ListedRun): number | string | undefined => {
      const value = r.metrics?.[name] ?? r.params?.[name]
      return value === null || typeof value === 'boolean' ? String(value) : value
    }
    if (runs.length > 0 && !runs.some((r) => valueOf(r) !== undefined)) {
      const known = [...new Set(runs.flatMap((r) => [...Object.keys(r.metrics ?? {}), ...Object.keys(r.params ?? {})]))]
      throw new MlError('INVALID_ARGUMENT', `No run has a metric or parameter named "${name}"; ${known.length ? `the names are: ${known.join(', ')}` : 'no run logged any metric or parameter'}.`)
    }
    const sign = options.desc ? -1 : 1
    runs.sort((a, b) => {
      const x = valueOf(a)
      const y = valueOf(b)
      if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1
      // Numbers before text, each in its own order.
      if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1
      return sign * (typeof x === 'number' ? x - (y as number) : x.localeCompare(y as string))
    })
  }
  if (options.last !== undefined) runs = runs.slice(0, options.last)
  return runs
}

/** The runs of the sweep whose id is `idOrPrefix` or starts with it (one sweep, never several). */
function sweepRuns(runs: ListedRun[], idOrPrefix: string): ListedRun[] {
  const ids = [...new Set(runs.map((r) => r.sweepId).filter((id): id is string => id !== undefined))]
  const matches = ids.includes(idOrPrefix) ? [idOrPrefix] : ids.filter((id) => id.startsWith(idOrPrefix))
  if (matches.length !== 1) {
    throw new MlError('SWEEP_NOT_FOUND', matches.length === 0
      ? `No sweep id starts with "${idOrPrefix}"; ${ids.length ? `the sweeps are: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}` : 'the project has no sweeps yet (`ml experiment sweep`)'}.`
      : `"${idOrPrefix}" matches ${matches.length} sweeps (${matches.slice(0, 5).join(', ')}); give more of the sweep id.`)
  }
  return runs.filter((r) => r.sweepId === matches[0])
}

/** How many lines of its log `ml history info` shows with a failed run. */
export const FAILED_LOG_LINES = 20

/**
 * One run, by its id or a unique prefix of it, with a one-line summary of its environment; for
 * a failed run, the end of its log too.
 */
export async function historyInfo(cwd: string, runIdOrPrefix: string): Promise<{run: RunRecord; environment?: string; logTail?: Buffer; lineage: Lineage}> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const run = await readRun(repo, await resolveRunId(repo, runIdOrPrefix))
  const recorded = run.status === 'Corrupt' ? null : await parseEnvironment(await getRunFile(repo, run.runId, ENVIRONMENT_FILE))
  const environment = recorded ? environmentSummary(recorded) : undefined
  const lineage = lineageOf(run, await cachedRunList(project))
  if (run.status !== 'Failed') return {run, environment, lineage}
  const log = await runLog(project, repo, run.runId)
  return {run, environment, lineage, logTail: log ? lastLines(log, FAILED_LOG_LINES) : undefined}
}

/**
 * A run's log: output.log of its latest state, or while it runs (or when its ml process was
 * killed before it could record the log) the file the run writes, .ml/runs/<id>/output.log.
 */
async function runLog(project: Project, repo: ShadowRepo, runId: string): Promise<Buffer | null> {
  return (await getRunFile(repo, runId, LOG_FILE)) ?? fs.readFile(liveLogPath(project, runId)).catch(() => null)
}

/** Where a running run writes its log (see execution/execute-run.ts); runId passed isRunId. */
function liveLogPath(project: Project, runId: string): string {
  return mlPath(project.dir, 'runs', runId, LOG_FILE)
}

/** The last `count` lines of `log` (a last line without a newline counts). */
export function lastLines(log: Buffer, count: number): Buffer {
  let start = log.length - (log.at(-1) === 10 ? 1 : 0)
  for (let i = 0; i < count && start > 0; i++) start = log.lastIndexOf(10, start - 1)
  return count === 0 ? log.subarray(log.length) : log.subarray(start <= 0 ? 0 : start + 1)
}

/** A run's log, or its last `tail` lines, and the run's status (a Running run's log grows). */
export async function historyLog(cwd: string, runIdOrPrefix: string, tail?: number): Promise<{runId: string; log: Buffer; status: RunStatus}> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const runId = await resolveRunId(repo, runIdOrPrefix)
  const [log, {status}] = await Promise.all([runLog(project, repo, runId).then((l) => l ?? Buffer.alloc(0)), readRun(repo, runId)])
  return {runId, status, log: tail === undefined ? log : lastLines(log, tail)}
}

export interface FollowOptions {
  tail?: number
  signal?: AbortSignal
  /** How often to look for more output and for the end of the run. */
  pollMs?: number
}

/**
 * A run's log as it grows, until the run ends: what it has so far (or its last `tail` lines),
 * then each new piece. A run that is not running here (it ended, or runs on another machine)
 * gives its log once, as historyLog does.
 */
export async function* followLog(cwd: string, runIdOrPrefix: string, options: FollowOptions = {}): AsyncGenerator<Buffer> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const runId = await resolveRunId(repo, runIdOrPrefix)
  const live = liveLogPath(project, runId)
  let offset = 0
  let first = true
  for (;;) {
    const run = await readRun(repo, runId)
    const running = run.status === 'Running' && run.host === hostname()
    const log = running ? await fs.readFile(live).catch(() => Buffer.alloc(0)) : (await runLog(project, repo, runId)) ?? Buffer.alloc(0)
    const piece = first && options.tail !== undefined ? lastLines(log, options.tail) : log.subarray(offset)
    if (piece.length > 0) yield piece
    offset = Math.max(offset, log.length)
    first = false
    if (!running || options.signal?.aborted) return
    await sleep(options.pollMs ?? 250, undefined, {signal: options.signal}).catch((error: Error) => {
      if (error.name !== 'AbortError') throw error
    })
  }
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
  /** Every parameter any of the runs has, and whether the runs differ in it. */
  params: Array<{name: string; differs: boolean}>
}

/**
 * Several runs side by side (those named, in that order, or all runs of `sweep`, ordered by its
 * swept parameters, then by start), with the best value of each metric.
 */
export async function historyCompare(cwd: string, ids: string[], options: {sweep?: string} = {}): Promise<Comparison> {
  const project = await findProject(cwd)
  if (options.sweep) {
    if (ids.length > 0) throw new MlError('INVALID_ARGUMENT', 'Give run ids or --sweep, not both.')
    // Ordered by the swept parameters (the first axis first), not by when each run started.
    ids = inSweepOrder(sweepRuns(await cachedRunList(project), options.sweep).reverse()).map((r) => r.runId)
  }
  if (ids.length < 2) throw new MlError('INVALID_ARGUMENT', options.sweep ? `Sweep ${options.sweep} has fewer than two runs to compare.` : 'Compare needs at least two runs; give two or more run ids, or --sweep ID.')
  const repo = await openHistory(project)
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
  const params = [...new Set(runs.flatMap((r) => Object.keys(r.params ?? {})))].map((name) => {
    const values = new Set(runs.map((r) => JSON.stringify(r.params?.[name] ?? '(none)')))
    return {name, differs: values.size > 1}
  })
  return {runs, best, params}
}

export interface MetricChange {
  name: string
  a?: number
  b?: number
  change?: number
}

export interface RunDiff {
  a: RunRecord
  b: RunRecord
  /** The unified diff between the two snapshots. */
  patch: string
  files: FileStat[]
  metrics: MetricChange[]
  params: ParamChange[]
  /** What changed in the environment the runs recorded (Python version, packages...), one line each. */
  environment: string[]
  /** The tracked data whose versions the runs read differ, with the files that differ. */
  inputs: InputChange[]
}

/** What changed in the project between the snapshots of two runs, and in their metrics. */
export async function historyDiff(cwd: string, idA: string, idB: string, paths: string[] = []): Promise<RunDiff> {
  const repo = await openHistory(await findProject(cwd))
  const [a, b] = await Promise.all([idA, idB].map(async (id) => getRun(repo, await resolveRunId(repo, id))))
  const [from, to] = await Promise.all([a, b].map(async (run) => repo.treeOf(run.snapshotId).catch(() => {
    throw new MlError('PROJECT_CORRUPT', `The snapshot ${run.snapshotId} of run ${run.runId} is missing from the history; pull the history again (\`ml history pull\`).`)
  })))
  const [patch, files] = await Promise.all([repo.diffPatch(from, to, paths), repo.diffStats(from, to, paths)])
  const names = [...new Set([...Object.keys(a.metrics ?? {}), ...Object.keys(b.metrics ?? {})])]
  const metrics = names.map((name) => {
    const x = a.metrics?.[name]
    const y = b.metrics?.[name]
    return {name, a: x, b: y, change: x !== undefined && y !== undefined ? y - x : undefined}
  })
  const environments = await Promise.all([a, b].map(async (run) => ({
    environment: (await parseEnvironment(await getRunFile(repo, run.runId, ENVIRONMENT_FILE))) ?? undefined,
    requirements: (await getRunFile(repo, run.runId, REQUIREMENTS_FILE))?.toString('utf8'),
  })))
  return {a, b, patch, files, metrics, params: paramChanges(a.params ?? {}, b.params ?? {}), environment: environmentChanges(environments[0], environments[1]), inputs: await inputChanges(repo, a, b)}
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
  /** Large outputs whose bytes are neither on this machine nor in a store (the project has none). */
  missing: string[]
}

/**
 * Writes a run's log, metrics and outputs into `dir`, or into .ml/downloads/<run-id>/ so that
 * the next snapshot does not pick the download up. Large outputs this machine lacks come from
 * the project's store first (checked against their sha256), so that a store that fails leaves
 * nothing written. Every name comes from a record that passed the trust gate, and no file is
 * ever overwritten.
 */
export async function downloadRun(cwd: string, runIdOrPrefix: string, dir: string | undefined, access: StoreAccess & {onProgress?: OnProgress}): Promise<Download> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const run = await getRun(repo, await resolveRunId(repo, runIdOrPrefix))
  const target = dir === undefined ? mlPath(project.dir, 'downloads', run.runId) : path.resolve(cwd, dir)
  if (!(await isEmptyDir(target))) throw new MlError('DESTINATION_EXISTS', `${target} already exists and is not empty; remove it or name another folder with --dir.`)
  const large = run.outputs.flatMap((o) => (o.sha256 === undefined ? [] : [{id: o.sha256, size: o.size}]))
  const lacking = new Set((await fetchMissing(project, access, large)).map((o) => o.id))
  const cache = projectCache(project, access)
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
    const source = output.sha256 === undefined ? await repo.readFile(commit, rel) : lacking.has(output.sha256) ? null : usedObject(cache, output.sha256)
    if (source === null) result.missing.push(rel)
    else await write(rel, source)
  }
  return result
}
