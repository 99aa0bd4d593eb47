import {randomBytes, timingSafeEqual} from 'node:crypto'
import {createReadStream, createWriteStream, promises as fs} from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import {Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {MlError} from '../../shared/errors.js'
import type {Project} from '../project/project.js'
import {parseMetrics} from '../runs/metrics.js'
import {paramsFromLog} from '../runs/params.js'
import type {RunRecord} from '../runs/runs.js'
import {trackingFromLog} from '../runs/tracking-log.js'
import {unsafeReason} from '../trust/tree-path.js'
import {bearerToken, drain, requestArgs, requestRunId, sendJson, sendMlflowError, sendThrown} from './mlflow-http.js'
import {LoggedModels, type Owner} from './logged-models.js'
import {mlflowRunId, mlRunId} from './mlflow-ids.js'
import {batchLines, type Lines, list, metricLines, metricValue, paramLines, statusLines, tagLines} from './mlflow-lines.js'
import {artifactUri, EXPERIMENT_ID, mlflowExperiment, mlflowRun, type MlflowRun, runOutputs, MODELS_PROPERTY} from './mlflow-run.js'
import {searchRuns} from './search-runs.js'

/** With this set to 1, a MLFLOW_TRACKING_URI of the user's own wins over the run's endpoint. */
export const PASSTHROUGH_VARIABLE = 'ML_MLFLOW_PASSTHROUGH'

/** Variables of the user's that would make MLflow's client authenticate otherwise than with the run's token. */
export const REPLACED = ['MLFLOW_TRACKING_USERNAME', 'MLFLOW_TRACKING_PASSWORD', 'MLFLOW_TRACKING_AUTH', 'MLFLOW_TRACKING_CLIENT_CERT_PATH', 'MLFLOW_TRACKING_SERVER_CERT_PATH', 'MLFLOW_TRACKING_INSECURE_TLS', 'MLFLOW_PARENT_RUN_ID']

export interface RunEndpointOptions {
  /** The script's environment, before the endpoint's variables: only its MLFLOW_TRACKING_URI and ML_MLFLOW_PASSTHROUGH are read. */
  env: NodeJS.ProcessEnv
  project: Project
  /** The run, Running; its params are those of the command line and the params file. */
  record: RunRecord
  /** ML_METRICS_FILE: metrics, params, tags and statuses are appended to it as lines (see runs/tracking-log.ts). */
  metricsFile: string
  /** ML_OUTPUTS_DIR: artifacts are written into it, under the path the client gave. */
  outputsDir: string
  /** A folder of the run's own on the outputs' file system, where an artifact is written before it is renamed into place. */
  scratchDir: string
  /** An artifact over this size is refused, and nothing of it kept. */
  maxArtifactBytes: number
  /** Told once of each endpoint that is not served, and of NaN metrics (accepted, not recorded). */
  onWarning?: (message: string) => void
}

export interface RunEndpoint {
  /** The script's environment with the endpoint's MLFLOW_* variables (unchanged when the user's tracking server wins). */
  scriptEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv
  close(): Promise<void>
}

/**
 * The run's MLflow tracking endpoint: MLflow's REST API 2.0 and its artifact proxy on
 * 127.0.0.1, for this run only (and the nested runs it creates), behind a random token. What
 * the script logs becomes what ml records anyway: lines of its metrics file and files of its
 * outputs, so the run's ending records them as it records run_logger's. MLflow sees the run's
 * id as mlflowRunId makes it (a dot escaped), and every id it sends is read back by mlRunId.
 */
export async function startRunEndpoint(options: RunEndpointOptions): Promise<RunEndpoint> {
  if (options.env.MLFLOW_TRACKING_URI && options.env[PASSTHROUGH_VARIABLE] === '1') return {scriptEnv: (env) => env, close: async () => {}}
  const {record, project} = options
  const runId = record.runId
  const mlflowId = mlflowRunId(runId)
  const token = randomBytes(24).toString('hex')
  const children = new Map<string, {name: string; start: number}>()
  const warned = new Set<string>()
  /** The models each run (nested ones by id, the run itself by '') logged in MLflow 2.x, for mlflow.log-model.history. */
  const history = new Map<string, unknown[]>()
  const warnOnce = (message: string) => {
    if (!warned.has(message)) options.onWarning?.(message)
    warned.add(message)
  }
  let file: Promise<fs.FileHandle> | undefined
  let writing: Promise<unknown> = Promise.resolve()
  const append = (lines: Lines | string[]): Promise<void> => {
    const {lines: text, nan} = Array.isArray(lines) ? {lines, nan: []} : lines
    for (const name of nan) warnOnce(`MLflow metric "${name}" was logged as NaN: accepted, as MLflow does, but not recorded (a run's metrics are numbers).`)
    if (text.length === 0) return Promise.resolve()
    file ??= fs.mkdir(path.dirname(options.metricsFile), {recursive: true}).then(() => fs.open(options.metricsFile, 'a'))
    const done = writing.then(async () => (await file!).appendFile(`${text.join('\n')}\n`))
    writing = done.catch(() => {})
    return done
  }

  /** The run a request names (by MLflow's id), as `{run}` for a nested one (its lines carry its ml id); refuses any other run. */
  const runOf = (args: Record<string, unknown>): Owner | null => {
    const id = mlRunId(requestRunId(args))
    return id === runId ? {} : id !== undefined && children.has(id) ? {run: id} : null
  }
  const models = new LoggedModels((owner) => mlflowRunId(owner.run ?? runId), async (folder) => Boolean(await fs.lstat(path.join(options.outputsDir, folder)).catch(() => null)))
  /** The name, value and step of each metric point of the run's own in its metrics file, read on from where the last call ended (the file only grows). */
  const logged = {bytes: 0, points: new Set<string>()}
  const loggedPoints = async (): Promise<Set<string>> => {
    await writing
    const handle = await fs.open(options.metricsFile, 'r').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : Promise.reject(error)))
    if (!handle) return logged.points
    try {
      const {size} = await handle.stat()
      const data = Buffer.alloc(Math.max(0, size - logged.bytes))
      await handle.read(data, 0, data.length, logged.bytes)
      const whole = data.subarray(0, data.lastIndexOf(10) + 1)
      for (const p of parseMetrics(whole.toString('utf8')).points) logged.points.add(pointKey(p.name, p.value, p.step ?? 0))
      logged.bytes += whole.length
    } finally {
      await handle.close()
    }
    return logged.points
  }
  /**
   * Metric points (runs/log-metric, runs/log-batch) as lines: one that names a logged model
   * (model_id, MLflow 3.x) is linked to it, and is not written again when the run already has
   * its name, value and step (log_model links the run's metrics of its step to the model by
   * logging them again; MLflow's store keeps such a point once).
   */
  const metricWrite = async (nested: Owner, metrics: unknown[], lines: (fresh: unknown[]) => Lines, now: number): Promise<Lines> => {
    const link = models.linking(nested, metrics, now)
    if (!link) return lines(metrics)
    const known = nested.run ? new Set<string>() : await loggedPoints()
    const again = (metric: unknown) => {
      const {key, value, step, model_id: model} = (metric ?? {}) as Record<string, unknown>
      return Boolean(model) && known.has(pointKey(key, metricValue(value), Number(step ?? 0)))
    }
    const out = lines(metrics.filter((metric) => !again(metric)))
    return {lines: [...out.lines, ...link()], nan: out.nan}
  }
  const ownRun = async () => {
    const text = await fs.readFile(options.metricsFile, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? '' : Promise.reject(error)))
    return mlflowRun(record, {params: paramsFromLog(text).params, points: parseMetrics(text).points, tags: trackingFromLog(text).properties})
  }
  const childRun = (id: string): MlflowRun => {
    const child = children.get(id)!
    const childId = mlflowRunId(id)
    return {
      info: {run_id: childId, run_uuid: childId, run_name: child.name, experiment_id: EXPERIMENT_ID, user_id: '', status: 'RUNNING', start_time: child.start, artifact_uri: `${artifactUri(runId)}/${id}`, lifecycle_stage: 'active'},
      data: {metrics: [], params: [], tags: [{key: 'mlflow.parentRunId', value: mlflowId}, {key: 'mlflow.runName', value: child.name}]},
      inputs: {dataset_inputs: [], model_inputs: []},
      outputs: runOutputs({[MODELS_PROPERTY]: JSON.stringify(models.list({run: id}))}),
    }
  }

  const api = async (route: string, args: Record<string, unknown>, res: http.ServerResponse): Promise<boolean> => {
    const now = Date.now()
    const experiment = mlflowExperiment(project)
    if (route === 'GET experiments/get-by-name' || route === 'POST experiments/search') {
      // Every experiment name is the project: the run logs into itself whatever the script set.
      sendJson(res, 200, route.endsWith('search') ? {experiments: [experiment]} : {experiment})
      return true
    }
    if (route === 'GET experiments/get') {
      if (args.experiment_id !== EXPERIMENT_ID) throw new MlError('RUN_NOT_FOUND', `There is no experiment ${JSON.stringify(args.experiment_id)}: the project is experiment ${EXPERIMENT_ID}.`)
      sendJson(res, 200, {experiment})
      return true
    }
    if (route === 'POST experiments/create') {
      sendJson(res, 200, {experiment_id: EXPERIMENT_ID})
      return true
    }
    if (route === 'POST runs/create') {
      // start_run() with MLFLOW_RUN_ID set attaches to the run (runs/get, runs/update); a run
      // created besides is a nested one (start_run(nested=True)), kept in this run's record.
      const id = `${runId}-nested-${children.size + 1}`
      const tags = Array.isArray(args.tags) ? args.tags : []
      const name = typeof args.run_name === 'string' && args.run_name ? args.run_name : id
      await append([...tagLines([...tags, {key: 'mlflow.runName', value: name}], {run: id}), JSON.stringify({run: id, tag: 'mlflow.parentRunId', value: runId})])
      children.set(id, {name, start: typeof args.start_time === 'number' ? args.start_time : now})
      sendJson(res, 200, {run: childRun(id)})
      return true
    }
    if (route === 'POST runs/search') {
      sendJson(res, 200, searchRuns([await ownRun(), ...[...children.keys()].map(childRun)], args))
      return true
    }
    const model = await modelRoute(route, args, now)
    if (model) {
      sendJson(res, 200, model)
      return true
    }
    const writes: Record<string, (nested: Owner) => Lines | string[] | Promise<Lines | string[]>> = {
      'POST runs/log-metric': (nested) => metricWrite(nested, [args], (fresh) => metricLines(fresh, nested, now), now),
      'POST runs/log-parameter': (nested) => paramLines([args], nested),
      'POST runs/set-tag': (nested) => tagLines([args], nested),
      'POST runs/delete-tag': (nested) => tagLines([args], nested, true),
      'POST runs/log-batch': (nested) => metricWrite(nested, list(args, 'metrics'), (fresh) => batchLines({...args, metrics: fresh}, nested, now), now),
      'POST runs/update': (nested) => statusLines(args.status, nested),
      // MLflow 2.x's log_model, after its files: the model's MLmodel as JSON, kept as MLflow
      // keeps it, in the tag mlflow.log-model.history (a JSON list).
      'POST runs/log-model': (nested) => {
        if (typeof args.model_json !== 'string') throw new MlError('INVALID_ARGUMENT', 'runs/log-model needs model_json, the model\'s MLmodel as a JSON text.')
        const before = history.get(nested.run ?? '') ?? []
        history.set(nested.run ?? '', [...before, jsonOrText(args.model_json)])
        return [JSON.stringify({...nested, tag: 'mlflow.log-model.history', value: JSON.stringify(history.get(nested.run ?? ''))})]
      },
      // MLflow 3.x's log_model, after logged-models: the model is an output of the run, at a step.
      'POST runs/outputs': (nested) => models.outputs(nested, args, now),
      'POST runs/log-inputs': () => {
        warnOnce('MLflow\'s runs/log-inputs (datasets) is accepted but not recorded.')
        return []
      },
    }
    const known = writes[route] || route === 'GET runs/get' || route === 'GET metrics/get-history'
    if (!known) return false
    const nested = runOf(args)
    if (!nested) {
      sendMlflowError(res, 'PERMISSION_DENIED', `This endpoint serves only the ml run ${runId} (to MLflow ${mlflowId}), not ${JSON.stringify(requestRunId(args))}.`)
      return true
    }
    if (route === 'GET runs/get') {
      sendJson(res, 200, {run: nested.run ? childRun(nested.run) : await ownRun()})
      return true
    }
    if (route === 'GET metrics/get-history') {
      const text = nested.run ? '' : await fs.readFile(options.metricsFile, 'utf8').catch(() => '')
      const metrics = parseMetrics(text).points.filter((p) => p.name === args.metric_key).map((p) => ({key: p.name, value: p.value, timestamp: p.timestamp ?? now, step: p.step ?? 0}))
      sendJson(res, 200, {metrics})
      return true
    }
    await append(await writes[route](nested))
    const run = route === 'POST runs/update' ? {run_info: nested.run ? childRun(nested.run).info : (await ownRun()).info} : {}
    sendJson(res, 200, run)
    return true
  }

  /**
   * MLflow 3.x's logged models (service.proto's /mlflow/logged-models...): create, get,
   * finalize (PATCH), set and delete tags, log params, search. The answer, or undefined for a
   * route that is not one of them. A model of another run's source_run_id is refused.
   */
  const modelRoute = async (route: string, args: Record<string, unknown>, now: number): Promise<Record<string, unknown> | undefined> => {
    const method = route.slice(0, route.indexOf(' '))
    const [head, id, sub, ...key] = route.slice(method.length + 1).split('/')
    if (head !== 'logged-models') return undefined
    if (method === 'POST' && id === undefined) {
      const owner = args.source_run_id === undefined || args.source_run_id === null || args.source_run_id === '' ? {} : runOf({run_id: args.source_run_id})
      if (!owner) throw new MlError('INVALID_ARGUMENT', `A model is logged from the ml run ${runId} (to MLflow ${mlflowId}) or a run nested in it, not ${JSON.stringify(args.source_run_id)}.`)
      const created = await models.create(args, owner, now)
      await append(created.lines)
      return {model: created.model}
    }
    if (method === 'POST' && id === 'search' && sub === undefined) return models.search(args)
    if (id === undefined || id === 'search') return undefined
    let changed: {model?: Record<string, unknown>; lines: string[]}
    if (method === 'GET' && sub === undefined) return {model: models.get(id)}
    else if (method === 'PATCH' && sub === undefined) changed = models.finalize(id, args.status, now)
    else if (method === 'PATCH' && sub === 'tags' && key.length === 0) changed = {lines: models.setTags(id, args, now)}
    else if (method === 'DELETE' && sub === 'tags' && key.length > 0) changed = {lines: models.deleteTag(id, key.join('/'), now)}
    else if (method === 'POST' && sub === 'params' && key.length === 0) changed = {lines: models.logParams(id, args, now)}
    else return undefined
    await append(changed.lines)
    return changed.model ? {model: changed.model} : {}
  }

  const putArtifact = async (file: string, req: http.IncomingMessage): Promise<void> => {
    const reason = unsafeReason(file)
    if (reason) throw new MlError('UNSAFE_PATH', `The artifact path ${JSON.stringify(file.slice(0, 200))} ${reason}; give a relative path inside the run's artifacts.`)
    await fs.mkdir(options.scratchDir, {recursive: true})
    const scratch = path.join(options.scratchDir, `artifact-${randomBytes(6).toString('hex')}.tmp`)
    try {
      // Over the limit, the rest is read and dropped (see drain), and the file never placed.
      let size = 0
      let over = Number(req.headers['content-length'] ?? 0) > options.maxArtifactBytes
      const bound = new Transform({
        transform(chunk: Buffer, _, done) {
          size += chunk.length
          over ||= size > options.maxArtifactBytes
          done(null, over ? undefined : chunk)
        },
      })
      await pipeline(req, bound, createWriteStream(scratch, {flags: 'wx'}))
      if (over) throw new MlError('INVALID_ARGUMENT', `The artifact ${file} is over ${options.maxArtifactBytes / 1e6} MB, the project's size limit; keep it out of the run's artifacts (or raise "limits" in .ml/project.json).`)
      await fs.rename(scratch, await placeInOutputs(options.outputsDir, file))
    } finally {
      await fs.rm(scratch, {force: true})
    }
  }

  const artifacts = async (rest: string[], req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> => {
    if (req.method === 'GET' && rest.length === 0) {
      // list: ?path=<run-id>/<folder>
      const [id, ...sub] = (url.searchParams.get('path') ?? '').split('/').filter(Boolean)
      if (id !== mlflowId) return sendMlflowError(res, 'PERMISSION_DENIED', `This endpoint serves only the artifacts of the ml run ${runId} (to MLflow ${mlflowId}).`)
      return sendJson(res, 200, {files: await listArtifacts(options.outputsDir, sub.join('/'))})
    }
    const [id, ...parts] = rest
    if (id !== mlflowId) {
      await drain(req)
      return sendMlflowError(res, 'PERMISSION_DENIED', `This endpoint serves only the artifacts of the ml run ${runId} (to MLflow ${mlflowId}).`)
    }
    // PUT since MLflow 1.25; older clients POST.
    if (req.method === 'PUT' || req.method === 'POST') {
      await putArtifact(parts.join('/'), req)
      return sendJson(res, 200, {})
    }
    if (req.method === 'GET') return downloadArtifact(options.outputsDir, parts.join('/'), res)
    await drain(req)
    sendMlflowError(res, 'ENDPOINT_NOT_FOUND', `${req.method} is not served for artifacts.`)
  }

  const server = http.createServer((req, res) => {
    serve(req, res).catch(async (error: unknown) => {
      await drain(req)
      sendThrown(res, error)
    })
  })
  const serve = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const given = bearerToken(req)
    if (!given || !sameToken(given, token)) {
      await drain(req)
      return sendMlflowError(res, 'UNAUTHENTICATED', 'This needs the run\'s MLFLOW_TRACKING_TOKEN as a Bearer token; ml sets it in the run\'s environment.')
    }
    // The raw path: URL would resolve `..` in it before the path gate saw it.
    const raw = (req.url ?? '/').split('?')[0]
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const parts = raw.split('/').slice(1).map(decodeURIComponent)
    if (parts[0] === 'api' && parts[1] === '2.0' && parts[2] === 'mlflow-artifacts' && parts[3] === 'artifacts') return artifacts(parts.slice(4), req, res, url)
    if (parts[0] === 'api' && parts[1] === '2.0' && parts[2] === 'mlflow') {
      const route = `${req.method} ${parts.slice(3).join('/')}`
      if (await api(route, await requestArgs(req, url), res)) return
    }
    await drain(req)
    warnOnce(`The script called MLflow's ${req.method} ${raw}, which ml does not serve: it answered ENDPOINT_NOT_FOUND and recorded nothing of it.`)
    sendMlflowError(res, 'ENDPOINT_NOT_FOUND', `ml's MLflow endpoint does not serve ${req.method} ${raw}.`)
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  // Never what keeps ml running: the run closes it when its script ends.
  server.unref()
  const {port} = server.address() as {port: number}
  return {
    scriptEnv: (env) => {
      const out: NodeJS.ProcessEnv = {...env, MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}`, MLFLOW_RUN_ID: mlflowId, MLFLOW_EXPERIMENT_ID: EXPERIMENT_ID, MLFLOW_EXPERIMENT_NAME: project.config.name, MLFLOW_TRACKING_TOKEN: token}
      for (const name of REPLACED) delete out[name]
      return out
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
      await writing
      if (file) await (await file).close()
    },
  }
}

/** What tells two metric points apart for the model link: MLflow's store keeps a point of a run once. */
function pointKey(name: unknown, value: number, step: number): string {
  return JSON.stringify([name, value, step])
}

function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The file `file` (checked by the path gate) will be in `outputsDir`, its folders made one by
 * one: a part that is a link or a file is refused, so nothing is ever written outside the
 * folder through a link the script left there.
 */
async function placeInOutputs(outputsDir: string, file: string): Promise<string> {
  const parts = file.split('/')
  let dir = outputsDir
  for (const [i, part] of parts.entries()) {
    const next = path.join(dir, part)
    const stat = await fs.lstat(next).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : Promise.reject(error)))
    const last = i === parts.length - 1
    if (stat && (last ? stat.isDirectory() : !stat.isDirectory())) throw new MlError('UNSAFE_PATH', `The artifact path ${file} runs into ${stat.isSymbolicLink() ? 'a link' : last ? 'a folder' : 'a file'} in the run's outputs; give another path.`)
    if (!stat && !last) await fs.mkdir(next).catch((error: NodeJS.ErrnoException) => (error.code === 'EEXIST' ? undefined : Promise.reject(error)))
    dir = next
  }
  return dir
}

/** An artifact folder's entries, as MLflow's proxy lists them: by their names (its client joins them to the folder). */
async function listArtifacts(outputsDir: string, sub: string): Promise<Array<{path: string; is_dir: boolean; file_size?: number}>> {
  if (sub && unsafeReason(sub)) throw new MlError('UNSAFE_PATH', `The artifact path ${JSON.stringify(sub.slice(0, 200))} ${unsafeReason(sub)}; give a relative path.`)
  const entries = await fs.readdir(path.join(outputsDir, sub), {withFileTypes: true}).catch(() => [])
  const files = []
  for (const entry of entries) {
    if (entry.isSymbolicLink()) continue
    const {name} = entry
    files.push(entry.isDirectory() ? {path: name, is_dir: true} : {path: name, is_dir: false, file_size: (await fs.stat(path.join(outputsDir, sub, name))).size})
  }
  return files
}

async function downloadArtifact(outputsDir: string, file: string, res: http.ServerResponse): Promise<void> {
  const reason = unsafeReason(file)
  if (reason) throw new MlError('UNSAFE_PATH', `The artifact path ${JSON.stringify(file.slice(0, 200))} ${reason}; give a relative path.`)
  const full = path.join(outputsDir, file)
  const stat = await fs.lstat(full).catch(() => null)
  if (!stat?.isFile()) throw new MlError('RUN_NOT_FOUND', `The run has no artifact ${file}.`)
  res.writeHead(200, {'Content-Type': 'application/octet-stream', 'Content-Length': stat.size})
  await pipeline(createReadStream(full), res)
}
