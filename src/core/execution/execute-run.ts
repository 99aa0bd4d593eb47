import {placeOutputInputs} from '../runs/output-inputs.js'
import {promises as fs} from 'node:fs'
import {constants, hostname} from 'node:os'
import path from 'node:path'
import {crashPoint} from '../../shared/crash-point.js'
import {MlError} from '../../shared/errors.js'
import type {OnProgress} from '../../shared/progress.js'
import {mlPath, OUTPUTS_DIR, runRef} from '../project/layout.js'
import type {Project} from '../project/project.js'
import {pushQuietly, type QuietPushOptions} from '../remote/push-quietly.js'
import {METRICS_FILE} from '../runs/metrics.js'
import {recordEnding} from '../runs/record-ending.js'
import {LOG_FILE, saveRun, saveRunOver, type RunRecord} from '../runs/runs.js'
import {dropStartJournal, writeStartJournal} from '../runs/start-journal.js'
import {DEFAULT_LIMITS} from '../snapshot/limits.js'
import type {OpenHistory} from '../snapshot/open-history.js'
import {startRunEndpoint} from '../tracking/run-endpoint.js'
import {collectEnvironment} from './environment.js'
import {changedFiles, execute, stampFiles, startableCommand, type OutputStream} from './executor.js'
import {createWorkdir, keepWorkdir, removeWorkdir} from './workdir.js'

/** What every run's execution takes, however it was started (submit, sweep, queue). */
export interface RunOptions extends QuietPushOptions {
  /** The environment the script inherits, before ML_* variables are added. */
  env: NodeJS.ProcessEnv
  signal?: AbortSignal
  onOutput?: (chunk: Buffer, stream: OutputStream) => void
  /** Called once the run is recorded (or journaled, see `afterStart`) as Running and the script is about to start. */
  onStart?: (run: RunRecord, snapshotCreated: boolean) => void
  /** Called when the script has ended, before how it ended is recorded. */
  onScriptEnd?: () => void
  /** ml's own run_logger.py's folder, put on every run's PYTHONPATH after the user's entries. */
  runLoggerDir?: string
  /** Told how far the snapshot has come. */
  onProgress?: OnProgress
  /** Something the user should know that does not fail the run (a malformed metrics line, a large output). */
  onWarning?: (message: string) => void
  /** ml's version, recorded in environment.json. */
  mlVersion?: string
  /** Keep an isolated run's private checkout (.ml/work/<run-id>/) after it ends. */
  keepWorkdir?: boolean
  /** Told when a push of the run starts (true), waiting for the project lock first, and when it is over (false). */
  onPush?: (started: boolean) => void
}

/** `-j`, checked to be a number of runs at once. */
export function checkJobs(jobs: number): void {
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new MlError('INVALID_ARGUMENT', `-j ${jobs} is not a number of runs at once; give a whole number of 1 or more.`)
  }
}

/** How executeRun starts a run, beyond RunOptions. */
export interface StartOptions {
  snapshotCreated?: boolean
  /** The commit of a Queued record the run must start from (so that a run removed from the queue meanwhile is not started). */
  claim?: string
  /**
   * What of the record is read after the script has started (the git properties of a submit):
   * the run is then journaled before its script starts and recorded in the history after,
   * so that the script need not wait for git (see runs/start-journal.ts).
   */
  afterStart?: () => Promise<Partial<RunRecord>>
}

/**
 * Runs the run `record` (its snapshot, script and arguments set) and records how it ended,
 * with its log, metrics, parameters, environment and the files it wrote to outputs/. An
 * isolated run runs in a private checkout of its snapshot, removed afterwards; otherwise the
 * caller holds the project folder's in-place run.
 */
