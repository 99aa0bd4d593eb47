import type TableModule from 'cli-table3'
import type JmespathModule from 'jmespath'
import {createRequire} from 'node:module'
import type YamlModule from 'yaml'
import {MlError} from '../core/errors.js'
import {escapeControl, escapeJson, escapeYaml} from './escape-control.js'

export const OUTPUT_FORMATS = ['table', 'json', 'jsonc', 'tsv', 'yaml', 'none'] as const
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]

/** A column of a listing: its header and how to get a row's cell. */
export interface Column<T> {
  header: string
  value: (row: T) => string
}

export interface RenderOptions<T> {
  /** The table's columns for `rows`; without a query, table and tsv show these. */
  columns?: Column<T>[]
  /** A JMESPath expression applied to the JSON data before formatting, as `az --query` does. */
  query?: string
  /** The terminal's width, to fit tables into (none when not a terminal). */
  width?: number
  /** Colour for jsonc (never when NO_COLOR is set or the output is not a terminal). */
  color?: boolean
}

/** Each formatter is loaded when first used: together they would add 50 ms to every command. */
const load = createRequire(import.meta.url)

/**
 * The one renderer of ml's data, in the Azure CLI's formats. `data` is what JSON shows;
 * `rows` with `columns` is the command's own table. With --query, every format shows the
 * query's result, and the table is derived from it.
 */
export function render<T>(format: OutputFormat, data: unknown, rows: T[], options: RenderOptions<T> = {}): string {
  if (format === 'none') return ''
  let result: unknown = data
  if (options.query !== undefined) {
    try {
      result = (load('jmespath') as typeof JmespathModule).search(JSON.parse(JSON.stringify(data)), options.query)
    } catch (error) {
      throw new MlError('INVALID_ARGUMENT', `The query "${options.query}" is not valid JMESPath (${(error as Error).message}); see https://jmespath.org for the syntax.`)
    }
  }
  switch (format) {
    case 'json':
      return `${escapeJson(JSON.stringify(result, null, 2))}\n`
    case 'jsonc':
      return `${options.color ? colorJson(escapeJson(JSON.stringify(result, null, 2))) : escapeJson(JSON.stringify(result, null, 2))}\n`
    case 'yaml':
      return escapeYaml((load('yaml') as typeof YamlModule).stringify(result))
    case 'tsv':
      return options.query === undefined && options.columns ? tsv(rows.map((r) => options.columns!.map((c) => c.value(r)))) : tsvOf(result)
    case 'table':
      if (options.query === undefined && options.columns) return table(options.columns.map((c) => c.header), rows.map((r) => options.columns!.map((c) => c.value(r))), options.width)
      return tableOf(result, options.width)
  }
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

function tsv(cells: string[][]): string {
  return cells.map((r) => `${r.map((c) => escapeControl(c.replace(/[\t\n]/g, ' '))).join('\t')}\n`).join('')
}

/** az's tsv: a scalar alone, a list one item a line, an object's or a list's scalar values tab-separated. */
function tsvOf(value: unknown): string {
  const line = (v: unknown) => (v !== null && typeof v === 'object' ? Object.values(v).filter((x) => typeof x !== 'object' || x === null).map(cell) : [cell(v)])
  return tsv(Array.isArray(value) ? value.map(line) : [line(value)])
}

/** A table of any JSON value: a list of objects by their keys, an object as name/value rows. */
function tableOf(value: unknown, width?: number): string {
  if (Array.isArray(value)) {
    if (value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
      const keys = [...new Set(value.flatMap((v) => Object.keys(v as object)))]
      return table(keys, value.map((v) => keys.map((k) => cell((v as Record<string, unknown>)[k]))), width)
    }
    return table(['Result'], value.map((v) => [cell(v)]), width)
  }
  if (value !== null && typeof value === 'object') return table(['Name', 'Value'], Object.entries(value).map(([k, v]) => [k, cell(v)]), width)
  return `${escapeControl(cell(value))}\n`
}

const NO_BORDERS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
}

/**
 * Aligned columns under a dashed line, like `az -o table`. On a terminal, the widest columns
 * are cut (with …) until the table fits its width.
 */
function table(rawHeaders: string[], rawCells: string[][], width?: number): string {
  const headers = rawHeaders.map((h) => escapeControl(h))
  const cells = rawCells.map((r) => r.map((c) => escapeControl(c)))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => [...r[i]].length)))
  if (width) {
    const room = width - 2 * (headers.length - 1)
    while (widths.reduce((a, b) => a + b, 0) > room) {
      const widest = widths.indexOf(Math.max(...widths))
      if (widths[widest] <= 8) break
      widths[widest]--
    }
  }
  const fit = (text: string, w: number) => ([...text].length > w ? `${[...text].slice(0, w - 1).join('')}…` : text)
  const t = new (load('cli-table3') as typeof TableModule)({
    head: headers.map((h, i) => fit(h, widths[i])),
    chars: NO_BORDERS,
    style: {head: [], border: [], 'padding-left': 0, 'padding-right': 0},
  })
  t.push(widths.map((w) => '-'.repeat(w)), ...cells.map((r) => r.map((c, i) => fit(c, widths[i]))))
  return `${t.toString().split('\n').map((l) => l.trimEnd()).join('\n')}\n`
}

/** JSON with keys, strings and numbers coloured, for -o jsonc on a terminal. */
function colorJson(json: string): string {
  return json.replace(/("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g, (m, str: string, colon: string, lit: string, num: string) => {
    if (str) return colon ? `\u001b[36m${str}\u001b[0m${colon}` : `\u001b[32m${str}\u001b[0m`
    if (lit) return `\u001b[35m${lit}\u001b[0m`
    if (num) return `\u001b[33m${num}\u001b[0m`
    return m
  })
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

/** A metric value, short: integers as they are, others with up to 4 significant decimals. */
export function formatNumber(value: number | undefined): string {
  if (value === undefined) return ''
  if (Number.isInteger(value)) return String(value)
  return String(Number(value.toPrecision(4)))
}

const BARS = '▁▂▃▄▅▆▇█'

/** A sparkline of a series: one bar per value, scaled between its min and max. */
export function sparkline(values: number[]): string {
  const min = Math.min(...values)
  const span = Math.max(...values) - min
  return values.map((v) => BARS[span === 0 ? 3 : Math.round(((v - min) / span) * (BARS.length - 1))]).join('')
}
