import {MlError} from '../../shared/errors.js'
import {paramValue} from '../runs/params.js'

/**
 * What one request of MLflow's write API may carry. The batch limits and the value lengths are
 * MLflow's own (2.x and 3.x); a key is at most 200 characters, ml's limit for a parameter's
 * name in run.json (MLflow's is 250).
 */
export const MLFLOW_LIMITS = {metrics: 1000, params: 100, tags: 100, keyChars: 200, paramValueChars: 6000, tagValueChars: 8000} as const

/** The statuses a script may end its MLflow run with (`end_run(status=...)`). */
const TERMINAL = new Set(['FINISHED', 'FAILED', 'KILLED'])

/** A line of ML_METRICS_FILE and, for a NaN metric that no JSON line can hold, its name instead. */
export interface Lines {
  lines: string[]
  /** Metrics whose NaN value was accepted, as MLflow does, but not written (JSON has no NaN). */
  nan: string[]
}

function invalid(message: string): MlError {
  return new MlError('INVALID_ARGUMENT', message)
}

/**
 * Why `key` cannot name a metric, parameter or tag, or null. MLflow's rule: letters, digits,
 * `_ - . : /` and spaces, and a name that stays itself as a path (no empty, `.` or `..` part,
 * not absolute), so `train/loss` is fine and `../x`, `a//b` or a control character are not.
 */
export function keyProblem(key: unknown): string | null {
  if (typeof key !== 'string' || key === '') return 'is missing or empty'
  if (key.length > MLFLOW_LIMITS.keyChars) return `is longer than ${MLFLOW_LIMITS.keyChars} characters`
  if (!/^[\p{L}\p{N}_.\-:/ ]+$/u.test(key)) return 'may hold only letters, digits, spaces and _ - . : /'
  if (key.startsWith('..') || key.split('/').some((part) => part === '' || part === '.' || part === '..')) return 'must not have an empty, "." or ".." part'
  return null
}

function checkedKey(kind: string, key: unknown): string {
  const problem = keyProblem(key)
  if (problem) throw invalid(`The ${kind} key ${JSON.stringify(key)?.slice(0, 80)} ${problem}; rename it.`)
  return key as string
}

function text(kind: string, value: unknown, max: number): string {
  if (typeof value !== 'string') throw invalid(`The ${kind} value must be a string; send it as MLflow's client does (str(value)).`)
  if (value.length > max) throw invalid(`The ${kind} value is ${value.length} characters, over MLflow's limit of ${max}; log a shorter value or an artifact.`)
  return value
}

/** An int64 of MLflow's JSON: a number or its decimal text, as protobuf writes it. */
function integer(kind: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw invalid(`The metric ${kind} ${JSON.stringify(value)} is not a whole number; send a whole number.`)
  return n
}

/**
 * A metric's value: a number, or protobuf's JSON texts of a double ("NaN", "Infinity",
 * "-Infinity", digits). Infinities become the largest finite doubles, as MLflow's own SQL store
 * keeps them, so that run.json can hold them.
 */
export function metricValue(value: unknown): number {
  const n = typeof value === 'string' && /^(NaN|-?Infinity|[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)$/.test(value) ? Number(value) : value
  if (typeof n !== 'number') throw invalid(`The metric value ${JSON.stringify(value)?.slice(0, 80)} is not a number; log a number.`)
  return n === Infinity ? Number.MAX_VALUE : n === -Infinity ? -Number.MAX_VALUE : n
}

/** `run` is the id of a nested run (lines in its parent's file), undefined for the run itself. */
type Nested = {run?: string}

export function metricLines(metrics: unknown[], nested: Nested, now: number): Lines {
  const out: Lines = {lines: [], nan: []}
  for (const metric of metrics) {
    const {key, value, timestamp, step} = (metric ?? {}) as Record<string, unknown>
    const name = checkedKey('metric', key)
    const v = metricValue(value)
    const point = {...nested, name, value: v, step: integer('step', step, 0), timestamp: integer('timestamp', timestamp, now)}
    if (Number.isNaN(v)) out.nan.push(name)
    else out.lines.push(JSON.stringify(point))
  }
  return out
}

/** `{key, value}` entries as [key, value], each key checked by keyProblem and each value a text of at most `max` characters. */
export function keyValues(kind: string, items: unknown[], max: number): Array<[string, string]> {
  return items.map((item) => {
    const {key, value} = (item ?? {}) as Record<string, unknown>
    return [checkedKey(kind, key), text(kind, value, max)]
  })
}

/** Parameters, typed as ml types a value of the command line (`0.1` a number), as `{"param", "value"}` lines. */
export function paramLines(params: unknown[], nested: Nested): string[] {
  return keyValues('param', params, MLFLOW_LIMITS.paramValueChars).map(([param, value]) => JSON.stringify({...nested, param, value: paramValue(value)}))
}

/** Tags as `{"tag", "value"}` lines; `deleted` makes them `"value": null`, which removes the tag. */
export function tagLines(tags: unknown[], nested: Nested, deleted = false): string[] {
  if (deleted) return tags.map((tag) => JSON.stringify({...nested, tag: checkedKey('tag', ((tag ?? {}) as Record<string, unknown>).key), value: null}))
  return keyValues('tag', tags, MLFLOW_LIMITS.tagValueChars).map(([tag, value]) => JSON.stringify({...nested, tag, value}))
}

/** The list `field` of a request, of at most MLFLOW_LIMITS[field] entries (MLflow's batch limits). */
export function list(body: Record<string, unknown>, field: 'metrics' | 'params' | 'tags'): unknown[] {
  const items = body[field] ?? []
  if (!Array.isArray(items)) throw invalid(`"${field}" must be a list; send ${field} as a JSON array.`)
  if (items.length > MLFLOW_LIMITS[field]) throw invalid(`A batch holds at most ${MLFLOW_LIMITS[field]} ${field}, not ${items.length}; log them in several batches.`)
  return items
}

/** runs/log-batch: every entry is checked before any line is written, so a bad batch writes nothing. */
export function batchLines(body: Record<string, unknown>, nested: Nested, now: number): Lines {
  const metrics = metricLines(list(body, 'metrics'), nested, now)
  return {lines: [...paramLines(list(body, 'params'), nested), ...metrics.lines, ...tagLines(list(body, 'tags'), nested)], nan: metrics.nan}
}

/** runs/update: a terminal status becomes a `{"status"}` line; RUNNING (what start_run sends) writes nothing. */
export function statusLines(status: unknown, nested: Nested): string[] {
  if (status === undefined || status === 'RUNNING' || status === 'SCHEDULED') return []
  if (typeof status !== 'string' || !TERMINAL.has(status)) throw invalid(`The run status ${JSON.stringify(status)} is not one of MLflow's (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED).`)
  return [JSON.stringify({...nested, status})]
}
