import type {Command} from '@oclif/core/command'
import type {PushResult, RemoteSetResult} from '../core/remote/remote.js'

/** Prints what a push did: one line, or one line per refused ref. */
export function reportPush(command: Command, remote: string, push: PushResult): void {
  if (push.rejected.length === 0) {
    command.log(push.pushed.length === 0 ? `Everything is already on ${remote}.` : `Pushed ${push.pushed.length} refs to ${remote}.`)
    return
  }
  for (const r of push.rejected) command.logToStderr(`Warning: ${remote} refused ${r.ref}: ${r.error}`)
  command.logToStderr(`${push.pushed.length} refs pushed, ${push.rejected.length} refused; run \`ml history push\` again once the remote accepts them.`)
}

/** Prints the outcome of associating a project with a remote. */
export function reportRemote(command: Command, remote: string, result: RemoteSetResult): void {
  command.log(`Remote:          ${remote}`)
  if (result.previousOrigin) command.log(`The origin of your repo was ${result.previousOrigin}; it is now the remote above.`)
  reportPush(command, remote, result.push)
}
