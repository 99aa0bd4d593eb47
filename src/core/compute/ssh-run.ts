import {hostname} from 'node:os'
import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {isMlError, MlError} from '../../shared/errors.js'
import type {Project} from '../project/project.js'
import {pushQuietly} from '../remote/push-quietly.js'
import {saveRun, saveRunOver, type RunRecord} from '../runs/runs.js'
import {setTimeout as sleep} from 'node:timers/promises'
import {endedUnrecorded, readExit, streamLog, type ExitStatus} from './collect-run.js'
import {finishRemoteRun, type FinishOptions} from './finish-remote-run.js'
import {openShell} from './open-shell.js'
import {forgetRemoteRun, saveRemoteRun} from './remote-runs.js'
import {CTL, type Materialized, placeOf, prepareRunFolder, projectBase, type RunPlace} from './run-folder.js'
import {quote, runChecked, type Shell} from '../../ssh/shell.js'
import type {SshAuth} from '../../ssh/ssh-shell.js'
import type {SshTarget} from './targets.js'

/** What a run on a target is given: where the user's ssh setup is, and what to tell them. */
export interface ComputeRunOptions extends FinishOptions {
  auth: SshAuth
  signal?: AbortSignal
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void
  /** Called once the run is recorded as Running (or Queued, on Slurm) and has been handed over. */
  onStart?: (run: RunRecord, snapshotCreated: boolean) => void
  onScriptEnd?: () => void
  /** Told what was sent to the target to make the run folder. */
  onSent?: (sent: Materialized, where: string) => void
  /** The folder of ml's run_logger.py, put on the run's PYTHONPATH there too. */
  runLoggerDir: string
  snapshotCreated?: boolean
}

/** How long between looks at a run's log and status on its host. */
const POLL_MS = 250

/**
 * Runs `record` on an ssh host: the snapshot goes to its run folder there, the wrapper starts
 * detached from the connection (setsid), its log is streamed while ml waits, and what it left is
 * brought back and recorded. Aborting `signal` sends SIGINT to the script's process group, then
 * SIGTERM after 10 s and SIGKILL after 20 s. If the connection drops, the run goes on there:
 * COMPUTE_CONNECTION_LOST, and `ml history sync` records it once it has ended.
 */
export async function runOnHost(project: Project, repo: ShadowRepo, record: RunRecord, target: SshTarget, options: ComputeRunOptions): Promise<RunRecord> {
  const shell = await openShell(target, options.auth)
  let launched = false
  let place: RunPlace | undefined
  let commit: string | undefined
  try {
    place = placeOf(await projectBase(shell, target, project.config.id), record.runId)
    const sent = await prepareRunFolder(shell, repo, target, place, record, path.join(options.runLoggerDir, 'run_logger.py'), project.config.name)
    options.onSent?.(sent, shell.where)
    await saveRemoteRun(project, {schema: 1, runId: record.runId, target: target.name, base: place.base, driver: {pid: process.pid, host: hostname()}})
    const started = new Date()
    Object.assign(record, {status: 'Running', startTimeUtc: started.toISOString(), host: target.host})
    record.properties = {...record.properties, 'compute.dir': place.runDir}
    commit = await saveRun(repo, record)
    await pushQuietly(project, repo, options)
    await launch(shell, place)
    launched = true
    options.onStart?.(record, options.snapshotCreated ?? false)
    const {exit, canceled} = await follow(shell, place, options)
    options.onScriptEnd?.()
    await finishRemoteRun(project, repo, shell, place, record, commit, {
      started,
      ended: new Date(), // seen here: the exit file's time has whole seconds only
      exitCode: exit?.code ?? 137,
      canceled,
      error: exit ? undefined : endedUnrecorded(shell.where),
    }, options)
    await pushQuietly(project, repo, options, record)
    return record
  } catch (error) {
    if (commit && isMlError(error, 'COMPUTE_CONNECTION_LOST')) {
      // Nobody follows it now: the next sync collects it.
      await saveRemoteRun(project, {schema: 1, runId: record.runId, target: target.name, base: place!.base})
      throw new MlError('COMPUTE_CONNECTION_LOST', `${error.message.replace(/\.$/, '')}; run ${record.runId} goes on there${launched ? '' : ' if it started'}, and \`ml history sync\` records it once it has ended.`)
    }
    if (commit && !launched && isMlError(error)) {
      // Recorded as Running, never started: it failed, and says why.
      const now = new Date().toISOString()
      await saveRunOver(repo, commit, Object.assign(record, {status: 'Failed', endTimeUtc: now, durationMs: 0, error: error.message}))
      await forgetRemoteRun(project, record.runId)
    }
    throw error
  } finally {
    shell.close()
  }
}

