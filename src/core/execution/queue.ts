import {setMaxListeners} from 'node:events'
import {hostname} from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'
import {isMlError, MlError} from '../../shared/errors.js'
import {type QueueWorker, readQueueWorker, withQueueWorker} from '../project/lock.js'
import {findProject, type Project} from '../project/project.js'
import {cachedRunList} from '../runs/run-cache.js'
import {readRunAt, resolveRunId, saveRunOver, type RunRecord} from '../runs/runs.js'
import {openHistory} from '../snapshot/open-history.js'
import {checkJobs, executeRun, type RunOptions} from './execute-run.js'
import {locallyQueued, unmarkQueued} from './queue-marks.js'
import {removeAbandonedWorkdirs} from './workdir.js'

export interface QueueOptions extends RunOptions {
  cwd: string
  /** How many runs at once. */
  jobs: number
  /** Keep waiting for new runs once the queue is empty (until stopped). */
  watch?: boolean
  /** Aborting starts no more runs; the running ones finish. (`signal` cancels them too.) */
  stop?: AbortSignal
  /** How often an idle worker looks for new runs. */
  pollMs?: number
  onRunStart?: (run: RunRecord) => void
  onRunEnd?: (run: RunRecord) => void
}

/**
 * `ml queue start`: runs the runs queued on this machine, oldest first, `jobs` at once, each
 * isolated, as the project's one worker. Returns once the queue is empty and nothing runs (with
 * `watch`, once stopped). A run is claimed by moving its record from Queued to Running only if
 * nobody changed it meanwhile, so a run removed from the queue is never started. A worker that
 * is killed leaves its running runs to be recorded as Failed (their pid is the worker's) and
 * the queued ones queued.
 */
export async function startQueue(options: QueueOptions): Promise<RunRecord[]> {
  const project = await findProject(options.cwd)
  checkJobs(options.jobs)
  // Every run in flight listens to the signals (its script, its environment's tools): jobs at once are many listeners, not a leak.
  for (const signal of [options.signal, options.stop]) if (signal) setMaxListeners(20 * options.jobs, signal)
  return withQueueWorker(project, options.jobs, async () => {
    await removeAbandonedWorkdirs(project)
    await pruneQueueMarks(project)
    const repo = await openHistory(project)
    const ended: RunRecord[] = []
    const failures: unknown[] = []
    const running = new Set<Promise<void>>()
    const tried = new Set<string>()
    const stopped = () => Boolean(options.stop?.aborted || options.signal?.aborted)
    for (;;) {
      while (!stopped() && running.size < options.jobs) {
        const next = (await queuedRuns(project)).find((run) => !tried.has(run.runId))
        if (!next) break
        tried.add(next.runId)
        const {run, commit} = await readRunAt(repo, next.runId)
        if (run.status !== 'Queued') {
          await unmarkQueued(project, run.runId)
          continue
        }
        const task = executeRun(project, async () => repo, run, {...options, claim: commit, onStart: (r) => options.onRunStart?.(r)})
          .finally(() => unmarkQueued(project, run.runId))
          .then((r) => {
            ended.push(r)
            options.onRunEnd?.(r)
          }, (error: unknown) => {
            // Removed from the queue (or claimed) between the read and the claim: not ours to run.
            if (!isMlError(error, 'CONCURRENT_UPDATE')) failures.push(error)
          })
          .finally(() => running.delete(task))
        running.add(task)
      }
      if (running.size === 0 && (!options.watch || stopped())) break
      await nextEvent(running, options.pollMs ?? 1000, [options.stop, options.signal])
    }
    if (failures.length > 0) throw failures[0]
    return ended
  })
}

/**
 * Waits until a run ends, `ms` pass, or one of `signals` that has not yet fired does. A signal
 * that fired before is not waited for (it would end every wait at once, and the loop would spin
 * without letting the scripts' ends be seen), and every listener is removed again.
 */
