import {promises as fs} from 'node:fs'
import {hostname} from 'node:os'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {isMlError} from '../../shared/errors.js'
import {mlPath} from '../project/layout.js'
import {withComputeSync} from '../project/lock.js'
import {isAlive} from '../../shared/is-alive.js'
import {findProject, type Project} from '../project/project.js'
import {pushQuietly} from '../remote/push-quietly.js'
import {readRunAt, saveRunOver, type RunRecord} from '../runs/runs.js'
import {openHistory} from '../snapshot/open-history.js'
import {endedUnrecorded, readExit, readStarted} from './collect-run.js'
import {finishRemoteRun, type FinishOptions} from './finish-remote-run.js'
import {openShell} from './open-shell.js'
import {forgetRemoteRun, type RemoteRun, remoteRuns} from './remote-runs.js'
import {placeOf} from './run-folder.js'
import type {Shell} from '../../ssh/shell.js'
import {type SlurmJob, slurmEnded, slurmEndReason, slurmJobs, slurmRunning} from './slurm.js'
import type {SshAuth} from '../../ssh/ssh-shell.js'
import {runAlive} from './ssh-run.js'
import {loadTarget, type ComputeTarget} from './targets.js'

export interface SyncOptions extends FinishOptions {
  auth: SshAuth
  /** Only these runs (full ids). */
  runIds?: string[]
  /** How long to wait for a target's ssh host to answer (15 s). */
  timeoutMs?: number
}

export interface SyncResult {
  /** Runs on targets that were looked at. */
  checked: number
  /** Their records that changed (started, or ended and brought back). */
  changed: RunRecord[]
}

/**
 * `ml history sync`: looks at every run this machine submitted to a target and has not recorded
 * as ended, and records what happened: a Slurm job that started is Running, one that ended (or
 * an ssh run whose exit file appeared, or whose process is gone) is brought back and recorded.
 * A run an ml process here still follows (a submit) is left to it. A target that cannot be
 * reached is a warning; its runs are looked at next time.
 */
export async function syncRuns(cwd: string, options: SyncOptions): Promise<SyncResult> {
  return syncProject(await findProject(cwd), options)
}

function syncProject(project: Project, options: SyncOptions): Promise<SyncResult> {
  return withComputeSync(project, async () => {
    await stampSync(project)
    const runs = (await remoteRuns(project)).filter((r) => (!options.runIds || options.runIds.includes(r.runId)) && !followedHere(r))
    const result: SyncResult = {checked: 0, changed: []}
    if (runs.length === 0) return result
    const repo = await openHistory(project)
    const byTarget = new Map<string, RemoteRun[]>()
    for (const run of runs) byTarget.set(run.target, [...byTarget.get(run.target) ?? [], run])
    for (const [name, group] of byTarget) {
      let target: ComputeTarget
      let shell: Shell
      try {
        target = await loadTarget(project, name)
        shell = await openShell(target, options.auth, options.timeoutMs)
      } catch (error) {
        if (!isMlError(error)) throw error
        options.onWarning?.(`${group.length} run${group.length === 1 ? '' : 's'} on ${name} could not be looked at: ${error.message}`)
        continue
      }
      try {
        const jobs = target.type === 'slurm' ? await slurmJobs(shell, group.flatMap((r) => r.jobId ?? [])) : undefined
        for (const run of group) {
          result.checked++
          const changed = await syncRemoteRun(project, repo, shell, run, jobs, options)
          if (changed) result.changed.push(changed)
        }
      } catch (error) {
        if (!isMlError(error, 'COMPUTE_CONNECTION_LOST') && !isMlError(error, 'COMPUTE_ERROR')) throw error
        options.onWarning?.(error.message)
      } finally {
        shell.close()
      }
    }
    if (result.changed.length > 0) await pushQuietly(project, repo, options)
    return result
  })
}

/** A run whose submit (or submit --wait) still follows it from this machine. */
function followedHere(run: RemoteRun): boolean {
  return Boolean(run.driver && run.driver.host === hostname() && run.driver.pid !== process.pid && isAlive(run.driver.pid))
}

