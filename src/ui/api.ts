import {createHash} from 'node:crypto'
import type http from 'node:http'
import path from 'node:path'
import {syncIfDue, type SyncOptions} from '../core/compute/sync.js'
import type {Project} from '../core/project/project.js'
import {applyRestore, planRestore, previewRestore} from '../core/restore/restore.js'
import {historyCompare, historyDiff, historyInfo, historyList, historyLog, historyMetrics} from '../core/runs/history.js'
import {runFile, snapshotFiles} from '../core/runs/run-files.js'
import {sendThrown} from '../core/tracking/mlflow-http.js'
import {handleMlflowRead} from '../core/tracking/read-api.js'
import {MlError} from '../shared/errors.js'
import {send, sendError} from './respond.js'

/** What the API answers for: one project, and the settings its sync and restore need. */
export interface ApiContext {
  cwd: string
  project: Project
  /** For runs out on compute targets: looked at while a page listens for changes. */
  sync?: Omit<SyncOptions, 'runIds'>
  /** Told of a failure that is not an MlError (a bug): the page gets a 500 that names no detail. */
  onInternal?: (error: unknown) => void
}

/**
 * The dashboard's JSON API. Every object is the one the CLI prints with `-o json` (the same
 * core call), so the page and the CLI never disagree:
 *
 * - GET  /api/runs                      `history list -o json`
 * - GET  /api/runs/ID                   `{run, environment, lineage}` (`history info`)
 * - GET  /api/runs/ID/metrics           `history metrics -o json`
 * - GET  /api/runs/ID/log?offset=N      the log from byte N (text; X-ML-Log-Size, X-ML-Run-Status)
 * - GET  /api/runs/ID/files             the snapshot's files
 * - GET  /api/runs/ID/files/PATH        a snapshot file's bytes
 * - GET  /api/runs/ID/outputs/PATH      an output's bytes, as a download
 * - GET  /api/runs/ID/restore           what `project restore --dry-run` lists: {label, changes}
 * - POST /api/runs/ID/restore           restores the folder (a backup first; `--undo` undoes it)
 * - GET  /api/compare?runs=A,B[,...]    `history compare -o json`
 * - GET  /api/diff?a=A&b=B              `history diff -o json`
 * - GET  /api/events                    server-sent events: `runs` whenever the run list changes
 * - /api/2.0/mlflow/..., /api/2.0/mlflow-artifacts/...  MLflow's REST API, read-only (tracking/read-api.ts)
 */
export async function handleApi(context: ApiContext, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
  const {cwd} = context
  const parts = url.pathname.split('/').slice(2).map(decodeURIComponent)
  if (parts[0] === '2.0') return handleMlflowRead(cwd, context.project, req, res, url, parts.slice(1)).catch((error: unknown) => sendThrown(res, error, context.onInternal))
  const get = req.method === 'GET'
  try {
    if (get && parts.length === 1 && parts[0] === 'runs') return send(res, 200, await historyList(cwd))
    if (get && parts.length === 1 && parts[0] === 'events') return events(context, req, res)
    if (get && parts.length === 1 && parts[0] === 'compare') return send(res, 200, await historyCompare(cwd, (url.searchParams.get('runs') ?? '').split(',').filter(Boolean)))
    if (get && parts.length === 1 && parts[0] === 'diff') return send(res, 200, await historyDiff(cwd, url.searchParams.get('a') ?? '', url.searchParams.get('b') ?? ''))
    if (parts[0] === 'runs' && parts.length >= 2) {
      const [, id, what, ...rest] = parts
      if (get && what === undefined) return send(res, 200, await historyInfo(cwd, id).then(({run, environment, lineage}) => ({run, environment, lineage})))
      if (get && what === 'metrics' && rest.length === 0) return send(res, 200, await historyMetrics(cwd, id))
      if (get && what === 'log' && rest.length === 0) return log(cwd, id, Number(url.searchParams.get('offset') ?? 0), res)
      if (get && what === 'files' && rest.length === 0) return send(res, 200, await snapshotFiles(cwd, id))
      if (get && (what === 'files' || what === 'outputs') && rest.length > 0) return file(res, await runFile(cwd, id, what === 'files' ? 'snapshot' : 'outputs', rest.join('/'), context.sync?.auth), rest.join('/'), what === 'outputs')
      if (what === 'restore' && rest.length === 0) return restore(cwd, id, req, res)
    }
    throw new MlError('INVALID_ARGUMENT', `${req.method} ${url.pathname} is not part of ml ui's API.`)
  } catch (error) {
    sendError(res, error, context.onInternal)
  }
}

async function log(cwd: string, id: string, offset: number, res: http.ServerResponse): Promise<void> {
  if (!Number.isInteger(offset) || offset < 0) throw new MlError('INVALID_ARGUMENT', 'offset must be a whole number of bytes.')
  const {log, status} = await historyLog(cwd, id)
  res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8', 'X-ML-Log-Size': String(log.length), 'X-ML-Run-Status': status})
  res.end(log.subarray(Math.min(offset, log.length)))
}

/** Text is shown as text; anything else (and every output) is sent as bytes to save. */
function file(res: http.ServerResponse, data: Buffer, name: string, download: boolean): void {
  const text = !data.includes(0) && Buffer.from(data.toString('utf8'), 'utf8').equals(data)
  res.writeHead(200, {
    'Content-Type': text ? 'text/plain; charset=utf-8' : 'application/octet-stream',
    ...download && {'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(path.posix.basename(name))}`},
  })
  res.end(data)
}

async function restore(cwd: string, id: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const plan = await planRestore(cwd, id)
  if (req.method === 'GET') return send(res, 200, {label: plan.label, changes: await previewRestore(plan)})
  if (req.method !== 'POST') throw new MlError('INVALID_ARGUMENT', 'A restore is asked for with POST.')
  const result = await applyRestore(plan)
  send(res, 200, {...result, undo: 'ml project restore --undo'})
}

/** How often the run list is looked at while a page listens (runs on compute targets are synced at most every 5 s, see syncIfDue). */
const EVENTS_EVERY_MS = 1000

/** Server-sent events: `runs` each time the run list (ids, statuses, metrics) changes. */
function events(context: ApiContext, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, {'Content-Type': 'text/event-stream; charset=utf-8', 'Connection': 'keep-alive'})
  res.write(': ml ui\n\n')
  let last = ''
  let busy = false
  const look = async () => {
    if (busy) return
    busy = true
    try {
      if (context.sync) await syncIfDue(context.cwd, context.sync).catch(() => null)
      const runs = await historyList(context.cwd)
      const stamp = createHash('sha256').update(JSON.stringify(runs.map((r) => [r.runId, r.status, r.endTimeUtc, r.metrics]))).digest('hex')
      if (last && stamp !== last) res.write(`event: runs\ndata: ${JSON.stringify({count: runs.length})}\n\n`)
      last = stamp
    } finally {
      busy = false
    }
  }
  const timer = setInterval(() => void look().catch(() => {}), EVENTS_EVERY_MS)
  void look().catch(() => {})
  req.on('close', () => clearInterval(timer))
}
