import {isTrackingLine, lastValues, parseMetrics} from './metrics.js'
import {paramsFromLog, type Params} from './params.js'

/** The property holding the status an MLflow script set (`end_run(status=...)`); the run's own status is what ml saw. */
const SCRIPT_STATUS_PROPERTY = 'ml.mlflow.status'
/** A nested MLflow run is kept in its parent's record, as the JSON of a NestedRun under this prefix and its id. */
const NESTED_RUN_PROPERTY = 'ml.mlflow.nested.'

/** What a nested run (`start_run(nested=True)`) logged: its last metric values, parameters, tags and the status it set. */
interface NestedRun {
  params: Params
  metrics: Record<string, number>
  tags: Record<string, string>
  status?: string
}

/**
 * The tags, script status and nested runs in the lines an MLflow endpoint appended to
 * ML_METRICS_FILE (see isTrackingLine), as record properties: a tag under its own name (a
 * `"value": null` line deletes it), the status under SCRIPT_STATUS_PROPERTY, each nested run
 * under NESTED_RUN_PROPERTY + its id. Malformed lines are skipped with a warning.
 */
export function trackingFromLog(text: string): {properties: Record<string, string>; warnings: string[]} {
  const own: Tracked = {tags: new Map(), lines: []}
  const nested = new Map<string, Tracked>()
  const warnings: string[] = []
  text.split('\n').forEach((line, i) => {
    let parsed: unknown
    try {
      parsed = line.trim() ? JSON.parse(line) : undefined
    } catch {
      return // parseMetrics warns about it
    }
    if (!isTrackingLine(parsed)) return
    const fields = parsed as Record<string, unknown>
    const {run, tag, value, status} = fields
    if (run !== undefined && typeof run !== 'string') return void warnings.push(`metrics line ${i + 1} names a nested run that is not a string and was skipped: ${line.slice(0, 80)}`)
    const target = run === undefined ? own : nested.get(run) ?? nested.set(run, {tags: new Map(), lines: []}).get(run)!
    if (typeof tag === 'string' && tag && (typeof value === 'string' || value === null)) target.tags.set(tag, value)
    else if (typeof status === 'string' && tag === undefined) target.status = status
    else if (run !== undefined && tag === undefined && status === undefined) target.lines.push(JSON.stringify({...fields, run: undefined}))
    else warnings.push(`metrics line ${i + 1} needs {"tag": string, "value": string or null} or {"status": string} and was skipped: ${line.slice(0, 80)}`)
  })
  const properties = tagProperties(own.tags)
  if (own.status) properties[SCRIPT_STATUS_PROPERTY] = own.status
  for (const [id, child] of nested) {
    const lines = child.lines.join('\n')
    const summary: NestedRun = {params: paramsFromLog(lines).params, metrics: lastValues(parseMetrics(lines).points), tags: tagProperties(child.tags), ...(child.status && {status: child.status})}
    properties[NESTED_RUN_PROPERTY + id] = JSON.stringify(summary)
  }
  return {properties, warnings}
}

interface Tracked {
  tags: Map<string, string | null>
  status?: string
  /** A nested run's metric and param lines, without its id, to be read as a run's own. */
  lines: string[]
}

function tagProperties(tags: Map<string, string | null>): Record<string, string> {
  return Object.fromEntries([...tags].filter((entry): entry is [string, string] => entry[1] !== null))
}
