import {LocalShell, type Shell} from '../../ssh/shell.js'
import {connectSsh, type SshAuth} from '../../ssh/ssh-shell.js'
import type {ComputeTarget} from './targets.js'

/** The shell a target's commands run in: over ssh when it names a host, else this machine's. */
export function openShell(target: ComputeTarget, auth: SshAuth, timeoutMs?: number): Promise<Shell> {
  if (target.host) return connectSsh({host: target.host, port: target.port, user: target.user, identity: target.identity}, auth, timeoutMs)
  return Promise.resolve(new LocalShell(auth.env, auth.home))
}
