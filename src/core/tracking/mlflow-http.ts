import type http from 'node:http'
import {finished} from 'node:stream/promises'
import {isMlError, MlError} from '../../shared/errors.js'

/** A JSON request body is at most this big: a full log-batch of long values is some 2 MB. */
export const MAX_BODY_BYTES = 4 * 2 ** 20

/** MLflow's error codes and their HTTP statuses (mlflow/server/handlers.py and databricks_pb2). */
export const MLFLOW_ERRORS = {
  INVALID_PARAMETER_VALUE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  RESOURCE_DOES_NOT_EXIST: 404,
  ENDPOINT_NOT_FOUND: 404,
  INTERNAL_ERROR: 500,
} as const

export type MlflowErrorCode = keyof typeof MLFLOW_ERRORS

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  const data = JSON.stringify(body)
  res.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data)})
  res.end(data)
}

/** An error in MLflow's shape, so that its client raises its usual MlflowException. */
export function sendMlflowError(res: http.ServerResponse, code: MlflowErrorCode, message: string): void {
  sendJson(res, MLFLOW_ERRORS[code], {error_code: code, message})
}

/** An error thrown while answering: ml's codes as MLflow's; anything not an MlError is a 500 that names no detail. */
export function sendThrown(res: http.ServerResponse, error: unknown, onInternal?: (error: unknown) => void): void {
  if (isMlError(error, 'INVALID_ARGUMENT') || isMlError(error, 'UNSAFE_PATH')) return sendMlflowError(res, 'INVALID_PARAMETER_VALUE', error.message)
  if (isMlError(error, 'RUN_NOT_FOUND')) return sendMlflowError(res, 'RESOURCE_DOES_NOT_EXIST', error.message)
  if (!isMlError(error)) onInternal?.(error)
  sendMlflowError(res, 'INTERNAL_ERROR', isMlError(error) ? error.message : 'ml failed to answer this MLflow request; run it with ML_DEBUG=1 to see why.')
}

/**
 * Reads what is left of a request and drops it, before an answer that does not need it: a
 * client (MLflow's, Python's urllib) sends its whole body before it reads the answer, and would
 * see a broken pipe instead of the error.
 */
export async function drain(req: http.IncomingMessage): Promise<void> {
  if (req.readableEnded) return
  req.resume()
  await finished(req).catch(() => {})
}

/** The bearer token of a request (MLflow's client sends MLFLOW_TRACKING_TOKEN so). */
export function bearerToken(req: http.IncomingMessage): string | undefined {
  return /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1]
}

/**
 * A request's arguments: a GET's query (MLflow's client sends them so), a POST's JSON body,
 * which must be one object of at most MAX_BODY_BYTES (INVALID_ARGUMENT otherwise).
 */
export async function requestArgs(req: http.IncomingMessage, url: URL): Promise<Record<string, unknown>> {
  if (req.method === 'GET') {
    const args: Record<string, unknown> = {}
    for (const [key, value] of url.searchParams) args[key] = Array.isArray(args[key]) ? [...(args[key] as string[]), value] : key in args ? [args[key], value] : value
    return args
  }
  const chunks: Buffer[] = []
  let size = 0
  // Read to the end, keeping no more than the limit: a client still sending would get a broken pipe instead of the answer.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size <= MAX_BODY_BYTES) chunks.push(chunk)
  }
  if (size > MAX_BODY_BYTES) throw new MlError('INVALID_ARGUMENT', `The request body is over ${MAX_BODY_BYTES / 2 ** 20} MB; send smaller batches.`)
  let body: unknown
  try {
    body = chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new MlError('INVALID_ARGUMENT', 'The request body is not JSON; send a JSON object, as MLflow\'s client does.')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MlError('INVALID_ARGUMENT', 'The request body must be a JSON object.')
  return body as Record<string, unknown>
}

/** The run a request names (`run_id`, or the older `run_uuid`). */
export function requestRunId(args: Record<string, unknown>): string {
  const id = args.run_id ?? args.run_uuid
  if (typeof id !== 'string' || !id) throw new MlError('INVALID_ARGUMENT', 'The request names no run; send run_id.')
  return id
}
