import {userInfo} from 'node:os'
import {MlError} from '../shared/errors.js'
import {parseRemoteUrl} from '../shared/remote-url.js'
import {readSshConfig, resolveSshConfig, type ResolvedSsh} from '../shared/ssh-config-resolve.js'

/** The URL libgit2 is given for a remote, and for an ssh remote where `ssh` would connect. */
export interface GitRoute {
  url: string
  ssh?: ResolvedSsh
}

const SSH_SCHEMES = new Set(['ssh', 'ssh+git', 'git+ssh'])

/**
 * An ssh remote's host resolved against ~/.ssh/config as `ssh` would (HostName, Port, User,
 * IdentityFile, IdentitiesOnly, UserKnownHostsFile, HostKeyAlias), because libgit2 connects by
 * itself and reads no ssh config: `git@box:repo.git` then reaches the same server `git clone`
 * would. The URL as the user wrote it stays the remote's; only libgit2 sees the resolved one.
 */
export async function gitRoute(url: string, home: string): Promise<GitRoute> {
  const parsed = parseRemoteUrl(url)
  if (!SSH_SCHEMES.has(parsed.scheme)) return {url}
  const ssh = resolveSshConfig(await readSshConfig(home), parsed.host, {port: parsed.port, user: parsed.user}, {home, localUser: userInfo().username})
  if (ssh.proxyJump.length > 0) {
    throw new MlError('INVALID_ARGUMENT', `${parsed.host} has a ProxyJump in ~/.ssh/config, which ml's git transport cannot go through; give the remote a URL it reaches directly.`)
  }
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url)
  // scp-like paths are relative to the login's home (`box:repo.git`), as `~/` says in an ssh:// URL.
  const where = scheme || parsed.path.startsWith('/') ? parsed.path : `/${parsed.path.startsWith('~') ? '' : '~/'}${parsed.path}`
  const host = ssh.host.includes(':') ? `[${ssh.host}]` : ssh.host
  return {url: `ssh://${encodeURIComponent(ssh.user)}@${host}:${ssh.port}${where}`, ssh}
}
