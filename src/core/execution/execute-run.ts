import {createHash} from 'node:crypto'
import {createReadStream, existsSync, promises as fs} from 'node:fs'
import {constants, hostname} from 'node:os'
import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import type {TreeFile} from '../../git/trees.js'
import {crashPoint} from '../../shared/crash-point.js'
import {MlError} from '../../shared/errors.js'
import type {OnProgress} from '../../shared/progress.js'
import {largeOutputPath, mlName, mlPath, OUTPUTS_DIR} from '../project/layout.js'
import type {Project} from '../project/project.js'
import {type AuthOptions, pushHistory} from '../remote/remote.js'
import {formatMetrics, lastValues, METRICS_FILE, parseMetrics} from '../runs/metrics.js'
import {mergeParams, paramsFromLog} from '../runs/params.js'
import {LOG_FILE, saveRun, saveRunOver, type RunRecord} from '../runs/runs.js'
import {ENVIRONMENT_FILE} from '../runs/run-environment.js'
import {collectEnvironment} from './environment.js'
import {changedFiles, execute, stampFiles, startableCommand, type OutputStream} from './executor.js'
import {createWorkdir, keepWorkdir, removeWorkdir} from './workdir.js'

/** What every run's execution takes, however it was started (submit, sweep, queue). */
export interface RunOptions {
  /** The environment the script inherits, before ML_* variables are added. */
  env: NodeJS.ProcessEnv
  signal?: AbortSignal
  onOutput?: (chunk: Buffer, stream: OutputStream) => void
  /** Called once the run is recorded as Running and the script is about to start. */
  onStart?: (run: RunRecord, snapshotCreated: boolean) => void
  /** Called when the script has ended, before how it ended is recorded. */
  onScriptEnd?: () => void
  /** ml's own run_logger.py's folder, put on every run's PYTHONPATH after the user's entries. */
  runLoggerDir?: string
  /** Credentials for pushing to the project's remote; without them (or with push false) nothing is pushed. */
  auth?: AuthOptions
  push?: boolean
  /** A push that failed: the run goes on and is recorded; the refs are pushed next time. */
  onPushProblem?: (message: string) => void
  /** Told how far the snapshot has come. */
  onProgress?: OnProgress
  /** Something the user should know that does not fail the run (a malformed metrics line, a large output). */
  onWarning?: (message: string) => void
  /** ml's version, recorded in environment.json. */
  mlVersion?: string
  /** Keep an isolated run's private checkout (.ml/work/<run-id>/) after it ends. */
  keepWorkdir?: boolean
}

/** `-j`, checked to be a number of runs at once. */
export function checkJobs(jobs: number): void {
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new MlError('INVALID_ARGUMENT', `-j ${jobs} is not a number of runs at once; give a whole number of 1 or more.`)
  }
}

/** Outputs larger than this stay out of git history. */
export const LARGE_OUTPUT_BYTES = 50 * 2 ** 20

/**
 * Runs the recorded run `record` (its snapshot, script and arguments set) and records how it
 * ended, with its log, metrics, parameters, environment and the files it wrote to outputs/.
 * An isolated run runs in a private checkout of its snapshot, removed afterwards; otherwise
 * the caller holds the project folder's in-place run. `claim` is the commit of a Queued record
 * the run must start from (so that a run removed from the queue meanwhile is not started).
 */
