import {userInfo} from 'node:os'
import {MlError} from '../shared/errors.js'
import {parseRemoteUrl} from '../shared/remote-url.js'
import {readSshConfig, resolveSshConfig, type ResolvedSsh} from '../shared/ssh-config-resolve.js'

/** A port on 127.0.0.1 that reaches an ssh host through its ProxyJump hops (src/ssh's tunnelThroughJumps). */
export type JumpTunnel = (route: ResolvedSsh) => Promise<{port: number; close(): Promise<void>}>

/** The URL libgit2 is given for a remote, and for an ssh remote where `ssh` would connect. */
export interface GitRoute {
  url: string
  ssh?: ResolvedSsh
  /** Where libgit2 connects when that is not `ssh`'s host: the tunnel through its jump hosts. */
  via?: {host: string; port: number}
  /** Closes the tunnel, if there is one. */
  close(): Promise<void>
}

const SSH_SCHEMES = new Set(['ssh', 'ssh+git', 'git+ssh'])

/**
 * An ssh remote's host resolved against ~/.ssh/config as `ssh` would (HostName, Port, User,
 * IdentityFile, IdentitiesOnly, UserKnownHostsFile, HostKeyAlias, ProxyJump), because libgit2
 * connects by itself and reads no ssh config: `git@box:repo.git` then reaches the same server
 * `git clone` would. A host behind ProxyJump is reached through `jump`'s tunnel. The URL as the
 * user wrote it stays the remote's; only libgit2 sees the resolved one.
 */
export async function gitRoute(url: string, home: string, jump?: JumpTunnel): Promise<GitRoute> {
  const close = async () => {}
  const parsed = parseRemoteUrl(url)
  if (!SSH_SCHEMES.has(parsed.scheme)) return {url, close}
  const ssh = resolveSshConfig(await readSshConfig(home), parsed.host, {port: parsed.port, user: parsed.user}, {home, localUser: userInfo().username})
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url)
  // scp-like paths are relative to the login's home (`box:repo.git`), as `~/` says in an ssh:// URL.
  const where = scheme || parsed.path.startsWith('/') ? parsed.path : `/${parsed.path.startsWith('~') ? '' : '~/'}${parsed.path}`
  const at = (host: string, port: number) => `ssh://${encodeURIComponent(ssh.user)}@${host.includes(':') ? `[${host}]` : host}:${port}${where}`
  if (ssh.proxyJump.length === 0) return {url: at(ssh.host, ssh.port), ssh, close}
  if (!jump) throw new MlError('INVALID_ARGUMENT', `${parsed.host} has a ProxyJump in ~/.ssh/config, which this command cannot go through; give the remote a URL it reaches directly.`)
  const tunnel = await jump(ssh)
  return {url: at('127.0.0.1', tunnel.port), ssh, via: {host: '127.0.0.1', port: tunnel.port}, close: () => tunnel.close()}
}
