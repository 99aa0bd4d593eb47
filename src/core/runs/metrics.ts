import {isParamLine} from './params.js'

/** One logged value of a metric: a line `{"name", "value", "step"}` of ML_METRICS_FILE (`timestamp`, in ms, when MLflow logged it). */
export interface MetricPoint {
  name: string
  value: number
  step: number | null
  timestamp?: number
}

export const METRICS_FILE = 'metrics.jsonl'

/**
 * Parses the lines a run appended to ML_METRICS_FILE. A line that is not a JSON object with a
 * string name and a finite number value is skipped with a warning naming its line number. A
 * param line (`{"param", "value"}`, run_logger's log_param) is skipped without one: it is
 * paramsFromLog's, which warns about it if it is malformed.
 */
export function parseMetrics(text: string): {points: MetricPoint[]; warnings: string[]} {
  const points: MetricPoint[] = []
  const warnings: string[] = []
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      warnings.push(`metrics line ${i + 1} is not JSON and was skipped: ${line.slice(0, 80)}`)
      return
    }
    if (isParamLine(parsed) || isTrackingLine(parsed)) return
    const {name, value, step, timestamp} = (parsed ?? {}) as Record<string, unknown>
    if (typeof name !== 'string' || !name || typeof value !== 'number' || !Number.isFinite(value) || (step != null && typeof step !== 'number') || (timestamp !== undefined && typeof timestamp !== 'number')) {
      warnings.push(`metrics line ${i + 1} needs {"name": string, "value": number, "step": number or null} and was skipped: ${line.slice(0, 80)}`)
      return
    }
    points.push({name, value, step: step == null ? null : step, ...(timestamp !== undefined && {timestamp})})
  })
  return {points, warnings}
}

/**
 * Whether a parsed line is one of the MLflow endpoint's own (tracking/run-endpoint.ts): a tag
 * `{"tag", "value"}`, the status the script set `{"status"}`, or any line of a nested run
 * (`"run": id`). runs/tracking-log.ts reads them; metrics and parameters leave them alone.
 */
export function isTrackingLine(parsed: unknown): boolean {
  return typeof parsed === 'object' && parsed !== null && ('tag' in parsed || 'status' in parsed || 'run' in parsed)
}

export function formatMetrics(points: MetricPoint[]): string {
  return points.map((p) => `${JSON.stringify(p)}\n`).join('')
}

/** The last value logged for each metric, in the order the metrics first appeared. */
export function lastValues(points: MetricPoint[]): Record<string, number> {
  const last: Record<string, number> = {}
  for (const p of points) last[p.name] = p.value
  return last
}

/** Whether a smaller value of this metric is better (losses and errors), else a larger one is. */
export function lowerIsBetter(name: string): boolean {
  return /loss|err|mse|mae|rmse|perplexity|time|latency|cost/i.test(name)
}
