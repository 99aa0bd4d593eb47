import type {Comparison, ListedRun, RunDiff} from '../core/runs/history.js'
import type {ProjectFile} from '../core/snapshot/files.js'
import type {MetricPoint} from '../core/runs/metrics.js'
import type {Backup} from '../core/restore/restore.js'
import type {RunRecord} from '../core/runs/runs.js'
import {escapeControl} from './escape-control.js'
import {formatBytes} from '../shared/format-bytes.js'
import {plural} from '../shared/plural.js'
import type {Lineage} from '../core/runs/data-history.js'
import {type ParamValue, paramText} from '../core/runs/params.js'
import {type Column, extent, formatDuration, formatNumber, formatTime, shortId, sparkline} from './output.js'

const RUN_COLUMNS: Column<ListedRun>[] = [
  {header: 'RUN ID', value: (r) => r.runId, keep: true},
  {header: 'STATUS', value: (r) => r.status},
  {header: 'STARTED', value: (r) => formatTime(r.startTimeUtc)},
  {header: 'DURATION', value: (r) => formatDuration(r.durationMs)},
  {header: 'SCRIPT', value: (r) => [r.script, ...r.arguments].join(' ')},
  {header: 'SNAPSHOT', value: (r) => shortId(r.snapshotId)},
  {header: 'GIT COMMIT', value: (r) => shortId(r.properties['azureml.git.commit'])},
  {header: 'DIRTY', value: (r) => r.properties['azureml.git.dirty'] ?? ''},
]

/**
 * The columns of `ml history list`: the run's fields, one per parameter, one per metric (last
 * value), and PUSHED for a project with a remote.
 */
export function runColumns(runs: ListedRun[]): Column<ListedRun>[] {
  const params = [...new Set(runs.flatMap((r) => Object.keys(r.params ?? {})))]
  const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.metrics ?? {})))]
  const columns = [
    ...RUN_COLUMNS,
    ...params.map((name) => ({header: name.toUpperCase(), value: (r: ListedRun) => paramCell(r, name)})),
    ...metrics.map((name) => ({header: name.toUpperCase(), value: (r: ListedRun) => formatNumber(r.metrics?.[name])})),
  ]
  if (runs.some((r) => r.pushed !== undefined)) columns.push({header: 'PUSHED', value: (r) => (r.pushed ? 'yes' : 'no')})
  return columns
}

export interface Field {
  name: string
  value: string
}

/** A run's parameter as a cell: empty when the run has none of that name. */
function paramCell(run: RunRecord, name: string): string {
  const params = run.params ?? {}
  return Object.hasOwn(params, name) ? paramText(params[name]) : ''
}

/** A run as name/value rows, for `ml history info`: its fields, environment, parameters, metrics, then every property. */
export function runFields(run: RunRecord, environment?: string, lineage?: Lineage): Field[] {
  const fields: Field[] = [
    {name: 'Run id', value: run.runId},
    {name: 'Status', value: run.status},
    {name: 'Script', value: [run.script, ...run.arguments].join(' ')},
    {name: 'Compute', value: run.compute},
    {name: 'Started', value: formatTime(run.startTimeUtc)},
    {name: 'Ended', value: formatTime(run.endTimeUtc)},
    {name: 'Duration', value: formatDuration(run.durationMs)},
    {name: 'Exit code', value: run.exitCode === undefined ? '' : String(run.exitCode)},
    {name: 'Error', value: run.error ?? ''},
    {name: 'Snapshot', value: run.snapshotId},
    {name: 'Host', value: run.host},
    {name: 'Outputs', value: run.outputs.map((o) => o.path).join(', ')},
    {name: 'Sweep', value: run.sweepId ?? ''},
    {name: 'Queued', value: formatTime(run.queuedTimeUtc)},
    {name: 'Isolated', value: run.isolated ? 'yes' : ''},
    {name: 'Environment', value: environment ?? ''},
  ]
  for (const input of run.inputs ?? []) {
    fields.push(input.kind === 'data'
      ? {name: `Input ${input.path}`, value: `version ${input.version.slice(0, 12)} (${plural(input.files, 'file')}, ${formatBytes(input.bytes)})`}
      : {name: `Input ${input.name}`, value: `${input.run}:outputs/${input.path} (${formatBytes(input.size)}, sha256 ${input.sha256.slice(0, 12)})`})
  }
  for (const child of lineage?.children ?? []) fields.push({name: 'Used by', value: `${child.run} (as ${child.name}: outputs/${child.path})`})
  for (const name of Object.keys(run.params ?? {})) fields.push({name: `Param ${name}`, value: paramCell(run, name)})
  for (const [name, value] of Object.entries(run.metrics ?? {})) fields.push({name: `Metric ${name}`, value: formatNumber(value)})
  for (const [name, value] of Object.entries(run.properties)) fields.push({name, value})
  return fields.filter((f) => f.value !== '')
}

