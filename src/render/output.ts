import type JmespathModule from 'jmespath'
import {createRequire} from 'node:module'
import type YamlModule from 'yaml'
import {MlError} from '../shared/errors.js'
import {escapeControl, escapeJson, escapeYaml} from './escape-control.js'

export const OUTPUT_FORMATS = ['table', 'json', 'jsonc', 'tsv', 'yaml', 'none'] as const
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]

/** A column of a listing: its header and how to get a row's cell. */
export interface Column<T> {
  header: string
  value: (row: T) => string
  /** Never cut to fit the terminal: a run id is the one value people copy from a table. */
  keep?: boolean
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
      if (options.query === undefined && options.columns) {
        const {columns} = options
        return table(columns.map((c) => c.header), rows.map((r) => columns.map((c) => c.value(r))), options.width, columns.map((c) => c.keep === true))
      }
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
      return table(keys, value.map((v) => keys.map((k) => cell((v as Record<string, unknown>)[k]))), width, keys.map((k) => k === 'runId'))
    }
    return table(['Result'], value.map((v) => [cell(v)]), width)
  }
  if (value !== null && typeof value === 'object') return table(['Name', 'Value'], Object.entries(value).map(([k, v]) => [k, cell(v)]), width)
  return `${escapeControl(cell(value))}\n`
}

/**
 * Aligned columns under a dashed line, like `az -o table`. On a terminal, the widest columns
 * are cut (with …), down to 8 characters, until the table fits its width; `keep` columns are
 * never cut, and a table still too wide is left for the terminal to wrap. Laid out by hand,
 * one pass a row: cli-table3 took minutes over a long metrics history.
 */
function table(rawHeaders: string[], rawCells: string[][], width?: number, keep: boolean[] = []): string {
  const headers = rawHeaders.map((h) => escapeControl(h))
  const cells = rawCells.map((r) => r.map((c) => escapeControl(c)))
  const widths = headers.map((h, i) => {
    let w = length(h)
    for (const row of cells) w = Math.max(w, length(row[i]))
    return w
  })
  if (width) shrink(widths, keep, width - 2 * (headers.length - 1))
  const fit = (text: string, i: number) => {
    const cut = !keep[i] && length(text) > widths[i] ? `${[...text].slice(0, widths[i] - 1).join('')}…` : text
    return cut + ' '.repeat(Math.max(0, widths[i] - length(cut)))
  }
  const line = (row: string[]) => `${row.map(fit).join('  ').trimEnd()}\n`
  let out = line(headers) + line(widths.map((w) => '-'.repeat(w)))
  for (const row of cells) out += line(row)
  return out
}

/** Narrows the widest column that may be cut, a character at a time, until the widths fit `room`. */
function shrink(widths: number[], keep: boolean[], room: number): void {
  for (let total = widths.reduce((a, b) => a + b, 0); total > room; total--) {
    let widest = -1
    for (const [i, w] of widths.entries()) if (!keep[i] && w > 8 && (widest < 0 || w > widths[widest])) widest = i
    if (widest < 0) return
    widths[widest]--
  }
}

/** Characters (code points), as a terminal shows most text. */
function length(text: string): number {
  let n = 0
  for (const _ of text) n++
  return n
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
  const {min, max} = extent(values)
  const span = max - min
  return values.map((v) => BARS[span === 0 ? 3 : Math.round(((v - min) / span) * (BARS.length - 1))]).join('')
}

/** The smallest and largest of `values`, in a loop: `Math.min(...values)` overflows the stack past about 120,000 values. */
export function extent(values: number[]): {min: number; max: number} {
  let min = Infinity
  let max = -Infinity
  for (const v of values) {
    if (v < min) min = v
    if (v > max) max = v
  }
  return {min, max}
}
