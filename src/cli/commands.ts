import type {Command} from '@oclif/core/command'
import type {Config} from '@oclif/core/config'

type CommandClass = typeof Command & {run(argv?: string[], config?: Config): Promise<unknown>}

/**
 * Every command by its id, with the import of its module. test/cli.test.ts checks this list
 * against src/commands.
 */
export const MODULES: Record<string, () => Promise<{default: CommandClass}>> = {
  'compute:attach': () => import('../commands/compute/attach.js'),
  'compute:check': () => import('../commands/compute/check.js'),
  'compute:detach': () => import('../commands/compute/detach.js'),
  'compute:list': () => import('../commands/compute/list.js'),
  'data:gc': () => import('../commands/data/gc.js'),
  'data:log': () => import('../commands/data/log.js'),
  'data:pull': () => import('../commands/data/pull.js'),
  'data:push': () => import('../commands/data/push.js'),
  'data:status': () => import('../commands/data/status.js'),
  'data:track': () => import('../commands/data/track.js'),
  'data:untrack': () => import('../commands/data/untrack.js'),
  'experiment:cancel': () => import('../commands/experiment/cancel.js'),
  'experiment:submit': () => import('../commands/experiment/submit.js'),
  'experiment:sweep': () => import('../commands/experiment/sweep.js'),
  'history:compare': () => import('../commands/history/compare.js'),
  'history:diff': () => import('../commands/history/diff.js'),
  'history:download': () => import('../commands/history/download.js'),
  'history:info': () => import('../commands/history/info.js'),
  'history:last': () => import('../commands/history/last.js'),
  'history:list': () => import('../commands/history/list.js'),
  'history:log': () => import('../commands/history/log.js'),
  'history:metrics': () => import('../commands/history/metrics.js'),
  'history:pull': () => import('../commands/history/pull.js'),
  'history:push': () => import('../commands/history/push.js'),
  'history:sync': () => import('../commands/history/sync.js'),
  'project:clone': () => import('../commands/project/clone.js'),
  'project:files': () => import('../commands/project/files.js'),
  'project:init': () => import('../commands/project/init.js'),
  'project:restore': () => import('../commands/project/restore.js'),
  'project:snapshot': () => import('../commands/project/snapshot.js'),
  'project:update': () => import('../commands/project/update.js'),
  'queue:remove': () => import('../commands/queue/remove.js'),
  'queue:start': () => import('../commands/queue/start.js'),
  'queue:status': () => import('../commands/queue/status.js'),
  'queue:stop': () => import('../commands/queue/stop.js'),
  ui: () => import('../commands/ui.js'),
}

/**
 * The commands for oclif's "explicit" discovery, which lets `npm run build` bundle the CLI into
 * a few files (loading some 300 modules one by one cost a third of a start-up). Each is a
 * stand-in whose `run` imports its command's module, so that a start-up compiles and runs the
 * top level of one command's code, not all of it; oclif reads the flags and help texts from
 * oclif.manifest.json, which bin/manifest.js writes from the real classes.
 */
export const COMMANDS = Object.fromEntries(Object.entries(MODULES).map(([id, load]) => [id, {
  async run(argv?: string[], config?: Config): Promise<unknown> {
    return (await load()).default.run(argv, config)
  },
}]))
