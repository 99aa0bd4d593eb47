import {createRequire} from 'node:module'
import type YamlModule from 'yaml'
import {MlError} from '../../shared/errors.js'
import type {ParamValue} from '../trust/run-record.js'

/** yaml takes some 70 ms to load: only reading a params file or typing a value loads it. */
let yamlModule: typeof YamlModule | undefined
const yaml = (): typeof YamlModule => (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof YamlModule)

/** One parameter's value: only scalars, so that every run's parameters compare and print alike. */
export type {ParamValue}

/**
 * A run's parameters by name; nested names are dotted (`train.lr`). Names keep the order they
 * first appeared in, except that a JavaScript object lists integer-like names (`1`, `42`) first.
 */
export type Params = Record<string, ParamValue>

/**
 * The params files looked for in the project root. If several exist, only the first in this
 * order is read: one file is the source, never a silent mix of two.
 */
export const PARAMS_FILES: readonly string[] = ['params.yaml', 'params.json']

/** What a parameter's name may be on the command line (`--name`, `name=value`) or in a sweep. */
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/

export function isParamName(name: string): boolean {
  return PARAM_NAME.test(name)
}

/** YAML 1.2's core schema, whose own tests decide whether a plain scalar is a null, bool or number. */
let coreTests: RegExp[] | undefined

/**
 * `text` typed as YAML 1.2 (core schema) reads a plain scalar: `0.1`, `1e-3`, `0x1F` are numbers,
 * `true`/`False` booleans, `null`/`~` null, anything else (`adam`, `0.1.2`, `"quoted"`) the
 * literal text. Two exceptions keep the text where a number would lose it: an integer beyond
 * 2^53 and `.inf`/`.nan` (JSON, and so run.json, holds neither). An empty text stays the empty
 * string: YAML would read null, but an empty argument was not meant as null.
 */
export function paramValue(text: string): ParamValue {
  if (text === '') return ''
  coreTests ??= new (yaml().Schema)({schema: 'core'}).tags.flatMap((tag) => (tag.test && !tag.collection ? [tag.test] : []))
  if (!coreTests.some((test) => test.test(text))) return text
  const value: unknown = yaml().parseDocument(text, {intAsBigInt: true, logLevel: 'error'}).toJS()
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : text
  if (typeof value === 'number' && !Number.isFinite(value)) return text
  return value as ParamValue
}

/**
 * The parameters in a params file (`name` says which, by its extension: `.json` is JSON, anything
 * else YAML). Nested mappings are flattened to dotted names (`train: {lr: 0.1}` is `train.lr`);
 * a list, or an empty mapping, is kept as its JSON text (`[64,32]`, `{}`), so that nothing in the
 * file is dropped. YAML merge keys (`<<: *base`) are followed. Numbers JSON cannot hold become
 * text: `.inf`, `-.inf`, `.nan`, and an integer beyond 2^53 its digits. An empty YAML file has no
 * parameters. A file that does not parse, whose top level is not a mapping, or with an empty name
 * or the same name twice (`a.b: 1` beside `a: {b: 2}`) throws INVALID_PARAMS.
 */
export function paramsFromFile(name: string, text: string): Params {
  const json = name.endsWith('.json')
  const invalid = (problem: string) => new MlError('INVALID_PARAMS', `${name} ${problem}; fix it or remove it.`)
  let data: unknown
  if (json) {
    try {
      data = JSON.parse(text)
    } catch (error) {
      throw invalid(`is not valid JSON: ${jsonReason((error as Error).message, text)}`)
    }
  }
  // The YAML reader also reads a JSON file, for what JSON.parse hides: a name given twice, and
  // integers beyond 2^53 (JSON.parse rounds them).
  const doc = yaml().parseDocument(text, {schema: json ? 'json' : 'core', merge: !json, intAsBigInt: true, uniqueKeys: true, logLevel: 'error'})
  const duplicate = doc.errors.find((e) => e.code === 'DUPLICATE_KEY')
  if (duplicate) throw invalid(`gives a name twice (${oneLine(duplicate.message).replace(/^Map keys must be unique /, '')})`)
  const [error] = doc.errors
  if (error && !json) throw invalid(`is not valid YAML: ${oneLine(error.message)}`)
  if (!error) {
    try {
      data = doc.toJS()
    } catch (cause) {
      throw invalid(`is not valid ${json ? 'JSON' : 'YAML'}: ${oneLine((cause as Error).message)}`)
    }
  }
  if (data == null && !json) return {}
  if (!isMapping(data)) {
    const kind = Array.isArray(data) ? 'a list' : data === null ? 'null' : `a ${typeof data === 'bigint' ? 'number' : typeof data}`
    throw invalid(`must be a mapping of names to values at its top level, not ${kind}`)
  }
  const params = new Map<string, ParamValue>()
  const add = (prefix: string, mapping: Record<string, unknown>): void => {
    for (const [key, value] of Object.entries(mapping)) {
      const full = prefix + key
      if (key === '') throw invalid(`has an empty name${prefix ? ` in "${prefix.slice(0, -1)}"` : ''}`)
      if (isMapping(value) && Object.keys(value).length > 0) {
        add(`${full}.`, value)
        continue
      }
      if (params.has(full)) throw invalid(`gives "${full}" twice (a name with a dot beside a nested mapping)`)
      params.set(full, scalar(value))
    }
  }
  add('', data)
  return Object.fromEntries(params)
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A value of a file as a parameter: a scalar as it is, anything else as its JSON text. */
function scalar(value: unknown): ParamValue {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : String(value)
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? '.nan' : value > 0 ? '.inf' : '-.inf'
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return value as ParamValue
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? scalar(v) : v)) ?? String(value)
}

