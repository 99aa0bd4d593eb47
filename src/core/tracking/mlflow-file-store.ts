import {isMlError} from '../../shared/errors.js'
import {unsafeReason} from '../trust/tree-path.js'
import {keyProblem, type Lines, metricLines, paramLines, statusLines, tagLines} from './mlflow-lines.js'
import {EXPERIMENT_ID} from './mlflow-run.js'
import {mlflowRunId} from './mlflow-ids.js'

/**
 * MLflow's own file store (mlflow/store/tracking/file_store.py), for a run on a compute target
 * whose script cannot reach this machine: the run is given MLFLOW_TRACKING_URI=file:<store>,
 * with the experiment and the run made there beforehand, so `mlflow.start_run()` attaches to
 * the ml run as it does to a run's endpoint here. The layout:
 *
 *   <store>/<experiment-id>/meta.yaml
 *   <store>/<experiment-id>/<run-id>/meta.yaml                 status as MLflow's RunStatus number
 *   <store>/<experiment-id>/<run-id>/params/<key>               the value, as text
 *   <store>/<experiment-id>/<run-id>/metrics/<key>              lines "timestamp value step"
 *   <store>/<experiment-id>/<run-id>/tags/<key>                 the value, as text
 *   <store>/<experiment-id>/<run-id>/artifacts/<path>           (a nested run's: its artifact_uri)
 *
 * Artifacts stay in the store until the run is collected, then become its outputs. What the
 * store holds once the run has ended becomes the lines a run's endpoint would have written
 * (`storeLines`), checked by the same rules: it is the target's word, untrusted.
 */

/** What is read of a store: at most this many files, each of at most its kind's bytes, all of them at most `bytes`. */
export const STORE_LIMITS = {files: 20_000, nestedRuns: 1000, bytes: 64 << 20, metricFileBytes: 16 << 20, valueFileBytes: 64 << 10, modelHistoryBytes: 1 << 20} as const

/** MLflow's RunStatus numbers (mlflow/protos/service.proto), as meta.yaml keeps them. */
const RUN_STATUS: Record<string, string> = {1: 'RUNNING', 2: 'SCHEDULED', 3: 'FINISHED', 4: 'FAILED', 5: 'KILLED'}

/** The tag MLflow 2.x's log_model keeps its models' MLmodel in, as a JSON list (over a tag's length limit, often). */
const MODEL_HISTORY = 'mlflow.log-model.history'

/** Folders of an experiment that are not runs (file_store.py's RESERVED_EXPERIMENT_FOLDERS). */
const NOT_RUNS = new Set(['tags', 'datasets', 'traces'])

/** MLflow's rule for a run id: `_validate_run_id`. */
const ID = /^[A-Za-z0-9][\w-]{0,255}$/
/** The file store's experiment ids are whole numbers; its other top folders (.trash, models/ of the model registry) are not experiments. */
const EXPERIMENT = /^\d{1,40}$/

