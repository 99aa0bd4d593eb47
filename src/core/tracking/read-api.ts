import type http from 'node:http'
import {MlError} from '../../shared/errors.js'
import {historyInfo, historyList, historyMetrics} from '../runs/history.js'
import {runFile} from '../runs/run-files.js'
import type {Project} from '../project/project.js'
import type {RunRecord} from '../runs/runs.js'
import {drain, requestArgs, requestRunId, sendJson, sendMlflowError} from './mlflow-http.js'
import {runIdFromMlflow} from './mlflow-ids.js'
import {artifactUri, EXPERIMENT_ID, mlflowExperiment, mlflowRun} from './mlflow-run.js'
import {searchRuns} from './search-runs.js'

/**
 * MLflow's REST API over the whole history, read-only, for `ml ui` (`parts`: the request's
 * path after /api/2.0/, decoded): experiments/search, get and get-by-name (the project is
 * experiment 0), runs/search, runs/get, metrics/get-history, artifacts/list and the artifact
 * proxy's list and download. Runs have MLflow's ids (mlflowRunId), read back on every request.
 * Any write answers PERMISSION_DENIED; anything else ENDPOINT_NOT_FOUND. Errors are thrown as
 * MlErrors, for the caller's sendThrown.
 */
export async function handleMlflowRead(cwd: string, project: Project, req: http.IncomingMessage, res: http.ServerResponse, url: URL, parts: string[]): Promise<void> {
  const experiment = mlflowExperiment(project)
  if (parts[0] === 'mlflow-artifacts' && parts[1] === 'artifacts' && req.method === 'GET') {
    if (parts.length === 2) {
      const [id, ...sub] = (url.searchParams.get('path') ?? '').split('/').filter(Boolean)
      // The proxy lists names, which its client joins to the folder; artifacts/list lists paths.
      const files = artifactEntries(await recordOf(cwd, id ?? ''), sub.join('/'))
      return sendJson(res, 200, {files: files.map((f) => ({...f, path: f.path.slice(f.path.lastIndexOf('/') + 1)}))})
    }
    const [, , id, ...file] = parts
    const data = await runFile(cwd, (await recordOf(cwd, id)).runId, 'outputs', file.join('/'))
    res.writeHead(200, {'Content-Type': 'application/octet-stream', 'Content-Length': data.length})
    return void res.end(data)
  }
  const route = `${req.method} ${parts.slice(1).join('/')}`
  if (parts[0] !== 'mlflow' || !READS.has(route)) {
    await drain(req)
    if (req.method !== 'GET') return sendMlflowError(res, 'PERMISSION_DENIED', 'ml ui serves MLflow\'s API read-only: a run logs into ml while it runs, through the endpoint ml gives it.')
    return sendMlflowError(res, 'ENDPOINT_NOT_FOUND', `ml ui does not serve ${req.method} ${url.pathname}.`)
  }
  const args = await requestArgs(req, url)
  if (route.includes('experiments/search')) return sendJson(res, 200, {experiments: [experiment]})
  if (route === 'GET experiments/get' || route === 'GET experiments/get-by-name') {
    if (args.experiment_id !== EXPERIMENT_ID && args.experiment_name !== project.config.name) throw new MlError('RUN_NOT_FOUND', `The project ${project.config.name} is the only experiment here, of id ${EXPERIMENT_ID}.`)
    return sendJson(res, 200, {experiment})
  }
  if (route.includes('runs/search')) {
    const ids = args.experiment_ids
    const wanted = ids === undefined || (Array.isArray(ids) ? ids : [ids]).includes(EXPERIMENT_ID)
    const runs = wanted ? (await historyList(cwd)).map((run) => mlflowRun(run)) : []
    const order = typeof args.order_by === 'string' ? [args.order_by] : args.order_by as string[] | undefined
    return sendJson(res, 200, searchRuns(runs, {filter: args.filter as string | undefined, order_by: order, max_results: args.max_results === undefined ? undefined : Number(args.max_results), page_token: args.page_token as string | undefined}))
  }
  const record = await recordOf(cwd, requestRunId(args))
  if (route === 'GET runs/get') return sendJson(res, 200, {run: mlflowRun(record, {points: (await historyMetrics(cwd, record.runId)).points})})
  if (route === 'GET metrics/get-history') {
    const {points} = await historyMetrics(cwd, record.runId)
    const end = Date.parse(record.endTimeUtc ?? record.startTimeUtc)
    return sendJson(res, 200, {metrics: points.filter((p) => p.name === args.metric_key).map((p) => ({key: p.name, value: p.value, timestamp: p.timestamp ?? end, step: p.step ?? 0}))})
  }
  // artifacts/list
  sendJson(res, 200, {root_uri: artifactUri(record.runId), files: artifactEntries(record, typeof args.path === 'string' ? args.path : '')})
}

const READS = new Set(['GET experiments/search', 'POST experiments/search', 'GET experiments/get', 'GET experiments/get-by-name', 'GET runs/search', 'POST runs/search', 'GET runs/get', 'GET metrics/get-history', 'GET artifacts/list'])

/** A run by its exact MLflow id (MLflow's clients never give a prefix). */
async function recordOf(cwd: string, id: string): Promise<RunRecord> {
  const runId = runIdFromMlflow(id)
  const {run} = await historyInfo(cwd, runId)
  if (run.runId !== runId) throw new MlError('RUN_NOT_FOUND', `There is no run with id ${runId}.`)
  return run
}

/** The files and folders right inside `folder` of a run's outputs, as MLflow lists artifacts. */
function artifactEntries(record: RunRecord, folder: string): Array<{path: string; is_dir: boolean; file_size?: number}> {
  const prefix = folder ? `${folder.replace(/\/+$/, '')}/` : ''
  const entries = new Map<string, {path: string; is_dir: boolean; file_size?: number}>()
  for (const output of record.outputs) {
    if (!output.path.startsWith(prefix)) continue
    const [name, ...deeper] = output.path.slice(prefix.length).split('/')
    const rel = prefix + name
    entries.set(rel, deeper.length > 0 ? {path: rel, is_dir: true} : {path: rel, is_dir: false, file_size: output.size})
  }
  return [...entries.values()]
}
