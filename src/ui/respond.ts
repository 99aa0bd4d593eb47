import type http from 'node:http'
import {isMlError} from '../shared/errors.js'

/** A JSON response. */
export function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  res.writeHead(status, {'Content-Type': 'application/json; charset=utf-8'})
  res.end(JSON.stringify(body))
}

const STATUS: Partial<Record<string, number>> = {RUN_NOT_FOUND: 404, NOT_A_PROJECT: 404, SWEEP_NOT_FOUND: 404, INVALID_ARGUMENT: 400, UNSAFE_PATH: 400, RUN_CORRUPT: 409, LOCKED: 409, CONCURRENT_UPDATE: 409, NOTHING_TO_UNDO: 409}

/** An MlError as `{error: {code, message}}` with a fitting status; anything else is a 500 that names no detail. */
export function sendError(res: http.ServerResponse, error: unknown, onInternal?: (error: unknown) => void): void {
  if (isMlError(error)) return send(res, STATUS[error.code] ?? 500, {error: {code: error.code, message: error.message}})
  onInternal?.(error)
  send(res, 500, {error: {code: 'INTERNAL', message: 'ml ui failed to answer; run it with ML_DEBUG=1 to see why.'}})
}