export const FIELD_COLUMNS: Column<Field>[] = [
  {header: 'NAME', value: (f) => f.name},
  {header: 'VALUE', value: (f) => f.value, keep: true},
]

type Row = {field: string; values: string[]}

/**
 * `ml history compare`: one row per field, parameter and metric, one column per run; a
 * parameter whose value differs between the runs is marked with `≠`, the best value of each
 * metric with a `*`.
 */
export function comparisonTable(comparison: Comparison): {rows: Row[]; columns: Column<Row>[]} {
  const {runs, best, params} = comparison
  const rows: Row[] = [
    {field: 'Status', values: runs.map((r) => r.status)},
    {field: 'Duration', values: runs.map((r) => formatDuration(r.durationMs))},
    {field: 'Script', values: runs.map((r) => [r.script, ...r.arguments].join(' '))},
    {field: 'Git commit', values: runs.map((r) => shortId(r.properties['azureml.git.commit']))},
    {field: 'Dirty', values: runs.map((r) => r.properties['azureml.git.dirty'] ?? '')},
    {field: 'Snapshot', values: runs.map((r) => shortId(r.snapshotId))},
  ]
  for (const {name, differs} of params) rows.push({field: `${differs ? '≠ ' : ''}param ${name}`, values: runs.map((r) => paramCell(r, name))})
  for (const name of Object.keys(best)) {
    rows.push({field: name, values: runs.map((r) => {
      const value = r.metrics?.[name]
      return value === undefined ? '' : `${formatNumber(value)}${best[name] === r.runId ? ' *' : ''}`
    })})
  }
  const columns: Column<Row>[] = [{header: 'FIELD', value: (r) => r.field}, ...runs.map((run, i) => ({header: run.runId, value: (r: Row) => r.values[i], keep: true}))]
  return {rows, columns}
}

type StepRow = {step: string; values: Map<string, number>}

/** `ml history metrics`: values by step, one column per metric. */
export function metricsTable(points: MetricPoint[]): {rows: StepRow[]; columns: Column<StepRow>[]} {
  const names = [...new Set(points.map((p) => p.name))]
  const byStep = new Map<string, StepRow>()
  const seen = new Map<string, number>()
  for (const p of points) {
    const index = seen.get(p.name) ?? 0
    seen.set(p.name, index + 1)
    const step = String(p.step ?? index)
    if (!byStep.has(step)) byStep.set(step, {step, values: new Map()})
    byStep.get(step)!.values.set(p.name, p.value)
  }
  const rows = [...byStep.values()].sort((a, b) => Number(a.step) - Number(b.step))
  const columns: Column<StepRow>[] = [{header: 'STEP', value: (r) => r.step}, ...names.map((name) => ({header: name.toUpperCase(), value: (r: StepRow) => formatNumber(r.values.get(name))}))]
  return {rows, columns}
}

