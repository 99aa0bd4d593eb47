// The dashboard's access to `ml ui`'s API: the token of the printed URL, sent on every request.

// The API's objects are the core's own (type-only imports: nothing of the core is bundled).
import type {Lineage} from '../../core/runs/data-history.js'
import type {ListedRun} from '../../core/runs/run-cache.js'

export type {RunStatus, ParamValue, RunInput} from '../../core/trust/run-record.js'
export type {MetricPoint} from '../../core/runs/metrics.js'
export type {SnapshotEntry} from '../../core/runs/run-files.js'
export type {TreeChange} from '../../git/trees.js'
export type {Comparison, RunDiff} from '../../core/runs/history.js'
export type {Lineage}

/** A run as `/api/runs` lists it (`history list -o json`). */
export type RunRecord = ListedRun

/** One run as `/api/runs/ID` answers (`history info`): its record, environment and lineage. */
export interface RunInfo {
  run: RunRecord
  environment?: string
  lineage: Lineage
}

const TOKEN_KEY = 'ml-ui-token'

/** The token: taken from the URL once (then removed from the address bar), kept for reloads. */
const token: string = (() => {
  const query = new URLSearchParams(location.search)
  const given = query.get('token')
  if (given === null) {
    try {
      return sessionStorage.getItem(TOKEN_KEY) ?? ''
    } catch {
      return ''
    }
  }
  try {
    sessionStorage.setItem(TOKEN_KEY, given)
  } catch {
    // storage refused: the token still lives in memory (and in the server's cookie)
  }
  query.delete('token')
  const rest = query.toString()
  history.replaceState(history.state, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`)
  return given
})()

export class ApiError extends Error {}

function headers(): Record<string, string> {
  return token ? {'X-ML-Token': token} : {}
}

async function failure(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`.trim()
  try {
    const body = await res.json() as {error?: {message?: string}}
    if (body?.error?.message) message = body.error.message
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(message)
}

async function request(path: string, init: RequestInit = {}): Promise<Response> {
  let res: Response
  try {
    res = await fetch(path, {...init, headers: {...headers(), ...init.headers as Record<string, string> | undefined}})
  } catch {
    throw new ApiError('Cannot reach ml ui: is the server still running?')
  }
  if (!res.ok) throw await failure(res)
  return res
}

export async function getJson<T>(path: string): Promise<T> {
  return (await request(path)).json() as Promise<T>
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return (await request(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)})).json() as Promise<T>
}

export async function getRaw(path: string): Promise<Response> {
  return request(path)
}

/** A path inside a run (a snapshot file, an output), each segment encoded. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}

export function runUrl(id: string, what = ''): string {
  return `/api/runs/${encodeURIComponent(id)}${what ? `/${what}` : ''}`
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
