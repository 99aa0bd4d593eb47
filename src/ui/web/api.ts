// The dashboard's access to `ml ui`'s API: the token of the printed URL, sent on every request.

export type RunStatus = 'Queued' | 'Running' | 'Completed' | 'Failed' | 'Canceled' | 'Corrupt'
export type ParamValue = string | number | boolean | null

export interface RunRecord {
  runId: string
  projectName?: string
  status: RunStatus
  script: string
  arguments: string[]
  compute: string
  startTimeUtc: string
  endTimeUtc?: string
  durationMs?: number
  exitCode?: number
  error?: string
  snapshotId: string
  host: string
  outputs: Array<{path: string; size: number; sha256?: string}>
  metrics?: Record<string, number>
  params?: Record<string, ParamValue>
  sweepId?: string
  queuedTimeUtc?: string
  isolated?: boolean
  properties: Record<string, string>
  pushed?: boolean
}

export interface MetricPoint {
  name: string
  value: number
  step: number | null
}

export interface SnapshotEntry {
  path: string
  kind: 'file' | 'executable' | 'link' | 'repo'
}

export interface TreeChange {
  status: string
  path: string
}

export interface Comparison {
  runs: RunRecord[]
  best: Record<string, string>
  params: Array<{name: string; differs: boolean}>
}

export interface RunDiff {
  a: RunRecord
  b: RunRecord
  patch: string
  files: Array<{path: string; additions?: number; deletions?: number; added?: number; removed?: number; binary?: boolean}>
  metrics: Array<{name: string; a?: number; b?: number; change?: number}>
  params: Array<{name: string; before?: ParamValue; after?: ParamValue}>
  environment: string[]
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