async function nextEvent(running: Set<Promise<void>>, ms: number, signals: Array<AbortSignal | undefined>): Promise<void> {
  const wake = new AbortController()
  const onAbort = () => wake.abort()
  const live = signals.filter((signal): signal is AbortSignal => signal !== undefined && !signal.aborted)
  for (const signal of live) signal.addEventListener('abort', onAbort, {once: true})
  try {
    await Promise.race([...running, sleep(ms, undefined, {signal: wake.signal}).catch((error: Error) => {
      if (error.name !== 'AbortError') throw error
    })])
  } finally {
    wake.abort()
    for (const signal of live) signal.removeEventListener('abort', onAbort)
  }
}

/** The runs queued on this machine (of `listed`, when the caller has the list), oldest first; see queue-marks.ts. */
async function queuedRuns(project: Project, listed?: RunRecord[]): Promise<RunRecord[]> {
  const here = await locallyQueued(project)
  if (here.size === 0) return []
  const runs = (listed ?? await cachedRunList(project)).filter((run) => run.status === 'Queued' && here.has(run.runId))
  return runs.sort((a, b) => (a.queuedTimeUtc ?? '').localeCompare(b.queuedTimeUtc ?? '') || a.runId.localeCompare(b.runId))
}

/** Forgets the marks of runs that are no longer queued (a killed worker's, say). */
async function pruneQueueMarks(project: Project): Promise<void> {
  const here = await locallyQueued(project)
  if (here.size === 0) return
  const queued = new Set((await cachedRunList(project)).filter((run) => run.status === 'Queued').map((run) => run.runId))
  for (const id of here) if (!queued.has(id)) await unmarkQueued(project, id)
}

export interface QueueStatus {
  queued: RunRecord[]
  /** Runs the worker is running now. */
  running: RunRecord[]
  worker: QueueWorker | null
}

/** `ml queue status`. */
export async function queueStatus(cwd: string): Promise<QueueStatus> {
  const project = await findProject(cwd)
  const worker = await readQueueWorker(project)
  const runs = await cachedRunList(project)
  const running = worker ? runs.filter((run) => run.status === 'Running' && run.isolated && run.host === worker.host && run.pid === worker.pid) : []
  return {queued: await queuedRuns(project, runs), running, worker}
}

/**
 * `ml queue stop`: asks the worker to start no more runs and end when its running ones have
 * (SIGTERM), or with `now` to cancel them too (SIGINT, as Ctrl-C on it would).
 */
export async function stopQueue(cwd: string, now: boolean): Promise<{worker: QueueWorker; running: number}> {
  const {worker, running} = await queueStatus(cwd)
  if (!worker) throw new MlError('QUEUE_NOT_RUNNING', 'No queue worker runs for this project; start one with `ml queue start`.')
  if (worker.host !== hostname()) {
    throw new MlError('QUEUE_NOT_RUNNING', `The queue worker of this project runs on ${worker.host} (ml process ${worker.pid}); stop it there.`)
  }
  process.kill(worker.pid, now ? 'SIGINT' : 'SIGTERM')
  return {worker, running: running.length}
}

/**
 * `ml queue remove RUN...`: takes queued runs off the queue, recorded as Canceled. Every run is
 * checked first: if one is not queued, none is changed.
 */
export async function removeFromQueue(cwd: string, runIds: string[]): Promise<RunRecord[]> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const found = []
  for (const idOrPrefix of runIds) {
    const at = await readRunAt(repo, await resolveRunId(repo, idOrPrefix))
    if (at.run.status !== 'Queued') {
      throw new MlError('RUN_NOT_QUEUED', `Run ${at.run.runId} is ${at.run.status}, not Queued; only queued runs can be removed (nothing was changed).`)
    }
    found.push(at)
  }
  for (const {run, commit} of found) {
    Object.assign(run, {status: 'Canceled', endTimeUtc: new Date().toISOString(), durationMs: 0, error: 'Removed from the queue with `ml queue remove`.'})
    await saveRunOver(repo, commit, run)
    await unmarkQueued(project, run.runId)
  }
  return found.map((f) => f.run)
}