export async function executeRun(project: Project, repo: ShadowRepo, record: RunRecord, options: RunOptions & {snapshotCreated?: boolean; claim?: string}): Promise<RunRecord> {
  const {runId} = record
  let workdir = project.dir
  try {
    const runDir = mlPath(project.dir, 'runs', runId)
    let command: [string, string[]]
    let env: NodeJS.ProcessEnv
    try {
      if (record.isolated) workdir = await createWorkdir(project, repo, await repo.treeOf(record.snapshotId), runId)
      const pythonPath = [options.env.PYTHONPATH, options.runLoggerDir].filter(Boolean).join(path.delimiter)
      env = {...options.env, ML_RUN_ID: runId, ML_PROJECT_DIR: workdir, ML_OUTPUTS_DIR: path.join(workdir, OUTPUTS_DIR), ML_METRICS_FILE: path.join(runDir, METRICS_FILE), PYTHONUNBUFFERED: '1', PYTHONPATH: pythonPath}
      const base = await startableCommand(workdir, record.script, env, process.execPath)
      command = [base[0], [...base[1], ...record.arguments]]
    } catch (error) {
      // A queued or swept run whose checkout or interpreter fails is recorded as Failed, so
      // that it is neither tried again forever nor missing from its sweep.
      if (!record.isolated || !(error instanceof MlError)) throw error
      const now = new Date().toISOString()
      Object.assign(record, {status: 'Failed', startTimeUtc: now, endTimeUtc: now, durationMs: 0, exitCode: 127, error: error.message, host: hostname(), pid: process.pid})
      await (options.claim ? saveRunOver(repo, options.claim, record) : saveRun(repo, record))
      return record
    }
    const outputsDir = env.ML_OUTPUTS_DIR!
    const metricsFile = env.ML_METRICS_FILE!

    const started = new Date()
    Object.assign(record, {status: 'Running', startTimeUtc: started.toISOString(), host: hostname(), pid: process.pid})
    if (options.claim) await saveRunOver(repo, options.claim, record)
    else await saveRun(repo, record)
    crashPoint('run-recorded')
    const push = () => pushQuietly(project, repo, options)
    await push()
    options.onStart?.(record, options.snapshotCreated ?? false)

    await fs.mkdir(outputsDir, {recursive: true})
    const before = await stampFiles(outputsDir)
    const logFile = path.join(runDir, LOG_FILE)
    // Alongside the script, never before it: a slow `pip freeze` must not delay the start.
    const environment = collectEnvironment({script: record.script, command, env, cwd: workdir, mlVersion: options.mlVersion ?? 'unknown', signal: options.signal, pipCache: mlPath(project.dir, 'pipFreeze')})
    const result = await execute({cwd: workdir, command, env, logFile, signal: options.signal, onOutput: options.onOutput})
    options.onScriptEnd?.()
    crashPoint('run-script-ended')
    const ended = new Date()
    const outputs = changedFiles(before, await stampFiles(outputsDir))

    record.status = result.canceled ? 'Canceled' : result.exitCode === 0 ? 'Completed' : 'Failed'
    record.endTimeUtc = ended.toISOString()
    record.durationMs = ended.getTime() - started.getTime()
    record.exitCode = result.exitCode ?? (result.startError ? 127 : 128 + signalNumber(result.signal))
    if (result.startError) record.error = result.startError
    else if (result.signal) record.error = `The script was stopped by ${result.signal}.`
    const metricsText = await fs.readFile(metricsFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return ''
      throw error
    })
    const {points, warnings} = parseMetrics(metricsText)
    const logged = paramsFromLog(metricsText)
    for (const warning of [...warnings, ...logged.warnings]) options.onWarning?.(warning)
    if (points.length > 0) record.metrics = lastValues(points)
    const params = mergeParams(record.params ?? {}, logged.params)
    if (Object.keys(params).length > 0) record.params = params

    const collected = await environment
    const files: TreeFile[] = [{path: LOG_FILE, file: logFile}, {path: ENVIRONMENT_FILE, data: `${JSON.stringify(collected.environment, null, 2)}\n`}, ...collected.files]
    if (points.length > 0) files.push({path: METRICS_FILE, data: formatMetrics(points)})
    const large: string[] = []
    for (const p of outputs) {
      const file = path.join(outputsDir, p)
      const {size} = await fs.stat(file)
      if (size > LARGE_OUTPUT_BYTES) {
        record.outputs.push({path: p, size, sha256: await keepLargeOutput(project, file)})
        large.push(`${OUTPUTS_DIR}/${p} (${Math.round(size / 1e6)} MB)`)
      } else {
        record.outputs.push({path: p, size})
        files.push({path: `${OUTPUTS_DIR}/${p}`, file})
      }
    }
    if (large.length > 0) {
      options.onWarning?.(`${large.join(', ')} ${large.length === 1 ? 'is' : 'are'} over ${LARGE_OUTPUT_BYTES / 2 ** 20} MB: kept in ${mlName('largeOutputs')}/ with size and sha256 in the run record, not in the history, so not pushed to the remote.`)
    }
    await saveRun(repo, record, files)
    await fs.rm(runDir, {recursive: true, force: true})
    await push()
    return record
  } finally {
    if (workdir !== project.dir) await (options.keepWorkdir ? keepWorkdir(workdir) : removeWorkdir(workdir))
  }
}

/** The push each project's runs in this process wait for: runs of a sweep or a queue push one at a time. */
const pushing = new Map<string, Promise<void>>()

/**
 * Pushes the history if the project has a remote; a failure is reported, never thrown. Pushes
 * of one project from this process follow each other (each sends whatever is pending then).
 */
export function pushQuietly(project: Project, repo: ShadowRepo, options: Pick<RunOptions, 'auth' | 'push' | 'onPushProblem'>): Promise<void> {
  if (!project.config.remote || !options.auth || options.push === false) return Promise.resolve()
  const mine = (pushing.get(project.dir) ?? Promise.resolve()).then(() => pushOnce(project, repo, options))
  pushing.set(project.dir, mine)
  return mine
}

async function pushOnce(project: Project, repo: ShadowRepo, options: Pick<RunOptions, 'auth' | 'onPushProblem'>): Promise<void> {
  const later = 'the run is recorded here, and `ml history push` (or the next submit) sends it'
  try {
    const {rejected} = await pushHistory(project, repo, options.auth!)
    if (rejected.length > 0) options.onPushProblem?.(`The remote refused ${rejected.map((r) => `${r.ref} (${r.error})`).join(', ')}; ${later}.`)
  } catch (error) {
    options.onPushProblem?.(`Could not push to ${project.config.remote}: ${(error as Error).message.replace(/\.$/, '')}; ${later}.`)
  }
}

/** Copies a large output into .ml/large-outputs/<sha256>, streaming it, and returns the hash. */
async function keepLargeOutput(project: Project, file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  const sha256 = hash.digest('hex')
  const target = largeOutputPath(project.dir, sha256)
  if (!existsSync(target)) {
    await fs.mkdir(path.dirname(target), {recursive: true})
    await fs.copyFile(file, `${target}.tmp`)
    await fs.rename(`${target}.tmp`, target)
  }
  return sha256
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? constants.signals[signal] ?? 1 : 1
}
