import type {Command} from '@oclif/core/command'
import type {DataGcResult} from '../core/remote/data-gc.js'
import type {DataLogEntry, DataStatus} from '../core/runs/data-history.js'
import {formatBytes} from '../shared/format-bytes.js'
import {plural} from '../shared/plural.js'
import {escapeControl} from './escape-control.js'
import {type Column, formatTime} from './output.js'

/** A data version's id as tables show it: long enough to tell versions apart, short enough to read. */
const versionCell = (id: string | undefined) => (id ? id.slice(0, 12) : '')

/** `ml data status`. */
export const DATA_STATUS_COLUMNS: Column<DataStatus>[] = [
  {header: 'PATH', value: (s) => s.path, keep: true},
  {header: 'VERSION', value: (s) => versionCell(s.version)},
  {header: 'FILES', value: (s) => String(s.files)},
  {header: 'SIZE', value: (s) => formatBytes(s.bytes)},
  {header: 'SINCE LAST RUN', value: (s) => (s.state === 'new' ? 'no run read it yet' : s.state === 'unchanged' ? 'unchanged' : `+${s.added.length} ~${s.changed.length} -${s.removed.length} (${formatBytes(s.bytesAdded)} in, ${formatBytes(s.bytesRemoved)} out)`)},
  {header: 'LAST RUN', value: (s) => s.lastRun ?? ''},
]

/** The files that changed, under the table: at most 20 per path. */
export function dataStatusDetails(status: DataStatus[]): string {
  let out = ''
  for (const s of status) {
    if (s.state !== 'changed') continue
    const lines = [...s.added.map((p) => `added:    ${p}`), ...s.changed.map((p) => `changed:  ${p}`), ...s.removed.map((p) => `removed:  ${p}`)]
    out += `\n${escapeControl(s.path)} since ${s.lastRun}:\n${lines.slice(0, 20).map((l) => `  ${escapeControl(l)}\n`).join('')}`
    if (lines.length > 20) out += `  ... and ${lines.length - 20} more (-o json lists them all)\n`
  }
  return out
}

/** `ml data log`. */
export const DATA_LOG_COLUMNS: Column<DataLogEntry>[] = [
  {header: 'PATH', value: (e) => e.path},
  {header: 'VERSION', value: (e) => versionCell(e.version), keep: true},
  {header: 'FILES', value: (e) => String(e.files)},
  {header: 'SIZE', value: (e) => formatBytes(e.bytes)},
  {header: 'FIRST READ', value: (e) => formatTime(e.firstUsed)},
  {header: 'RUNS', value: (e) => `${e.runs.length}: ${e.runs.slice(0, 3).join(', ')}${e.runs.length > 3 ? ', ...' : ''}`},
]

/** `ml data gc`: what went (or would), what stays, and why what stays over the limit stays. */
export function reportDataGc(command: Command, gc: DataGcResult, dryRun: boolean): void {
  const size = (count: number, bytes: number) => `${plural(count, 'object')} (${formatBytes(bytes)})`
  if (gc.removed === 0) {
    command.log(`The object cache ${gc.cache} holds ${size(gc.kept, gc.bytesKept)}; nothing to remove.`)
  } else {
    const why = [
      gc.unneeded > 0 && `${size(gc.unneeded, gc.bytesUnneeded)} that no run or backup names`,
      gc.removed > gc.unneeded && `${size(gc.removed - gc.unneeded, gc.bytesRemoved - gc.bytesUnneeded)} that the store ${gc.store} holds`,
    ].filter(Boolean).join(' and ')
    command.log(`${dryRun ? 'Would remove' : 'Removed'} ${why}; ${size(gc.kept, gc.bytesKept)} ${dryRun ? 'would stay' : 'stay'}.`)
  }
  if (gc.notInStore > 0) {
    command.logToStderr(gc.store
      ? `${size(gc.notInStore, gc.bytesNotInStore)} stay over the limit because the store lacks them; \`ml data push\` sends what runs need.`
      : `${size(gc.notInStore, gc.bytesNotInStore)} stay over the limit: the project has no artifact store, so the cache may hold their only copy; set one with \`ml project update --store URL\`.`)
  }
  if (gc.shared) command.logToStderr(`The cache is shared (ML_DATA_CACHE): what no run of this project names may be another project's, so only what the store holds was removed.`)
}
