import {MlError} from '../../shared/errors.js'

/** A run as search sees it: the fields of MLflow's Run that filters and order_by name. */
export interface Searchable {
  info: Record<string, unknown>
  data: {metrics: Array<{key: string; value: number}>; params: Array<{key: string; value: string}>; tags: Array<{key: string; value: string}>}
}

type Entity = 'metrics' | 'params' | 'tags' | 'attributes'

/** One comparison of a filter: `metrics.acc > 0.9`, `params.lr = '0.1'`, `attributes.status IN ('FINISHED')`. */
export interface Clause {
  entity: Entity
  key: string
  op: string
  value: string | number | Array<string | number>
}

const ENTITIES: Record<string, Entity> = {metric: 'metrics', metrics: 'metrics', param: 'params', params: 'params', parameter: 'params', parameters: 'params', tag: 'tags', tags: 'tags', attribute: 'attributes', attributes: 'attributes', attr: 'attributes', run: 'attributes'}
/** The attributes a filter or order_by may name, as RunInfo's fields. */
const ATTRIBUTES: Record<string, string> = {status: 'status', run_name: 'run_name', run_id: 'run_id', start_time: 'start_time', end_time: 'end_time', artifact_uri: 'artifact_uri', user_id: 'user_id'}
const OPS = ['!=', '>=', '<=', '=', '>', '<']

function invalid(message: string): MlError {
  return new MlError('INVALID_ARGUMENT', message)
}

