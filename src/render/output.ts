import Table from 'cli-table3'

export const OUTPUT_FORMATS = ['table', 'json', 'tsv'] as const
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]

/** A column of a listing: its header and how to get a row's cell. */
export interface Column<T> {
  header: string
  value: (row: T) => string
}

/**
 * Renders rows in the Azure CLI's styles: `table` (aligned columns under a dashed header line),
 * `tsv` (no header, tab-separated, for scripts) or `json` (`data` as it is).
 */
export function render<T>(format: OutputFormat, rows: T[], columns: Column<T>[], data: unknown = rows): string {
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`
  const cells = rows.map((row) => columns.map((c) => c.value(row)))
  if (format === 'tsv') return cells.map((r) => `${r.map((c) => c.replace(/[\t\n]/g, ' ')).join('\t')}\n`).join('')
  const headers = columns.map((c) => c.header)
  const table = new Table({
    head: headers,
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
      bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
    },
    style: {head: [], border: [], 'padding-left': 0, 'padding-right': 0},
  })
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)))
  table.push(widths.map((w) => '-'.repeat(w)), ...cells)
  return `${table.toString().split('\n').map((l) => l.trimEnd()).join('\n')}\n`
}

/** `1h 02m`, `3m 07s`, `12.3s`: short and readable. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return ''
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const s = Math.round(ms / 1000)
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** An ISO time as local `YYYY-MM-DD HH:MM:SS`. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return ''
  const d = new Date(iso)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

export function shortId(id: string | undefined): string {
  return id ? id.slice(0, 8) : ''
}