/** Starts the wrapper in a session of its own, so that it outlives the connection (and the ml process). */
async function launch(shell: Shell, place: RunPlace): Promise<void> {
  // `setsid -f` forks the wrapper off with none of the channel's streams, so the channel closes
  // at once. Not `&`: a shell starts a background command with SIGINT ignored, and an ignored
  // signal can be trapped by no shell and caught by no script after it.
  await runChecked(shell, `cd ${quote(place.ctl)} && { command -v setsid >/dev/null || { echo 'setsid is not installed (util-linux)' >&2; exit 1; }; } && setsid -f sh ${CTL.wrapper} </dev/null >/dev/null 2>&1`, 'start the run')
}

/**
 * Streams the run's log until its exit file appears, or its process is gone without one. An
 * abort asks the run to stop: its mark, then SIGINT, SIGTERM after 10 s, SIGKILL after 20 s.
 */
async function follow(shell: Shell, place: RunPlace, options: Pick<ComputeRunOptions, 'signal' | 'onOutput'>): Promise<{exit: ExitStatus | null; canceled: boolean}> {
  let offset = 0
  let canceledAt: number | undefined
  let sent = 0
  let lastAliveCheck = Date.now()
  const drain = async () => {
    offset = await streamLog(shell, place, offset, options.onOutput)
  }
  for (;;) {
    await drain()
    const exit = await readExit(shell, place)
    if (exit) {
      await drain()
      return {exit, canceled: canceledAt !== undefined}
    }
    if (options.signal?.aborted && canceledAt === undefined) {
      canceledAt = Date.now()
      await shell.writeFile(`${place.ctl}/${CTL.canceled}`, '')
    }
    if (canceledAt !== undefined) {
      const due = (Date.now() - canceledAt) >= 20_000 ? 3 : (Date.now() - canceledAt) >= 10_000 ? 2 : 1
      for (; sent < due; sent++) await signalRun(shell, place, ['INT', 'TERM', 'KILL'][sent])
    }
    if (Date.now() - lastAliveCheck > 3000) {
      lastAliveCheck = Date.now()
      if (!(await runAlive(shell, place))) {
        await drain()
        return {exit: await readExit(shell, place), canceled: canceledAt !== undefined}
      }
    }
    await sleep(POLL_MS)
  }
}

/** Sends `signal` to the run's process group (the wrapper and everything the script started). */
async function signalRun(shell: Shell, place: RunPlace, signal: string): Promise<void> {
  await shell.run(`pid=$(cat ${quote(`${place.ctl}/${CTL.pid}`)} 2>/dev/null) && kill -${signal} -- "-$pid" 2>/dev/null`)
}

/** Whether the run's wrapper still runs (false too when it never wrote its pid). */
export async function runAlive(shell: Shell, place: RunPlace): Promise<boolean> {
  const result = await shell.run(`pid=$(cat ${quote(`${place.ctl}/${CTL.pid}`)} 2>/dev/null) && kill -0 "$pid" 2>/dev/null`)
  return result.code === 0
}

/** A run is cancelable on its target from another ml process too: the mark, then the signals, waiting up to 20 s for it to end. */
export async function stopOnHost(shell: Shell, place: RunPlace): Promise<void> {
  await shell.writeFile(`${place.ctl}/${CTL.canceled}`, '')
  for (const [signal, waitMs] of [['INT', 10_000], ['TERM', 10_000], ['KILL', 2000]] as const) {
    await signalRun(shell, place, signal)
    const until = Date.now() + waitMs
    while (Date.now() < until) {
      if ((await readExit(shell, place)) || !(await runAlive(shell, place))) return
      await sleep(POLL_MS)
    }
  }
}