function oneLine(message: string): string {
  return message.split('\n')[0].replace(/:\s*$/, '')
}

/** JSON.parse's message with the line and column of its `position N` (Node 20 gives only the offset). */
function jsonReason(message: string, text: string): string {
  return oneLine(message).replace(/ at position (\d+)$/, (whole, offset: string) => {
    const before = text.slice(0, Number(offset)).split('\n')
    return `${whole} (line ${before.length}, column ${before[before.length - 1].length + 1})`
  })
}

/**
 * The parameters on a script's command line: `--name value`, `--name=value` and `name=value`,
 * typed by paramValue. A `--name` followed by nothing or by another option is `true`; a value
 * after `--name` may be a negative number (`--lr -0.5`) or a lone `-`, but not another option.
 * Single-dash options (`-v`, `-n 5`) are ignored: whether they take a value is unknown, so the
 * word after one is read on its own. So are words that are not `name=value`, names that are not
 * isParamName's (`--2x`, `a/b=c`, and so `-x=1`), and everything after `--`. A name given twice
 * keeps its last value, at the place it first appeared.
 */
export function paramsFromArgs(args: string[]): Params {
  const params = new Map<string, ParamValue>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--') break
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      let name = arg.slice(2)
      let value: ParamValue = true
      if (eq >= 0) {
        name = arg.slice(2, eq)
        value = paramValue(arg.slice(eq + 1))
      } else if (i + 1 < args.length && isOptionValue(args[i + 1])) {
        value = paramValue(args[++i])
      }
      if (isParamName(name)) params.set(name, value)
      continue
    }
    const eq = arg.indexOf('=')
    if (eq > 0 && isParamName(arg.slice(0, eq))) params.set(arg.slice(0, eq), paramValue(arg.slice(eq + 1)))
  }
  return Object.fromEntries(params)
}

/** Whether the word after `--name` is its value: not an option, unless it is a negative number. */
function isOptionValue(word: string): boolean {
  return !word.startsWith('-') || word === '-' || typeof paramValue(word) === 'number'
}

/**
 * The parameters a run logged to ML_METRICS_FILE (run_logger's `log_param`): lines
 * `{"param": name, "value": string, number, boolean or null}`; a name logged twice keeps its last
 * value. A param line that is malformed is skipped with a warning naming its line number. Every
 * other line (a metric, or a line that is not JSON) is left to parseMetrics, which reports the
 * bad ones: reading both never warns twice about one line.
 */
export function paramsFromLog(text: string): {params: Params; warnings: string[]} {
  const params = new Map<string, ParamValue>()
  const warnings: string[] = []
  text.split('\n').forEach((line, i) => {
    const parsed = parseLine(line)
    if (!isParamLine(parsed)) return
    const {param, value} = parsed
    if (typeof param !== 'string' || !param || !('value' in parsed) || !isParamValue(value)) {
      warnings.push(`metrics line ${i + 1} needs {"param": string, "value": string, number, boolean or null} and was skipped: ${line.slice(0, 80)}`)
      return
    }
    params.set(param, value)
  })
  return {params: Object.fromEntries(params), warnings}
}

function parseLine(line: string): unknown {
  if (!line.trim()) return undefined
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}

/** Whether a parsed line of ML_METRICS_FILE is a param line of the run (an object with a `param` key and no nested `run`), not a metric. */
export function isParamLine(parsed: unknown): parsed is Record<string, unknown> {
  return isMapping(parsed) && 'param' in parsed && !('run' in parsed)
}

function isParamValue(value: unknown): value is ParamValue {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))
}

/** The parameters of all sources, a later source's value winning; names in the order they first appear. */
export function mergeParams(...sources: Params[]): Params {
  const merged = new Map<string, ParamValue>()
  for (const source of sources) for (const [name, value] of Object.entries(source)) merged.set(name, value)
  return Object.fromEntries(merged)
}

/** A value as shown to a user and passed to a script: numbers as JavaScript prints them, null as `null`. */
export function paramText(value: ParamValue): string {
  return value === null ? 'null' : String(value)
}

/** A parameter added (no `before`), removed (no `after`) or changed between two runs. */
export interface ParamChange {
  name: string
  before?: ParamValue
  after?: ParamValue
}

/**
 * The parameters added (`after` only), removed (`before` only) and changed (both) from one run to
 * another, by name. A value is compared with its type: `1` and `"1"` differ.
 */
export function paramChanges(before: Params, after: Params): ParamChange[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const changes: ParamChange[] = []
  for (const name of names) {
    const had = Object.hasOwn(before, name)
    const has = Object.hasOwn(after, name)
    if (had && has && before[name] === after[name]) continue
    changes.push({name, ...(had ? {before: before[name]} : {}), ...(has ? {after: after[name]} : {})})
  }
  return changes
}
