import {setTimeout as sleep} from 'node:timers/promises'
import {MlError} from '../../shared/errors.js'
import {findProject} from '../project/project.js'
import {openShell} from '../compute/open-shell.js'
import {remoteRuns} from '../compute/remote-runs.js'
import {placeOf} from '../compute/run-folder.js'
import {cancelSlurmJobs} from '../compute/slurm.js'
import {stopOnHost} from '../compute/ssh-run.js'
import {type SyncOptions, syncRuns} from '../compute/sync.js'
import {loadTarget} from '../compute/targets.js'
import {readRunAt, resolveRunId, type RunRecord} from '../runs/runs.js'
import {openHistory} from '../snapshot/open-history.js'
import {locallyQueued} from './queue-marks.js'
import {removeFromQueue} from './queue.js'

/**
 * `ml experiment cancel RUN...`: a run on Slurm is scancel'ed, a run on an ssh host is stopped
 * there (SIGINT, then SIGTERM and SIGKILL), a run queued here is taken off the queue; each is
 * then recorded as Canceled. Every run is checked first: if one cannot be canceled, none is.
 * Only runs submitted from this machine are acted on (see compute/remote-runs.ts).
 */
export async function cancelRuns(cwd: string, ids: string[], options: Omit<SyncOptions, 'runIds'>): Promise<RunRecord[]> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const remote = new Map((await remoteRuns(project)).map((r) => [r.runId, r]))
  const queuedHere = await locallyQueued(project)
  const runs: RunRecord[] = []
  for (const idOrPrefix of ids) {
    const {run} = await readRunAt(repo, await resolveRunId(repo, idOrPrefix))
    const active = run.status === 'Queued' || run.status === 'Running'
    if (!active || !(remote.has(run.runId) || (run.status === 'Queued' && queuedHere.has(run.runId)))) {
      throw new MlError('RUN_NOT_CANCELABLE', active
        ? `Run ${run.runId} is ${run.status} ${run.pid ? `in ml process ${run.pid} on ${run.host}` : `on ${run.host}`}, not submitted to a target from here; stop it where it runs (Ctrl-C there). Nothing was canceled.`
        : `Run ${run.runId} is ${run.status}; only queued or running runs can be canceled. Nothing was canceled.`)
    }
    runs.push(run)
  }
  const local = runs.filter((r) => !remote.has(r.runId)).map((r) => r.runId)
  const canceled = local.length > 0 ? await removeFromQueue(cwd, local) : []
  const elsewhere = runs.filter((r) => remote.has(r.runId))
  for (const run of elsewhere) {
    const handle = remote.get(run.runId)!
    const target = await loadTarget(project, handle.target)
    const shell = await openShell(target, options.auth)
    try {
      if (handle.jobId) await cancelSlurmJobs(shell, [handle.jobId])
      else await stopOnHost(shell, placeOf(handle.base, handle.runId))
    } finally {
      shell.close()
    }
  }
  if (elsewhere.length > 0) {
    // Slurm takes a moment to call a job CANCELLED; a submit following its run records it itself.
    // A run recorded as ended (by this sync or by that submit) is forgotten from compute-runs/.
    const pending = new Set(elsewhere.map((r) => r.runId))
    for (let i = 0; i < 20 && pending.size > 0; i++) {
      await syncRuns(cwd, {...options, runIds: [...pending]})
      const left = new Set((await remoteRuns(project)).map((r) => r.runId))
      for (const id of pending) if (!left.has(id)) pending.delete(id)
      if (pending.size > 0) await sleep(500)
    }
  }
  for (const run of elsewhere) canceled.push((await readRunAt(repo, run.runId)).run)
  return canceled
}
