import ComputeAttach from '../commands/compute/attach.js'
import ComputeCheck from '../commands/compute/check.js'
import ComputeDetach from '../commands/compute/detach.js'
import ComputeList from '../commands/compute/list.js'
import ExperimentCancel from '../commands/experiment/cancel.js'
import ExperimentSubmit from '../commands/experiment/submit.js'
import ExperimentSweep from '../commands/experiment/sweep.js'
import HistoryCompare from '../commands/history/compare.js'
import HistoryDiff from '../commands/history/diff.js'
import HistoryDownload from '../commands/history/download.js'
import HistoryInfo from '../commands/history/info.js'
import HistoryLast from '../commands/history/last.js'
import HistoryList from '../commands/history/list.js'
import HistoryLog from '../commands/history/log.js'
import HistoryMetrics from '../commands/history/metrics.js'
import HistoryPull from '../commands/history/pull.js'
import HistoryPush from '../commands/history/push.js'
import HistorySync from '../commands/history/sync.js'
import ProjectClone from '../commands/project/clone.js'
import ProjectFiles from '../commands/project/files.js'
import ProjectInit from '../commands/project/init.js'
import ProjectRestore from '../commands/project/restore.js'
import ProjectSnapshot from '../commands/project/snapshot.js'
import ProjectUpdate from '../commands/project/update.js'
import QueueRemove from '../commands/queue/remove.js'
import QueueStart from '../commands/queue/start.js'
import QueueStatus from '../commands/queue/status.js'
import QueueStop from '../commands/queue/stop.js'
import Ui from '../commands/ui.js'

/**
 * Every command by its id: oclif's "explicit" discovery, which lets `npm run build` bundle the
 * CLI into a few files (loading some 300 modules one by one cost a third of a start-up).
 * test/cli.test.ts checks this list against src/commands.
 */
export const COMMANDS = {
  'compute:attach': ComputeAttach,
  'compute:check': ComputeCheck,
  'compute:detach': ComputeDetach,
  'compute:list': ComputeList,
  'experiment:cancel': ExperimentCancel,
  'experiment:submit': ExperimentSubmit,
  'experiment:sweep': ExperimentSweep,
  'history:compare': HistoryCompare,
  'history:diff': HistoryDiff,
  'history:download': HistoryDownload,
  'history:info': HistoryInfo,
  'history:last': HistoryLast,
  'history:list': HistoryList,
  'history:log': HistoryLog,
  'history:metrics': HistoryMetrics,
  'history:pull': HistoryPull,
  'history:push': HistoryPush,
  'history:sync': HistorySync,
  'project:clone': ProjectClone,
  'project:files': ProjectFiles,
  'project:init': ProjectInit,
  'project:restore': ProjectRestore,
  'project:snapshot': ProjectSnapshot,
  'project:update': ProjectUpdate,
  'queue:remove': QueueRemove,
  'queue:start': QueueStart,
  'queue:status': QueueStatus,
  'queue:stop': QueueStop,
  ui: Ui,
}
