import {promises as fs} from 'node:fs'
import path from 'node:path'
import SSHConfig from 'ssh-config'
import {MlError} from '../shared/errors.js'

/** What ml was told directly (a target's --port, --user, --identity, a URL's user and port): these win over the file. */
export interface SshFlags {
  port?: number
  user?: string
  /** A private key file tried before the file's IdentityFile ones. */
  identity?: string
}

/** One ProxyJump hop as written: `[user@]host[:port]` or `ssh://[user@]host[:port]`. */
export interface JumpHop {
  host: string
  port?: number
  user?: string
}

/** Where `ssh ALIAS` would connect, and how: the flags, then the first value the config gives, then ssh's defaults. */
export interface ResolvedSsh {
  /** The name asked for (a Host alias, or a plain host name). */
  alias: string
  /** The host connected to: HostName, or the alias itself. */
  host: string
  port: number
  user: string
  /** Key files to try, in order: the flag's, then IdentityFile's (with ~ and %-tokens expanded). */
  identityFiles: string[]
  /** No IdentityFile in the config: ssh's default keys (~/.ssh/id_ed25519, id_ecdsa, id_rsa) are tried last. */
  defaultKeys: boolean
  /** IdentitiesOnly yes: only those files (or the default ones), no ssh-agent, no ML_SSH_KEY. */
  identitiesOnly: boolean
  /** UserKnownHostsFile's files, or null for ssh's default (~/.ssh/known_hosts); `none` is []. */
  knownHostsFiles: string[] | null
  /** HostKeyAlias: the name looked up in known_hosts instead of host:port. */
  hostKeyAlias?: string
  /** ProxyJump's hops, in the order they are passed through (the last one connects to the host); [] for none. */
  proxyJump: JumpHop[]
}

/** What the expansion of %-tokens and ~ needs from this machine. */
export interface LocalSide {
  home: string
  /** The local user name (%u, and User's default). */
  localUser: string
}

