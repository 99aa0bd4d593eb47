import type {ListedRun} from '../core/history.js'
import type {RunRecord} from '../core/runs.js'
import {type Column, formatDuration, formatTime, shortId} from './output.js'

/** The columns of `ml history list`; PUSHED only for a project with a remote. */
export function runColumns(runs: ListedRun[]): Column<ListedRun>[] {
  const pushed = runs.some((r) => r.pushed !== undefined)
  return pushed ? [...RUN_COLUMNS, {header: 'PUSHED', value: (r) => (r.pushed ? 'yes' : 'no')}] : RUN_COLUMNS
}

const RUN_COLUMNS: Column<ListedRun>[] = [
  {header: 'RUN ID', value: (r) => r.runId},
  {header: 'STATUS', value: (r) => r.status},
  {header: 'STARTED', value: (r) => formatTime(r.startTimeUtc)},
  {header: 'DURATION', value: (r) => formatDuration(r.durationMs)},
  {header: 'SCRIPT', value: (r) => [r.script, ...r.arguments].join(' ')},
  {header: 'SNAPSHOT', value: (r) => shortId(r.snapshotId)},
  {header: 'GIT COMMIT', value: (r) => shortId(r.properties['azureml.git.commit'])},
  {header: 'DIRTY', value: (r) => r.properties['azureml.git.dirty'] ?? ''},
]

export interface Field {
  name: string
  value: string
}

/** A run as name/value rows, for `ml history info`: its fields, then every property. */
export function runFields(run: RunRecord): Field[] {
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
  ]
  for (const [name, value] of Object.entries(run.properties)) fields.push({name, value})
  return fields.filter((f) => f.value !== '')
}

export const FIELD_COLUMNS: Column<Field>[] = [
  {header: 'NAME', value: (f) => f.name},
  {header: 'VALUE', value: (f) => f.value},
]
