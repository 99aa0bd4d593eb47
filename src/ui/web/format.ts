import type {ParamValue, RunRecord} from './api.js'

const pad = (n: number) => String(n).padStart(2, '0')

/** A UTC time as local `YYYY-MM-DD HH:MM:SS`; blank when there is none. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return ''
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const s = Math.round(ms / 1000)
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`
  return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`
}

/** How long a run took, or has been going for. */
export function runDuration(run: RunRecord, now = Date.now()): number | undefined {
  if (run.durationMs !== undefined) return run.durationMs
  const start = Date.parse(run.startTimeUtc)
  if (Number.isNaN(start)) return undefined
  if (run.endTimeUtc) return Date.parse(run.endTimeUtc) - start
  return run.status === 'Running' ? Math.max(0, now - start) : undefined
}

export function formatNumber(v: number | undefined | null): string {
  if (v === undefined || v === null) return ''
  if (!Number.isFinite(v)) return String(v)
  if (Number.isInteger(v)) return String(v)
  return String(Number(v.toPrecision(6)))
}

export function formatValue(v: ParamValue | undefined): string {
  if (v === undefined) return ''
  if (v === null) return 'null'
  if (typeof v === 'number') return formatNumber(v)
  return String(v)
}

export {formatBytes} from '../../shared/format-bytes.js'
export {plural} from '../../shared/plural.js'

export function commandLine(run: RunRecord): string {
  return [run.script, ...run.arguments.map(quoteArg)].join(' ')
}

function quoteArg(a: string): string {
  return a === '' || /[\s"'\\$`]/.test(a) ? JSON.stringify(a) : a
}

export const GIT_COMMIT = 'azureml.git.commit'
export const GIT_BRANCH = 'azureml.git.branch'
export const GIT_DIRTY = 'azureml.git.dirty'

/** Distinct colours for overlaid series, then evenly spread hues. */
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22']
export function seriesColor(i: number): string {
  return i < PALETTE.length ? PALETTE[i] : `hsl(${Math.round((i * 137.508) % 360)} 65% 45%)`
}

/** As ml decides which run is best (core/runs/metrics.ts): a loss, an error, a time is better lower. */
export function lowerIsBetter(name: string): boolean {
  return /loss|err|mse|mae|rmse|perplexity|time|latency|cost/i.test(name)
}
