import type {Command} from '@oclif/core/command'
import type {DataPushResult} from '../core/remote/data-push.js'
import type {PushResult, RemoteSetResult} from '../core/remote/remote.js'
import {formatBytes} from '../shared/format-bytes.js'
import {plural} from '../shared/plural.js'

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

/** Prints what a push sent to the artifact store. */
export function reportDataPush(command: Command, data: DataPushResult): void {
  command.log(data.sent === 0 ? `The store ${data.store} has every data file and large output the runs need.` : `Sent ${plural(data.sent, 'file')} (${formatBytes(data.bytes)}) to the store ${data.store}.`)
  if (data.unavailable.length > 0) {
    command.logToStderr(`Warning: ${plural(data.unavailable.length, 'file')} the runs read changed or went before the store had them, so it lacks them: ${data.unavailable.slice(0, 5).map((o) => o.id.slice(0, 12)).join(', ')}${data.unavailable.length > 5 ? ', ...' : ''}.`)
  }
}