/**
 * Looks at one run on its target (`jobs`: what squeue said, for a Slurm target) and records what
 * changed: the record after, or null when nothing did.
 */
export async function syncRemoteRun(project: Project, repo: ShadowRepo, shell: Shell, run: RemoteRun, jobs: Map<string, SlurmJob> | undefined, options: FinishOptions): Promise<RunRecord | null> {
  let at
  try {
    at = await readRunAt(repo, run.runId)
  } catch (error) {
    if (!isMlError(error, 'RUN_NOT_FOUND')) throw error
    await forgetRemoteRun(project, run.runId) // submitted, then killed before it was recorded
    return null
  }
  const {run: record, commit} = at
  if (record.status !== 'Queued' && record.status !== 'Running') {
    await forgetRemoteRun(project, run.runId)
    return null
  }
  const place = placeOf(run.base, run.runId)
  const exit = await readExit(shell, place)
  const started = await readStarted(shell, place)
  const job = run.jobId ? jobs?.get(run.jobId) : undefined
  // A Slurm job has ended when Slurm says so (its exit file comes before a TIMEOUT or CANCELLED
  // state does), or when Slurm has forgotten it.
  const ended = run.jobId ? !job || slurmEnded(job) : Boolean(exit) || !(await runAlive(shell, place))
  if (!ended) {
    if (record.status === 'Queued' && job && slurmRunning(job)) {
      Object.assign(record, {status: 'Running', startTimeUtc: (started ?? new Date()).toISOString(), host: job.node || record.host})
      return saveQuietly(repo, commit, record)
    }
    return null
  }
  const reason = job ? slurmEndReason(job) : null
  const gone = !run.jobId ? endedUnrecorded(shell.where)
    : job ? `Slurm ended job ${run.jobId} as ${job.state}${job.reason && job.reason !== 'None' ? ` (${job.reason})` : ''} before its script recorded how it ended.`
    : `Slurm no longer knows job ${run.jobId}, and it left no exit status.`
  if (job?.node && record.status === 'Queued') record.host = job.node
  try {
    return await finishRemoteRun(project, repo, shell, place, record, commit, {
      started: started ?? new Date(record.startTimeUtc),
      ended: exit?.ended ?? new Date(),
      exitCode: exit?.code ?? (started ? 137 : undefined),
      canceled: job?.state === 'CANCELLED',
      error: reason ?? (exit ? undefined : job?.state === 'CANCELLED' ? 'Canceled with `ml experiment cancel` (scancel).' : gone),
    }, options)
  } catch (error) {
    if (!isMlError(error, 'CONCURRENT_UPDATE')) throw error
    return null // another process recorded it meanwhile
  }
}

async function saveQuietly(repo: ShadowRepo, commit: string, record: RunRecord): Promise<RunRecord | null> {
  try {
    await saveRunOver(repo, commit, record)
    return record
  } catch (error) {
    if (!isMlError(error, 'CONCURRENT_UPDATE')) throw error
    return null
  }
}

/** How often `history list` looks at the targets' runs at most. */
const SYNC_EVERY_MS = 5000

/**
 * The sync `history list` does first: only when runs submitted from here are still out on
 * targets, and not more often than every SYNC_EVERY_MS; another sync at work is not waited for.
 */
export async function syncIfDue(cwd: string, options: SyncOptions): Promise<SyncResult | null> {
  const project = await findProject(cwd)
  if ((await remoteRuns(project)).length === 0) return null
  const last = await fs.stat(syncStampFile(project)).then((s) => s.mtimeMs, () => 0)
  if (Date.now() - last < SYNC_EVERY_MS) return null
  try {
    return await syncProject(project, options)
  } catch (error) {
    if (isMlError(error, 'LOCKED')) return null
    throw error
  }
}

function syncStampFile(project: Project): string {
  return mlPath(project.dir, 'computeRuns', 'synced')
}

async function stampSync(project: Project): Promise<void> {
  await fs.mkdir(mlPath(project.dir, 'computeRuns'), {recursive: true})
  await fs.writeFile(syncStampFile(project), '')
}
