import {randomBytes, timingSafeEqual} from 'node:crypto'
import {promises as fs} from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import {findProject, type Project} from '../core/project/project.js'
import {bearerToken, sendMlflowError} from '../core/tracking/mlflow-http.js'
import {MlError} from '../shared/errors.js'
import {handleApi, type ApiContext} from './api.js'
import {send, sendError} from './respond.js'

export interface UiOptions {
  /** The folder `ml ui` was started in: the project is found from here. */
  cwd: string
  host: string
  /** 0 picks a free port; a busy one too (`portBusy` says so). */
  port: number
  /** The built front-end: index.html, app.js, app.css. */
  assetsDir: string
  /** Given to the API (ssh settings for syncing runs on compute targets, ml's version). */
  api: Omit<ApiContext, 'cwd' | 'project'>
  /** For tests: a token of their own instead of a random one. */
  token?: string
}

export interface UiServer {
  url: string
  port: number
  token: string
  project: Project
  /** The port asked for was taken, so another was picked. */
  portBusy: boolean
  close(): Promise<void>
}

const TYPES: Record<string, string> = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml'}

/**
 * `ml ui`'s server: the dashboard's files and its JSON API (api.ts), for one project. Every
 * request must carry the random token of the printed URL (the query's `token`, then a cookie
 * set from it, or the `X-ML-Token` header), compared in constant time; a POST must carry it in
 * the header (a cookie alone never changes anything); the Host header must name the address
 * bound, so that a page of another site cannot reach it through DNS rebinding. MLflow's clients
 * send the token as `Authorization: Bearer` (api.ts serves them MLflow's API under /api/2.0/).
 */
export async function startUiServer(options: UiOptions): Promise<UiServer> {
  const project = await findProject(options.cwd)
  const token = options.token ?? randomBytes(24).toString('hex')
  const context: ApiContext = {...options.api, cwd: options.cwd, project}
  const server = http.createServer((req, res) => {
    serve(req, res).catch((error: unknown) => sendError(res, error, context.onInternal))
  })
  let port = 0
  const serve = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('Referrer-Policy', 'no-referrer')
    res.setHeader('Cache-Control', 'no-store')
    res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
    if (!hostAllowed(req.headers.host, options.host, port)) return send(res, 403, {error: {code: 'FORBIDDEN', message: 'The Host header does not name the address ml ui listens on.'}})
    const url = new URL(req.url ?? '/', 'http://localhost')
    // A bearer token (what MLflow's clients send) is a header as well: no other site's page can set it.
    const given = bearerToken(req) ?? (req.method === 'POST' ? header(req, 'x-ml-token') : url.searchParams.get('token') ?? header(req, 'x-ml-token') ?? cookie(req, 'ml_token'))
    if (!given || !sameToken(given, token)) {
      if (url.pathname.startsWith('/api/2.0/')) return sendMlflowError(res, 'UNAUTHENTICATED', 'This needs the token of the URL `ml ui` printed, as a Bearer token (MLFLOW_TRACKING_TOKEN).')
      return send(res, 403, {error: {code: 'FORBIDDEN', message: 'This needs the token of the URL `ml ui` printed.'}})
    }
    if (url.searchParams.get('token')) res.setHeader('Set-Cookie', `ml_token=${token}; HttpOnly; SameSite=Strict; Path=/`)
    if (url.pathname.startsWith('/api/')) return handleApi(context, req, res, url)
    if (req.method !== 'GET') return send(res, 405, {error: {code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not served here.`}})
    const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1)
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) return send(res, 404, {error: {code: 'NOT_FOUND', message: `${url.pathname} is not here.`}})
    const data = await fs.readFile(path.join(options.assetsDir, name)).catch(() => null)
    if (!data) return send(res, 404, {error: {code: 'NOT_FOUND', message: `${url.pathname} is not here.`}})
    res.writeHead(200, {'Content-Type': TYPES[path.extname(name)] ?? 'application/octet-stream'})
    res.end(data)
  }
  const listen = (p: number) => new Promise<number>((resolve, reject) => {
    const fail = (error: Error) => reject(error)
    server.once('error', fail)
    server.listen(p, options.host, () => {
      server.off('error', fail)
      resolve((server.address() as {port: number}).port)
    })
  })
  let portBusy = false
  try {
    port = await listen(options.port)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
      throw new MlError('INVALID_ARGUMENT', `ml ui cannot listen on ${options.host}:${options.port} (${(error as Error).message}); give another --host or --port.`, {cause: error})
    }
    portBusy = true
    port = await listen(0)
  }
  const shown = options.host.includes(':') ? `[${options.host}]` : options.host
  return {
    url: `http://${shown === '0.0.0.0' || shown === '[::]' ? '127.0.0.1' : shown}:${port}/?token=${token}`,
    port,
    token,
    project,
    portBusy,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

/** Bound to a loopback or named address, only that address (or localhost for loopback) may be the Host. */
function hostAllowed(hostHeader: string | undefined, bound: string, port: number): boolean {
  if (bound === '0.0.0.0' || bound === '::') return true // anyone may connect: the token is all there is (ml ui warns)
  if (!hostHeader) return false
  const names = new Set([bound, bound.includes(':') ? `[${bound}]` : bound])
  if (bound === '127.0.0.1' || bound === '::1' || bound === 'localhost') for (const n of ['localhost', '127.0.0.1', '[::1]']) names.add(n)
  return [...names].some((n) => hostHeader === `${n}:${port}`)
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

function cookie(req: http.IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=')
    if (key === name) return rest.join('=')
  }
  return undefined
}