export async function executeRun(project: Project, open: OpenHistory, record: RunRecord, options: RunOptions & StartOptions): Promise<RunRecord> {
  const {runId} = record
  let workdir = project.dir
  try {
    const runDir = mlPath(project.dir, 'runs', runId)
    let command: [string, string[]]
    let env: NodeJS.ProcessEnv
    try {
      if (record.isolated) {
        const repo = await open()
        workdir = await createWorkdir(project, repo, await repo.treeOf(record.snapshotId), runId, {onWarning: options.onWarning})
      }
      const pythonPath = [options.env.PYTHONPATH, options.runLoggerDir].filter(Boolean).join(path.delimiter)
      const inputs = await placeOutputInputs(project, open, record, options.auth)
      env = {...options.env, ...inputs, ML_RUN_ID: runId, ML_PROJECT_DIR: workdir, ML_OUTPUTS_DIR: path.join(workdir, OUTPUTS_DIR), ML_METRICS_FILE: path.join(runDir, METRICS_FILE), PYTHONUNBUFFERED: '1', PYTHONPATH: pythonPath}
      const base = await startableCommand(workdir, record.script, env, process.execPath)
      command = [base[0], [...base[1], ...record.arguments]]
    } catch (error) {
      // A queued or swept run whose checkout or interpreter fails is recorded as Failed, so
      // that it is neither tried again forever nor missing from its sweep.
      if (!record.isolated || !(error instanceof MlError)) throw error
      const now = new Date().toISOString()
      Object.assign(record, {status: 'Failed', startTimeUtc: now, endTimeUtc: now, durationMs: 0, exitCode: 127, error: error.message, host: hostname(), pid: process.pid})
      const repo = await open()
      await (options.claim ? saveRunOver(repo, options.claim, record) : saveRun(repo, record))
      return record
    }
    const outputsDir = env.ML_OUTPUTS_DIR!

    const started = new Date()
    Object.assign(record, {status: 'Running', startTimeUtc: started.toISOString(), host: hostname(), pid: process.pid})
    const push = async (withData?: RunRecord) => {
      options.onPush?.(true)
      try {
        await pushQuietly(project, await open(), options, withData)
      } finally {
        options.onPush?.(false)
      }
    }
    const save = async () => {
      const repo = await open()
      if (options.claim) await saveRunOver(repo, options.claim, record)
      else await saveRun(repo, record)
      crashPoint('run-recorded')
    }
    const recordStart = async () => {
      await save()
      await push()
    }
    const {afterStart} = options
    if (afterStart) await writeStartJournal(project, record)
    else await recordStart()
    options.onStart?.(record, options.snapshotCreated ?? false)

    await fs.mkdir(outputsDir, {recursive: true})
    const before = await stampFiles(outputsDir)
    const tracking = await startRunEndpoint({env: options.env, project, record, metricsFile: env.ML_METRICS_FILE!, outputsDir, scratchDir: runDir, maxArtifactBytes: project.config.limits?.maxBytes ?? DEFAULT_LIMITS.maxBytes, onWarning: options.onWarning})
    env = tracking.scriptEnv(env)
    const logFile = path.join(runDir, LOG_FILE)
    // Alongside the script, never before it: a slow `pip freeze` must not delay the start.
    const environment = collectEnvironment({script: record.script, command, env, cwd: workdir, mlVersion: options.mlVersion ?? 'unknown', signal: options.signal, pipCache: mlPath(project.dir, 'pipFreeze')})
    // A journaled run is recorded while its script runs; should that fail, the script is stopped.
    const stop = new AbortController()
    // Its push goes on beside the script: the ending is recorded without waiting for it (a push
    // waiting for another ml process's lock must not keep the run from being recorded here).
    let recorded: Promise<void> | undefined
    let startPush: Promise<void> | undefined
    const recordJournaled = (finish: NonNullable<StartOptions['afterStart']>) => {
      recorded ??= (async () => {
        Object.assign(record, await finish())
        await save()
        await dropStartJournal(project, runId)
        startPush = push()
      })()
      recorded.catch(() => stop.abort())
    }
    const result = await execute({
      cwd: workdir, command, env, logFile, onOutput: options.onOutput,
      signal: afterStart ? AbortSignal.any([stop.signal, ...(options.signal ? [options.signal] : [])]) : options.signal,
      onSpawn: afterStart && (() => {
        crashPoint('run-script-started')
        recordJournaled(afterStart)
      }),
    })
    const ended = new Date()
    await tracking.close()
    // A script that could not be started at all is recorded all the same.
    if (afterStart) recordJournaled(afterStart)
    await recorded
    options.onScriptEnd?.()
    crashPoint('run-script-ended')
    const metricsText = await fs.readFile(env.ML_METRICS_FILE!, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return ''
      throw error
    })
    const repo = await open()
    await recordEnding(project, repo, await repo.resolveRef(runRef(runId)), record, {
      started,
      ended,
      exitCode: result.exitCode ?? (result.startError ? 127 : 128 + signalNumber(result.signal)),
      canceled: result.canceled,
      error: result.startError ?? (result.signal ? `The script was stopped by ${result.signal}.` : undefined),
      logFile,
      metricsText,
      environment: await environment,
      outputsDir,
      outputs: changedFiles(before, await stampFiles(outputsDir)),
      onWarning: options.onWarning,
    })
    await fs.rm(runDir, {recursive: true, force: true})
    await Promise.all([startPush, push(record)])
    return record
  } finally {
    if (workdir !== project.dir) await (options.keepWorkdir ? keepWorkdir(workdir) : removeWorkdir(workdir))
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? constants.signals[signal] ?? 1 : 1
}