/** ~/.ssh/config's text, or '' when there is none. */
export async function readSshConfig(home: string): Promise<string> {
  try {
    return await fs.readFile(path.join(home, '.ssh', 'config'), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return ''
    throw error
  }
}

/**
 * Resolves `alias` against the text of an ssh config file (~/.ssh/config) as `ssh` would, for
 * the settings ml uses: HostName, User, Port, IdentityFile, IdentitiesOnly, UserKnownHostsFile,
 * HostKeyAlias and ProxyJump, the first value obtained winning, with Host patterns (`*`, `?`,
 * `!`). Parsed by the ssh-config package; `Match exec` is never run, and Include is not
 * followed. Pure: the caller reads the file.
 */
export function resolveSshConfig(text: string, alias: string, flags: SshFlags, local: LocalSide): ResolvedSsh {
  let config: SSHConfig
  try {
    config = SSHConfig.parse(text)
  } catch (error) {
    throw new MlError('INVALID_ARGUMENT', `~/.ssh/config could not be read (${(error as Error).message}); fix it, or run without it.`)
  }
  dropCanonicalization(config)
  const found = config.compute(alias, {ignoreCase: true, matchExec: false})
  const one = (key: string): string | undefined => {
    const value = found[key]
    const first = Array.isArray(value) ? value[0] : value
    return typeof first === 'string' && first !== '' ? first : undefined
  }
  const many = (key: string): string[] | undefined => {
    const value = found[key]
    if (value === undefined) return undefined
    return (Array.isArray(value) ? value : value.split(/\s+/)).filter(Boolean)
  }
  const host = expand(one('hostname') ?? alias, {h: alias}) // HostName takes %h, the name asked for
  const filePort = one('port')
  const port = flags.port ?? (filePort === undefined ? 22 : parsePort(filePort, `Port ${filePort} (for ${alias} in ~/.ssh/config)`))
  const user = flags.user ?? one('user') ?? local.localUser
  const tokens = {h: host, n: alias, p: String(port), r: user, u: local.localUser, d: local.home}
  const file = (f: string) => {
    const expanded = expand(f, tokens)
    return path.resolve(local.home, expanded === '~' ? local.home : expanded.replace(/^~\//, `${local.home}/`))
  }
  const configured = many('identityfile')
  const identityFiles = [...flags.identity ? [flags.identity] : [], ...(configured ?? []).filter((f) => f.toLowerCase() !== 'none').map(file)]
  const knownHosts = many('userknownhostsfile')
  const jump = one('proxyjump')
  const hostKeyAlias = one('hostkeyalias')
  return {
    alias,
    host,
    port,
    user,
    identityFiles: [...new Set(identityFiles)],
    defaultKeys: configured === undefined,
    identitiesOnly: /^yes$/i.test(one('identitiesonly') ?? ''),
    knownHostsFiles: knownHosts === undefined ? null : knownHosts.some((f) => f.toLowerCase() === 'none') ? [] : knownHosts.map(file),
    ...hostKeyAlias !== undefined && {hostKeyAlias},
    proxyJump: jump === undefined || jump.toLowerCase() === 'none' ? [] : jump.split(',').map((hop) => parseJumpHop(hop.trim(), alias)),
  }
}

/** One key to offer a host: ssh-agent's, or a private key file's (which may not exist). */
export type KeySource = {agent: string} | {file: string}

/**
 * The keys to offer a host `ssh` resolved, in order: IdentityFile's; then, unless
 * IdentitiesOnly, ssh-agent's and ML_SSH_KEY; then, when the config names no IdentityFile,
 * ~/.ssh/id_ed25519, id_ecdsa and id_rsa. The same for targets, stores and git remotes.
 */
export function keySources(ssh: Pick<ResolvedSsh, 'identityFiles' | 'identitiesOnly' | 'defaultKeys'>, env: {SSH_AUTH_SOCK?: string; ML_SSH_KEY?: string}, home: string): KeySource[] {
  const sources: KeySource[] = ssh.identityFiles.map((file) => ({file}))
  if (!ssh.identitiesOnly) {
    if (env.SSH_AUTH_SOCK) sources.push({agent: env.SSH_AUTH_SOCK})
    if (env.ML_SSH_KEY) sources.push({file: env.ML_SSH_KEY})
  }
  if (ssh.defaultKeys) sources.push(...['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => ({file: path.join(home, '.ssh', f)})))
  const seen = new Set<string>()
  return sources.filter((source) => !('file' in source) || (!seen.has(source.file) && Boolean(seen.add(source.file))))
}

/** CanonicalizeHostName makes the parser look names up with nslookup: ml does not canonicalize, and stays pure. */
function dropCanonicalization(lines: SSHConfig): void {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]
    if (!('param' in line)) continue
    if (/^canonicalizehostname$/i.test(line.param)) lines.splice(i, 1)
    else if ('config' in line) dropCanonicalization(line.config)
  }
}

/** ssh_config's %-tokens that ml knows (%% and those in `values`); others are left as written. */
function expand(text: string, values: Record<string, string>): string {
  return text.replace(/%(.)/g, (all, token: string) => (token === '%' ? '%' : values[token] ?? all))
}

function parsePort(text: string, what: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN
  if (!(port > 0 && port < 65_536)) throw new MlError('INVALID_ARGUMENT', `${what} is not a port number.`)
  return port
}

/** `[user@]host[:port]`, `[user@][v6]:port` or `ssh://[user@]host[:port]`. */
export function parseJumpHop(text: string, alias: string): JumpHop {
  const what = `ProxyJump ${text} (for ${alias} in ~/.ssh/config)`
  const spec = text.replace(/^ssh:\/\//i, '').replace(/\/$/, '')
  const at = spec.lastIndexOf('@')
  const user = at > 0 ? spec.slice(0, at) : undefined
  const rest = spec.slice(at + 1)
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:[\]]+)(?::(\d+))?$/.exec(rest)
  if (!match || /[\s/]/.test(rest) || rest.startsWith('-')) throw new MlError('INVALID_ARGUMENT', `${what} is not [user@]host[:port].`)
  return {host: match[1], ...match[2] !== undefined && {port: parsePort(match[2], what)}, ...user !== undefined && {user}}
}