/** `metrics.x`, ``params.`a b` ``, `tags."mlflow.runName"` at the start of `text`: the entity, the key and what follows. */
function identifier(text: string): {entity: Entity; key: string; rest: string} {
  const match = /^([A-Za-z]+)\.(?:`([^`]+)`|"([^"]+)"|([\w.:/-]+))\s*/.exec(text)
  const entity = match && ENTITIES[match[1].toLowerCase()]
  if (!match || !entity) throw invalid(`The filter must compare metrics.NAME, params.NAME, tags.NAME or attributes.NAME, not ${JSON.stringify(text.slice(0, 40))}.`)
  const key = match[2] ?? match[3] ?? match[4]
  if (entity === 'attributes' && !ATTRIBUTES[key]) throw invalid(`There is no run attribute "${key}" to search; use one of: ${Object.keys(ATTRIBUTES).join(', ')}.`)
  return {entity, key, rest: text.slice(match[0].length)}
}

/** A quoted string or a number at the start of `text`. */
function literal(text: string): {value: string | number; rest: string} {
  const quoted = /^(?:'((?:[^']|'')*)'|"((?:[^"]|"")*)")\s*/.exec(text)
  if (quoted) return {value: quoted[1] !== undefined ? quoted[1].replaceAll("''", "'") : quoted[2].replaceAll('""', '"'), rest: text.slice(quoted[0].length)}
  const number = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*/.exec(text)
  if (number) return {value: Number(number[0]), rest: text.slice(number[0].length)}
  throw invalid(`The filter expects a quoted string or a number at ${JSON.stringify(text.slice(0, 40))}.`)
}

/**
 * MLflow's search filter: comparisons joined by AND. Metrics compare as numbers (`=`, `!=`,
 * `<`, `<=`, `>`, `>=`); params, tags and attributes as text, also with LIKE and ILIKE (`%` and
 * `_`) and, for attributes, IN and NOT IN a list; start_time and end_time as numbers.
 */
export function parseFilter(filter: string | undefined): Clause[] {
  let rest = (filter ?? '').trim()
  const clauses: Clause[] = []
  while (rest) {
    if (clauses.length > 0) {
      const and = /^AND\s+/i.exec(rest)
      if (!and) throw invalid(`The filter joins comparisons only with AND, not at ${JSON.stringify(rest.slice(0, 40))}.`)
      rest = rest.slice(and[0].length)
    }
    const id = identifier(rest)
    rest = id.rest
    const word = /^(NOT\s+IN|IN|NOT\s+LIKE|LIKE|ILIKE)\s*/i.exec(rest)
    const op = word ? word[1].toUpperCase().replace(/\s+/, ' ') : OPS.find((o) => rest.startsWith(o))
    if (!op) throw invalid(`The filter needs a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN) after ${id.entity}.${id.key}.`)
    rest = rest.slice(word ? word[0].length : op.length).trimStart()
    let value: Clause['value']
    if (op.endsWith('IN')) {
      if (!rest.startsWith('(')) throw invalid(`${op} needs a list in parentheses, as in attributes.run_id IN ('a', 'b').`)
      rest = rest.slice(1).trimStart()
      value = []
      for (;;) {
        const item = literal(rest)
        value.push(item.value)
        rest = item.rest
        if (rest.startsWith(',')) rest = rest.slice(1).trimStart()
        else if (rest.startsWith(')')) break
        else throw invalid('A list in the filter is quoted values between commas, closed by ")".')
      }
      rest = rest.slice(1).trimStart()
    } else {
      const item = literal(rest)
      value = item.value
      rest = item.rest
    }
    const numeric = id.entity === 'metrics' || (id.entity === 'attributes' && id.key.endsWith('_time'))
    if (numeric && (typeof value !== 'number' || !OPS.includes(op))) throw invalid(`${id.entity}.${id.key} compares as a number: use =, !=, <, <=, > or >= with a number.`)
    if (!numeric && (typeof value === 'number' || ['<', '<=', '>', '>='].includes(op))) throw invalid(`${id.entity}.${id.key} compares as text: use =, !=, LIKE or ILIKE with a quoted string.`)
    if (op.endsWith('IN') && id.entity !== 'attributes') throw invalid(`${op} is only for attributes (attributes.run_id IN (...)).`)
    clauses.push({...id, op, value})
  }
  return clauses
}

/** The value a clause or an order_by compares in `run`, undefined when the run has none. */
function valueOf(run: Searchable, entity: Entity, key: string): string | number | undefined {
  if (entity === 'attributes') return run.info[ATTRIBUTES[key]] as string | number | undefined
  return (run.data[entity] as Array<{key: string; value: string | number}>).find((entry) => entry.key === key)?.value
}

function like(pattern: string, text: string, flags: string): boolean {
  const body = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replaceAll('%', '.*').replaceAll('_', '.')
  return new RegExp(`^${body}$`, `s${flags}`).test(text)
}

function matches(run: Searchable, clause: Clause): boolean {
  const actual = valueOf(run, clause.entity, clause.key)
  if (actual === undefined) return false
  const {op, value} = clause
  if (Array.isArray(value)) return value.includes(actual) === (op === 'IN')
  if (op === 'LIKE' || op === 'ILIKE' || op === 'NOT LIKE') return like(String(value), String(actual), op === 'ILIKE' ? 'i' : '') === (op !== 'NOT LIKE')
  const order = actual < value ? -1 : actual > value ? 1 : 0
  return {'=': order === 0, '!=': order !== 0, '<': order < 0, '<=': order <= 0, '>': order > 0, '>=': order >= 0}[op] ?? false
}

export interface SearchRequest {
  filter?: string
  order_by?: string[]
  max_results?: number
  page_token?: string
}

/** MLflow's upper bound of max_results for runs/search. */
export const MAX_RESULTS = 50_000

/**
 * runs/search over `runs` (newest first): filtered, ordered (by default newest first, as MLflow
 * orders by start_time DESC; runs without the value ordered by last), and cut into pages. The
 * page token is the offset of the next page, opaque to clients as MLflow's is.
 */
export function searchRuns<R extends Searchable>(runs: R[], request: SearchRequest): {runs: R[]; next_page_token?: string} {
  const clauses = parseFilter(request.filter)
  let found = runs.filter((run) => clauses.every((clause) => matches(run, clause)))
  for (const order of [...(request.order_by ?? [])].reverse()) {
    const match = /^\s*(.+?)(?:\s+(ASC|DESC))?\s*$/i.exec(order)
    const id = identifier(match?.[1] ?? '')
    if (id.rest) throw invalid(`order_by takes a name and ASC or DESC, not ${JSON.stringify(order)}.`)
    const sign = match?.[2]?.toUpperCase() === 'DESC' ? -1 : 1
    // Array.prototype.sort is stable: each earlier order_by sorts last and so comes first.
    found = [...found].sort((a, b) => {
      const x = valueOf(a, id.entity, id.key)
      const y = valueOf(b, id.entity, id.key)
      if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1
      return sign * (x < y ? -1 : x > y ? 1 : 0)
    })
  }
  const {items, next_page_token} = pageOf(found, request)
  return {runs: items, ...(next_page_token && {next_page_token})}
}

/**
 * A page of `items`: at most max_results (1 to `limit`, 1000 unless given) from the offset
 * page_token holds, and the token of the next page when there is one (the offset as base64,
 * opaque to clients as MLflow's tokens are).
 */
export function pageOf<T>(items: T[], request: Pick<SearchRequest, 'max_results' | 'page_token'>, limit = MAX_RESULTS): {items: T[]; next_page_token?: string} {
  const max = request.max_results ?? Math.min(1000, limit)
  if (!Number.isInteger(max) || max < 1 || max > limit) throw invalid(`max_results must be a whole number from 1 to ${limit}, not ${JSON.stringify(request.max_results)}.`)
  const offset = request.page_token ? Number(Buffer.from(request.page_token, 'base64').toString('utf8')) : 0
  if (!Number.isInteger(offset) || offset < 0) throw invalid('The page_token is not one this server gave; start again without it.')
  return {items: items.slice(offset, offset + max), ...(offset + max < items.length && {next_page_token: Buffer.from(String(offset + max)).toString('base64')})}
}
