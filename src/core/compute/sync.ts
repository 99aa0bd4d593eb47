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
import {DOWN_FOR_MS, markDown, markUp, type TargetDown, targetsDown} from './target-health.js'

export interface SyncOptions extends FinishOptions {
  auth: SshAuth
  /** Only these runs (full ids). */
  runIds?: string[]
  /** How long a target's ssh login may take (15 s). */
  timeoutMs?: number
  /** How long a target's ssh host has to accept the connection and greet (5 s; 1 s for syncIfDue). */
  connectTimeoutMs?: number
  /** Leave alone the targets that did not answer lately (.ml/target-health.json): syncIfDue's default. */
  skipDown?: boolean
  /** Outcomes by target go into the result only, not to onWarning (`history sync` prints a line each). */
  perTarget?: boolean
}

/** What one sync did on one target. */
export interface TargetSync {
  name: string
  /** Runs out on it that the sync was to look at. */
  runs: number
  checked: number
  changed: number
  /** Why it (or some of its runs) could not be looked at. */
  problem?: string
  /** It did not answer now: remembered, so that `history list` leaves it alone for a while. */
  unreachable?: boolean
  /** Not tried: it did not answer lately (skipDown). */
  skipped?: TargetDown
}

export interface SyncResult {
  /** Runs on targets that were looked at. */
  checked: number
  /** Their records that changed (started, or ended and brought back). */
  changed: RunRecord[]
  /** Each target that has runs out, in name order. */
  targets: TargetSync[]
}

/**
 * `ml history sync`: looks at every run this machine submitted to a target and has not recorded
 * as ended, and records what happened: a Slurm job that started is Running, one that ended (or
 * an ssh run whose exit file appeared, or whose process is gone) is brought back and recorded.
 * A run an ml process here still follows (a submit) is left to it. A target that cannot be
 * reached is a warning (or its TargetSync's problem); its runs are looked at next time, and one
 * that did not answer is remembered as down (target-health.ts).
 */
export async function syncRuns(cwd: string, options: SyncOptions): Promise<SyncResult> {
  return syncProject(await findProject(cwd), options)
}

function syncProject(project: Project, options: SyncOptions): Promise<SyncResult> {
  return withComputeSync(project, async () => {
    await stampSync(project)
    const runs = (await remoteRuns(project)).filter((r) => (!options.runIds || options.runIds.includes(r.runId)) && !followedHere(r))
    const result: SyncResult = {checked: 0, changed: [], targets: []}
    if (runs.length === 0) return result
    // Opened once a target answers: a listing whose targets are all down loads no git.
    let repo: ShadowRepo | undefined
    const byTarget = new Map<string, RemoteRun[]>()
    for (const run of runs) byTarget.set(run.target, [...byTarget.get(run.target) ?? [], run])
    const down = await targetsDown(project)
    for (const [name, group] of [...byTarget].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const outcome: TargetSync = {name, runs: group.length, checked: 0, changed: 0}
      result.targets.push(outcome)
      const runsOn = `${group.length} run${group.length === 1 ? '' : 's'} on ${name}`
      const warn = (message: string) => (options.perTarget ? undefined : options.onWarning?.(message))
      const now = Date.now()
      const lately = down[name]
      if (options.skipDown && lately && lately.downUntil > now && lately.since <= now) {
        outcome.skipped = lately
        warn(`${runsOn} ${group.length === 1 ? 'was' : 'were'} not looked at: ${name} did not answer ${seconds(now - lately.since)} ago; it is tried again in ${seconds(lately.downUntil - now)}, or now by \`ml history sync\`.`)
        continue
      }
      let target: ComputeTarget
      let shell: Shell
      try {
        target = await loadTarget(project, name)
        shell = await openShell(target, options.auth, {timeoutMs: options.timeoutMs, connectTimeoutMs: options.connectTimeoutMs})
      } catch (error) {
        if (!isMlError(error)) throw error
        outcome.problem = error.message
        if (isMlError(error, 'COMPUTE_UNREACHABLE')) {
          outcome.unreachable = true
          await markDown(project, name, error.message, now)
        }
        warn(`${runsOn} could not be looked at: ${error.message}${outcome.unreachable && options.skipDown ? ` It is not tried again for ${seconds(DOWN_FOR_MS)} (\`ml history sync\` tries it now).` : ''}`)
        continue
      }
      if (lately) await markUp(project, name)
      try {
        const jobs = target.type === 'slurm' ? await slurmJobs(shell, group.flatMap((r) => r.jobId ?? [])) : undefined
        for (const run of group) {
          result.checked++
          outcome.checked++
          repo ??= await openHistory(project)
          const changed = await syncRemoteRun(project, repo, shell, run, jobs, options)
          if (changed) {
            result.changed.push(changed)
            outcome.changed++
          }
        }
      } catch (error) {
        if (!isMlError(error, 'COMPUTE_CONNECTION_LOST') && !isMlError(error, 'COMPUTE_ERROR')) throw error
        outcome.problem = error.message
        warn(error.message)
      } finally {
        shell.close()
      }
    }
    if (repo && result.changed.length > 0) await pushQuietly(project, repo, options)
    return result
  })
}

/** `12 s`, for warnings. */
function seconds(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))} s`
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
/** How long a target has to answer a listing's sync: a live host greets in milliseconds. */
const CONNECT_TIMEOUT_MS = 1000

/**
 * The sync `history list` does first: only when runs submitted from here are still out on
 * targets, and not more often than every SYNC_EVERY_MS; another sync at work is not waited for.
 * A target gets CONNECT_TIMEOUT_MS to answer, and one that did not answer lately is left alone
 * (skipDown), so that a dead host costs a listing about a second once, then nothing.
 */
export async function syncIfDue(cwd: string, options: SyncOptions): Promise<SyncResult | null> {
  const project = await findProject(cwd)
  if ((await remoteRuns(project)).length === 0) return null
  const last = await fs.stat(syncStampFile(project)).then((s) => s.mtimeMs, () => 0)
  if (Date.now() - last < SYNC_EVERY_MS) return null
  try {
    return await syncProject(project, {...options, skipDown: options.skipDown ?? true, connectTimeoutMs: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS})
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