/** A YAML scalar in single quotes, as MLflow's safe_dump reads it back. */
function yamlText(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

/** The meta.yaml of the store's experiment 0: the project (named so, MLFLOW_EXPERIMENT_NAME finds it). */
export function experimentMeta(name: string, artifactLocation: string, now: number): string {
  return [`artifact_location: ${yamlText(artifactLocation)}`, `creation_time: ${now}`, `experiment_id: '${EXPERIMENT_ID}'`, `last_update_time: ${now}`, 'lifecycle_stage: active', `name: ${yamlText(name)}`, ''].join('\n')
}

/** The meta.yaml of the ml run in the store, RUNNING, its artifacts going to `artifactUri` (its folder in the store). */
export function runMeta(runId: string, artifactUri: string, start: number): string {
  return [
    `artifact_uri: ${yamlText(artifactUri)}`, 'deleted_time: null', 'end_time: null', "entry_point_name: ''", `experiment_id: '${EXPERIMENT_ID}'`,
    'lifecycle_stage: active', `run_id: ${runId}`, `run_name: ${runId}`, `run_uuid: ${runId}`, "source_name: ''", 'source_type: 4', "source_version: ''",
    `start_time: ${start}`, 'status: 1', 'tags: []', "user_id: ''", '',
  ].join('\n')
}

/** What a path of the store (relative, `/`-separated) is; null for what is none of MLflow's files. */
export function storeFile(file: string): {run: string; kind: 'meta' | 'param' | 'metric' | 'tag' | 'artifact'; key: string} | null {
  const [experiment, run, folder, ...rest] = file.split('/')
  if (!EXPERIMENT.test(experiment ?? '') || !ID.test(run ?? '') || NOT_RUNS.has(run)) return null
  if (folder === 'meta.yaml' && rest.length === 0) return {run: `${experiment}/${run}`, kind: 'meta', key: ''}
  const kind = ({params: 'param', metrics: 'metric', tags: 'tag', artifacts: 'artifact'} as const)[folder as 'params']
  return kind && rest.length > 0 ? {run: `${experiment}/${run}`, kind, key: rest.join('/')} : null
}

/** How many bytes of a store file are read: a metric's history is long, a value short. */
export function readLimit(kind: 'meta' | 'param' | 'metric' | 'tag', key: string): number {
  if (kind === 'metric') return STORE_LIMITS.metricFileBytes
  return kind === 'tag' && key === MODEL_HISTORY ? STORE_LIMITS.modelHistoryBytes : STORE_LIMITS.valueFileBytes
}

export interface StoreContent {
  /** Every file of the store (relative paths), as listed there; only MLflow's files are used. */
  files: string[]
  /** The text of those read (meta.yaml, params, metrics, tags), by path; `cut` when it was over its limit. */
  read: Map<string, {text: string; cut: boolean}>
}

export interface StoreLines {
  /** ML_METRICS_FILE lines, as the run's endpoint writes them. */
  lines: string[]
  /** The runs' artifacts: the store's file and the path it takes in the run's outputs (a nested run's under `<nested-id>/`). */
  artifacts: Array<{file: string; output: string}>
  warnings: string[]
}

interface StoreRun {
  meta?: string
  params: Map<string, string>
  metrics: Map<string, {text: string; cut: boolean}>
  tags: Map<string, string>
  artifacts: Array<{file: string; path: string}>
}

/**
 * What the ml run `runId` and the runs its script created in the store (nested runs, named
 * `<run-id>-nested-<n>` in the order they started, as the run's endpoint names them) logged,
 * as lines of ML_METRICS_FILE. Each key, value and path passes the endpoint's rules; one that
 * does not is left out and named in a warning, the rest kept. Deleted runs are left out.
 */
export function storeLines(runId: string, store: StoreContent): StoreLines {
  const warnings: string[] = []
  const refused = new Set<string>()
  const refuse = (what: string) => {
    if (refused.size < 20) warnings.push(`Left out of the MLflow file store: ${what}.`)
    refused.add(what)
  }
  const runs = new Map<string, StoreRun>()
  for (const file of store.files) {
    const place = storeFile(file)
    if (!place) continue
    const run = runs.get(place.run) ?? runs.set(place.run, {params: new Map(), metrics: new Map(), tags: new Map(), artifacts: []}).get(place.run)!
    if (place.kind === 'artifact') {
      const reason = unsafeReason(place.key)
      if (reason) refuse(`the artifact ${JSON.stringify(file.slice(0, 200))}, whose path ${reason}`)
      else run.artifacts.push({file, path: place.key})
      continue
    }
    const content = store.read.get(file)
    if (!content) continue
    if (place.kind !== 'meta' && keyProblem(place.key)) {
      refuse(`the ${place.kind} ${JSON.stringify(place.key.slice(0, 80))}, whose key ${keyProblem(place.key)}`)
      continue
    }
    if (place.kind === 'meta') run.meta = content.text
    else if (place.kind === 'metric') run.metrics.set(place.key, content)
    else if (content.cut) refuse(`the ${place.kind} ${place.key}, over ${readLimit(place.kind, place.key)} bytes`)
    else (place.kind === 'param' ? run.params : run.tags).set(place.key, content.text)
  }

  const ownKey = `${EXPERIMENT_ID}/${mlflowRunId(runId)}`
  const own = runs.get(ownKey)
  const others = [...runs.entries()].filter(([key, run]) => key !== ownKey && run.meta !== undefined && metaField(run.meta, 'lifecycle_stage') !== 'deleted')
    .map(([key, run]) => ({key, run, start: Number(metaField(run.meta!, 'start_time')) || 0}))
    .sort((a, b) => a.start - b.start || (a.key < b.key ? -1 : 1))
  if (others.length > STORE_LIMITS.nestedRuns) refuse(`${others.length - STORE_LIMITS.nestedRuns} nested runs over ${STORE_LIMITS.nestedRuns}`)

  const lines: string[] = []
  const nan = new Set<string>()
  const artifacts: StoreLines['artifacts'] = []
  const add = (make: () => Lines | string[], what: string) => {
    try {
      const made = make()
      const {lines: text, nan: nans} = Array.isArray(made) ? {lines: made, nan: []} : made
      lines.push(...text)
      for (const name of nans) nan.add(name)
    } catch (error) {
      if (!isMlError(error, 'INVALID_ARGUMENT')) throw error
      refuse(`${what}: ${error.message.replace(/\.$/, '')}`)
    }
  }
  const runLines = (run: StoreRun, nested: {run?: string}) => {
    for (const [key, value] of run.tags) {
      if (nested.run && key === 'mlflow.parentRunId') continue
      if (key === MODEL_HISTORY) add(() => [JSON.stringify({...nested, tag: key, value})], `the tag ${key}`)
      else add(() => tagLines([{key, value}], nested), `the tag ${key}`)
    }
    if (nested.run) {
      if (!run.tags.has('mlflow.runName')) lines.push(JSON.stringify({...nested, tag: 'mlflow.runName', value: nested.run}))
      lines.push(JSON.stringify({...nested, tag: 'mlflow.parentRunId', value: mlflowRunId(runId)}))
    }
    for (const [key, value] of run.params) add(() => paramLines([{key, value}], nested), `the param ${key}`)
    // In the order they were logged, as the endpoint would have written them.
    const points: Array<{key: string; value: string; timestamp: string; step: string}> = []
    for (const [key, {text, cut}] of run.metrics) {
      if (cut) refuse(`the points of metric ${key} after its first ${STORE_LIMITS.metricFileBytes} bytes`)
      const found = text.split('\n')
      if (cut) found.pop()
      for (const line of found) {
        if (!line.trim()) continue
        const [timestamp, value, step = '0', ...more] = line.trim().split(' ')
        if (more.length > 0 || value === undefined) refuse(`a line of metric ${key} that is not "timestamp value step": ${JSON.stringify(line.slice(0, 80))}`)
        else points.push({key, value: pythonFloat(value), timestamp, step})
      }
    }
    points.sort((a, b) => Number(a.timestamp) - Number(b.timestamp))
    for (const point of points) add(() => metricLines([point], nested, 0), `a point of metric ${point.key}`)
    const status = RUN_STATUS[metaField(run.meta ?? '', 'status') ?? '']
    if (status) lines.push(...statusLines(status, nested))
  }
  if (own) {
    runLines(own, {})
    for (const artifact of own.artifacts) artifacts.push({file: artifact.file, output: artifact.path})
  }
  for (const [i, {run}] of others.slice(0, STORE_LIMITS.nestedRuns).entries()) {
    const id = `${runId}-nested-${i + 1}`
    runLines(run, {run: id})
    for (const artifact of run.artifacts) artifacts.push({file: artifact.file, output: `${id}/${artifact.path}`})
  }
  for (const name of nan) warnings.push(`MLflow metric "${name}" was logged as NaN: accepted, as MLflow does, but not recorded (a run's metrics are numbers).`)
  if (refused.size > 20) warnings.push(`... and ${refused.size - 20} more left out of the MLflow file store.`)
  return {lines, artifacts, warnings}
}

/** A plain `key: value` of MLflow's meta.yaml (its numbers and plain words: status, start_time, lifecycle_stage). */
function metaField(meta: string, key: string): string | undefined {
  return new RegExp(`^${key}: *([\\w.-]+) *$`, 'm').exec(meta)?.[1]
}

/** Python's repr of a float (`nan`, `inf`, `1e-05`) as the JSON texts metricValue reads. */
function pythonFloat(text: string): string {
  const lower = text.toLowerCase()
  if (/^[-+]?nan$/.test(lower)) return 'NaN'
  if (/^[-+]?inf(inity)?$/.test(lower)) return lower.startsWith('-') ? '-Infinity' : 'Infinity'
  return text
}
