import {hostname} from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import type {Project} from '../project/project.js'
import {pushQuietly} from '../remote/push-quietly.js'
import {getRunFile, LOG_FILE, readRun, type RunRecord} from '../runs/runs.js'
import {streamLog} from './collect-run.js'
import {saveRemoteRun} from './remote-runs.js'
import {placeOf} from './run-folder.js'
import type {Shell} from '../../ssh/shell.js'
import {cancelSlurmJobs, slurmJobs} from './slurm.js'
import type {ComputeRunOptions} from './ssh-run.js'
import {syncRemoteRun} from './sync.js'

/** How often a waiting submit asks Slurm about its job. */
const POLL_MS = 1000

/**
 * `submit --wait` on Slurm: follows the submitted run until it has ended and is recorded,
 * streaming its log while it runs. Aborting `signal` cancels the job (scancel) and waits for
 * Slurm to say so; the run is then recorded as Canceled.
 */
export async function waitForSlurmRun(project: Project, repo: ShadowRepo, shell: Shell, record: RunRecord, target: string, base: string, options: ComputeRunOptions): Promise<RunRecord> {
  const remote = {schema: 1 as const, runId: record.runId, target, base, jobId: record.properties['slurm.job_id'], driver: {pid: process.pid, host: hostname()}}
  await saveRemoteRun(project, remote)
  const place = placeOf(base, record.runId)
  let offset = 0
  let canceled = false
  let status = record.status
  for (;;) {
    if (options.signal?.aborted && !canceled) {
      canceled = true
      await cancelSlurmJobs(shell, [remote.jobId])
    }
    offset = await streamLog(shell, place, offset, options.onOutput)
    // A record another process changed meanwhile is not an error there: it is read again below.
    await syncRemoteRun(project, repo, shell, remote, await slurmJobs(shell, [remote.jobId]), options)
    const now = await readRun(repo, record.runId)
    if (now.status === 'Running' && status === 'Queued') options.onStart?.(now, options.snapshotCreated ?? false)
    status = now.status
    if (now.status !== 'Queued' && now.status !== 'Running') {
      // What the run wrote after the last look was brought back with it.
      const log = await getRunFile(repo, record.runId, LOG_FILE)
      if (log && log.length > offset) options.onOutput?.(log.subarray(offset), 'stdout')
      options.onScriptEnd?.()
      await pushQuietly(project, repo, options, now)
      return now
    }
    await sleep(POLL_MS)
  }
}