/** One line per metric: its last value, range and a sparkline of all its values. */
export function metricSummaries(points: MetricPoint[]): string {
  const names = [...new Set(points.map((p) => p.name))]
  const width = extent(names.map((n) => n.length)).max
  return names.map((name) => {
    const values = points.filter((p) => p.name === name).map((p) => p.value)
    const {min, max} = extent(values)
    const range = values.length > 1 ? `  (${formatNumber(min)} .. ${formatNumber(max)})` : ''
    return `${escapeControl(name.padEnd(width))}  ${sparkline(values)}  last ${formatNumber(values.at(-1))}${range}\n`
  }).join('')
}

/** The parameters and the environment that changed, then `git diff --stat`-like lines (or the patch), then the change of each metric. */
export function diffSummary(diff: RunDiff, stat: boolean): string {
  let out = ''
  if (diff.params.length > 0) {
    out += `Parameters, ${diff.a.runId} -> ${diff.b.runId}:\n`
    const width = extent(diff.params.map((p) => p.name.length)).max
    for (const p of diff.params) {
      const show = (value: ParamValue | undefined) => (value === undefined ? '-' : escapeControl(paramText(value)))
      out += `  ${escapeControl(p.name.padEnd(width))}  ${show(p.before)} -> ${show(p.after)}\n`
    }
  }
  if (diff.environment.length > 0) {
    out += `Environment, ${diff.a.runId} -> ${diff.b.runId}:\n${diff.environment.map((line) => `  ${escapeControl(line)}\n`).join('')}`
  }
  for (const input of diff.inputs) {
    const version = (v?: string) => (v ? v.slice(0, 12) : '(none)')
    out += `Data ${escapeControl(input.path)}, version ${version(input.from)} -> ${version(input.to)}:\n`
    const shown = [...input.added.map((p) => `A ${p}`), ...input.changed.map((p) => `M ${p}`), ...input.removed.map((p) => `D ${p}`)]
    out += shown.slice(0, 50).map((line) => `  ${escapeControl(line)}\n`).join('')
    if (shown.length > 50) out += `  ... and ${shown.length - 50} more\n`
  }
  if (out) out += '\n'
  if (stat) {
    const width = extent([0, ...diff.files.map((f) => f.path.length)]).max
    for (const f of diff.files) out += ` ${escapeControl(f.path.padEnd(width))} | ${f.binary ? 'Bin' : `${f.additions + f.deletions} ${'+'.repeat(Math.min(f.additions, 40))}${'-'.repeat(Math.min(f.deletions, 40))}`}\n`
    const adds = diff.files.reduce((n, f) => n + f.additions, 0)
    const dels = diff.files.reduce((n, f) => n + f.deletions, 0)
    out += ` ${diff.files.length} files changed, ${adds} insertions(+), ${dels} deletions(-)\n`
  } else {
    out += diff.patch
  }
  if (diff.metrics.length > 0) {
    const width = extent([6, ...diff.metrics.map((m) => m.name.length)]).max
    out += `\nMetrics, ${diff.a.runId} -> ${diff.b.runId}:\n`
    for (const m of diff.metrics) {
      const change = m.change === undefined ? '' : `  (${m.change >= 0 ? '+' : ''}${formatNumber(m.change)})`
      out += `  ${escapeControl(m.name.padEnd(width))}  ${formatNumber(m.a) || '-'} -> ${formatNumber(m.b) || '-'}${change}\n`
    }
  }
  return out
}

/** `ml history list --backups`. */
export const BACKUP_COLUMNS: Column<Backup>[] = [
  {header: 'BACKUP', value: (b) => b.id},
  {header: 'TAKEN', value: (b) => formatTime(b.time)},
  {header: 'BEFORE RESTORING', value: (b) => b.before},
  {header: 'SNAPSHOT', value: (b) => shortId(b.commit)},
]

/** `ml project files` (the last two columns with --explain). */
export const FILE_COLUMNS: Column<ProjectFile>[] = [
  {header: 'PATH', value: (f) => f.path},
  {header: 'SIZE', value: (f) => (f.size === undefined ? '' : String(f.size))},
  {header: 'SNAPSHOT', value: (f) => (f.included ? 'yes' : 'no')},
  {header: 'RULE', value: (f) => f.rule ?? ''},
]
