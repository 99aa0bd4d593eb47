import {isIP} from 'node:net'
import path from 'node:path'
import type NodeGitModule from 'nodegit'
import {MlError} from '../shared/errors.js'
import type {ResolvedSsh} from '../shared/ssh-config-resolve.js'
import {checkKnownHosts, fingerprint, hostEntryName, keyType, probeHostKey} from './known-hosts.js'
import type {NodeGit} from './nodegit.js'
import type {GitRoute} from './ssh-route.js'

/**
 * libgit2's certificate callback for a server it could not verify itself: null when the
 * server is to be trusted after all, else the error to fail with. A TLS certificate libgit2
 * refused is refused; an SSH host key is looked up as `ssh` would (in the route ~/.ssh/config
 * gave: its UserKnownHostsFile and HostKeyAlias, read through its jump hosts' tunnel), and in
 * ML_SSH_KNOWN_HOSTS too.
 */
export async function checkServer(Git: NodeGit, cert: NodeGitModule.Cert, host: string, route: GitRoute, home: string, knownHosts?: string): Promise<MlError | null> {
  if ((cert as unknown as {certType(): number}).certType() === Git.Cert.TYPE.HOSTKEY_LIBSSH2) {
    const ssh = route.ssh ?? {host, port: 22, knownHostsFiles: null}
    const probe = route.via ?? ssh
    let key: Buffer
    try {
      key = await probeHostKey(probe.host, probe.port)
    } catch (error) {
      return new MlError('HOST_KEY_UNKNOWN', `The SSH host key of ${hostEntryName(ssh.host, ssh.port)} could not be checked (${(error as Error).message}).`)
    }
    return resolvedHostKeyProblem(ssh, key, home, knownHosts)
  }
  const byIp = isIP(host) ? ' Certificates are matched by host name, so use the server\'s name rather than its IP address.' : ''
  return new MlError('TLS_CERT_INVALID', `The TLS certificate of ${host} is not trusted; if the server uses its own CA, name the CA file in ML_SSL_CA_FILE (or git's http.sslCAInfo).${byIp}`)
}

/**
 * hostKeyProblem for the host `ssh` resolved, looked up as ssh would: in its UserKnownHostsFile
 * files (else ~/.ssh/known_hosts) and ML_SSH_KNOWN_HOSTS (`knownHosts`), under its HostKeyAlias
 * when it has one. For git remotes, targets and stores alike.
 */
export function resolvedHostKeyProblem(ssh: Pick<ResolvedSsh, 'host' | 'port' | 'knownHostsFiles' | 'hostKeyAlias'>, key: Buffer, home: string, knownHosts?: string): Promise<MlError | null> {
  const files = [...ssh.knownHostsFiles ?? [path.join(home, '.ssh', 'known_hosts')], knownHosts].filter((f): f is string => Boolean(f))
  return ssh.hostKeyAlias ? hostKeyProblem(ssh.hostKeyAlias, 22, key, files) : hostKeyProblem(ssh.host, ssh.port, key, files)
}

/** Why the SSH host key `key` of `host`:`port` is not to be trusted by the known_hosts `files`, or null when it is. */
export async function hostKeyProblem(host: string, port: number, key: Buffer, files: string[]): Promise<MlError | null> {
  const verdict = await checkKnownHosts(files, host, port, key)
  if (verdict === 'known') return null
  const what = `${keyType(key)} key ${fingerprint(key)}`
  const where = hostEntryName(host, port)
  return verdict === 'changed'
    ? new MlError('HOST_KEY_CHANGED', `The SSH host key of ${where} has changed (it now sends the ${what}); this may be an attack. If the change is expected, replace its line in ~/.ssh/known_hosts.`)
    : new MlError('HOST_KEY_UNKNOWN', `The SSH host ${where} is not known (it sends the ${what}); if that is right, add it with \`ssh-keyscan${port === 22 ? '' : ` -p ${port}`} ${host} >> ~/.ssh/known_hosts\`.`)
}
