/**
 * A git remote's URL taken apart once, for every place that needs a piece of it (the host in a
 * message, the ssh port for the host-key check, the fields a credential helper is asked
 * with) and for hiding its secret.
 */
export interface RemoteUrl {
  /** `https`, `http`, `ssh`, `git`, `file`...; `ssh` for scp-like `user@host:path`; `local` for a plain path. */
  scheme: string
  /** The user info's user name and password (`https://user:token@host/`), when there is one. */
  user?: string
  password?: string
  /** The host without port and brackets; empty for `file:///path` and a local path. */
  host: string
  port?: number
  /** Host and port as written (`example.com:8443`), as git's credential helpers expect them. */
  hostPort: string
  /** Everything after the host (and port), with its leading `/` for scheme URLs. */
  path: string
}

const SCHEME_URL = /^([a-z][a-z0-9+.-]*):\/\/(?:([^/@\s]*)@)?(\[[^\]/]*\]|[^/:@\s]*)(?::(\d*))?(\/.*)?$/is
const SCP_LIKE = /^(?:([^@/:\s]+)@)?(\[[^\]/]*\]|[^/:\s]+):(.*)$/s

export function parseRemoteUrl(url: string): RemoteUrl {
  const full = SCHEME_URL.exec(url)
  if (full) {
    const [, scheme, userinfo, rawHost, port, rest = ''] = full
    const colon = userinfo?.indexOf(':') ?? -1
    return {
      scheme: scheme.toLowerCase(),
      user: userinfo === undefined ? undefined : colon < 0 ? userinfo : userinfo.slice(0, colon),
      password: colon < 0 ? undefined : userinfo!.slice(colon + 1),
      host: rawHost.replace(/^\[|\]$/g, ''),
      port: port ? Number(port) : undefined,
      hostPort: port ? `${rawHost}:${port}` : rawHost,
      path: rest,
    }
  }
  // `host:path` is git's scp-like ssh syntax unless a slash comes before the colon (a local path).
  const scp = SCP_LIKE.exec(url)
  if (scp && !url.startsWith('/') && !url.startsWith('.')) {
    const [, user, rawHost, rest] = scp
    return {scheme: 'ssh', user, host: rawHost.replace(/^\[|\]$/g, ''), hostPort: rawHost, path: rest}
  }
  return {scheme: 'local', host: '', hostPort: '', path: url}
}

/**
 * Hides the secret of a URL with credentials (`https://user:token@host/x` becomes
 * `https://user:***@host/x`; a lone token as user name is hidden too), so it never reaches a
 * stored property, a listing or a message.
 */
export function redactUrl(url: string): string {
  return redactSecrets(url)
}

/** redactUrl for every URL inside a text, such as an error message from libgit2. */
export function redactSecrets(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*):\/\/([^/@\s'"]*)@/gi, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':')
    if (colon >= 0) return `${scheme}://${userinfo.slice(0, colon)}:***@`
    return isHttpLike(scheme) ? `${scheme}://***@` : `${scheme}://${userinfo}@`
  })
}

/** The URL without any secret, for storing: https loses its user info, ssh keeps the user. */
export function storableUrl(url: string): string {
  const parsed = parseRemoteUrl(url)
  if (parsed.user === undefined || parsed.scheme === 'ssh' && !url.includes('://')) return url
  const scheme = url.slice(0, url.indexOf('://'))
  const user = isHttpLike(parsed.scheme) ? '' : `${parsed.user}@`
  return `${scheme}://${user}${parsed.hostPort}${parsed.path}`
}

/** Schemes where a lone user name in the user info is likely a token (as GitHub takes one). */
function isHttpLike(scheme: string): boolean {
  return /^(https?|ftps?)$/i.test(scheme)
}
