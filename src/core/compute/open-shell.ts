import {LocalShell, type Shell} from '../../ssh/shell.js'
import {type ConnectOptions, connectSsh, type SshAuth} from '../../ssh/ssh-shell.js'
import type {ComputeTarget} from './targets.js'

/**
 * The shell a target's commands run in: over ssh when it names a host (a Host alias of
 * ~/.ssh/config works as with `ssh`; the target's own port, user and key win), else this machine's.
 */
export function openShell(target: ComputeTarget, auth: SshAuth, options?: Omit<ConnectOptions, 'codes'>): Promise<Shell> {
  if (target.host) return connectSsh({host: target.host, port: target.port, user: target.user, identity: target.identity}, auth, options)
  return Promise.resolve(new LocalShell(auth.env, auth.home))
}
