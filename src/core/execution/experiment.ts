import {createHash} from 'node:crypto'
import {createReadStream, existsSync, promises as fs} from 'node:fs'
import {constants, hostname} from 'node:os'
import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import type {TreeFile} from '../../git/trees.js'
import {MlError} from '../../shared/errors.js'
import {changedFiles, execute, stampFiles, startableCommand, type OutputStream} from './executor.js'
import {gitProperties} from '../runs/git-properties.js'
import {withInPlaceRun} from '../project/lock.js'
import type {OnProgress} from '../../shared/progress.js'
import {findProject, type Project} from '../project/project.js'
import {type AuthOptions, pushHistory} from '../remote/remote.js'
import {formatMetrics, lastValues, METRICS_FILE, parseMetrics} from '../runs/metrics.js'
import {LOG_FILE, newRunId, saveRun, type RunRecord} from '../runs/runs.js'
import {takeSnapshot} from '../snapshot/snapshot.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {largeOutputPath, mlName, mlPath, OUTPUTS_DIR} from '../project/layout.js'
import {historyOpener} from '../snapshot/open-history.js'
import {crashPoint} from '../../shared/crash-point.js'

export const COMPUTE_TARGETS = ['local']

export interface SubmitOptions {
  /** The folder the user is in: the project is found from here, SCRIPT is relative to it. */
  cwd: string
  script: string
  args: string[]
  compute?: string
  /** The environment the script inherits, before ML_* variables are added. */
  env: NodeJS.ProcessEnv
  signal?: AbortSignal
  onOutput?: (chunk: Buffer, stream: OutputStream) => void
  /** Called once the run is recorded and the script is about to start. */
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
}

/**
 * Submits a run: snapshots the project, records the run as Running with its git properties,
 * runs the script with its output streamed and logged, and records how it ended together
 * with the log and the files the script wrote to outputs/.
 */
export async function submitExperiment(options: SubmitOptions): Promise<RunRecord> {
  const project = await findProject(options.cwd)
  const compute = options.compute ?? 'local'
  if (!COMPUTE_TARGETS.includes(compute)) {
    throw new MlError('UNKNOWN_COMPUTE', `There is no compute target named "${compute}"; use one of: ${COMPUTE_TARGETS.join(', ')}.`)
  }
  const script = await resolveScript(project.dir, options.cwd, options.script)
  const outputsDir = path.join(project.dir, OUTPUTS_DIR)
  const runId = newRunId(project.config.name)
  const runDir = mlPath(project.dir, 'runs', runId)
  const metricsFile = path.join(runDir, METRICS_FILE)
  const pythonPath = [options.env.PYTHONPATH, options.runLoggerDir].filter(Boolean).join(path.delimiter)
  const env = {...options.env, ML_RUN_ID: runId, ML_PROJECT_DIR: project.dir, ML_OUTPUTS_DIR: outputsDir, ML_METRICS_FILE: metricsFile, PYTHONUNBUFFERED: '1', PYTHONPATH: pythonPath}
  const command = await startableCommand(project.dir, script, env, process.execPath)
  return withInPlaceRun(project, runId, () => run(project, {...options, compute}, script, [command[0], [...command[1], ...options.args]], env), {onNotice: options.onWarning})
}

/** submitExperiment once the script is known to start and no other run is in the folder. */
async function run(project: Project, options: SubmitOptions & {compute: string}, script: string, command: [string, string[]], env: NodeJS.ProcessEnv): Promise<RunRecord> {
  const runId = env.ML_RUN_ID!
  const open = historyOpener(project)
  const snapshot = await takeSnapshot(project, open, `Snapshot for run ${runId}`, {onNotice: options.onWarning, onProgress: options.onProgress})
  const newSecrets = await secretsNotNamedYet(project, snapshot.secrets)
  if (newSecrets.length > 0) {
    options.onWarning?.(`Left out of the snapshot as likely secrets: ${newSecrets.join(', ')}; add a "!name" line to .amlignore to include one.`)
  }
  const repo = await open()
  const properties = {...(await gitProperties(project.dir)), ContentSnapshotId: snapshot.commit}
  const started = new Date()
  const record: RunRecord = {
    schema: 1,
    runId,
    projectId: project.config.id,
    projectName: project.config.name,
    script,
    arguments: options.args,
    compute: options.compute,
    status: 'Running',
    startTimeUtc: started.toISOString(),
    snapshotId: snapshot.commit,
    host: hostname(),
    pid: process.pid,
    outputs: [],
    properties,
  }
  await saveRun(repo, record)
  crashPoint('run-recorded')
  const push = () => pushQuietly(project, repo, options)
  await push()
  options.onStart?.(record, snapshot.created)

  const outputsDir = env.ML_OUTPUTS_DIR!
  await fs.mkdir(outputsDir, {recursive: true})
  const before = await stampFiles(outputsDir)
  const metricsFile = env.ML_METRICS_FILE!
  const runDir = path.dirname(metricsFile)
  const logFile = path.join(runDir, LOG_FILE)
  const result = await execute({cwd: project.dir, command, env, logFile, signal: options.signal, onOutput: options.onOutput})
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
  const {points, warnings} = parseMetrics(await fs.readFile(metricsFile, 'utf8').catch(() => ''))
  for (const warning of warnings) options.onWarning?.(warning)
  if (points.length > 0) record.metrics = lastValues(points)

  const files: TreeFile[] = [{path: LOG_FILE, file: logFile}]
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
}

/** Pushes the history if the project has a remote; a failure is reported, never thrown. */
async function pushQuietly(project: Project, repo: ShadowRepo, options: SubmitOptions): Promise<void> {
  if (!project.config.remote || !options.auth || options.push === false) return
  const later = 'the run is recorded here, and `ml history push` (or the next submit) sends it'
  try {
    const {rejected} = await pushHistory(project, repo, options.auth)
    if (rejected.length > 0) options.onPushProblem?.(`The remote refused ${rejected.map((r) => `${r.ref} (${r.error})`).join(', ')}; ${later}.`)
  } catch (error) {
    options.onPushProblem?.(`Could not push to ${project.config.remote}: ${(error as Error).message.replace(/\.$/, '')}; ${later}.`)
  }
}

/**
 * The likely secrets of `secrets` that no earlier submit named, so that each is named once, not
 * at every run; the names told are kept in .ml/ (deleting that file names them all again).
 */
async function secretsNotNamedYet(project: Project, secrets: string[]): Promise<string[]> {
  const file = mlPath(project.dir, 'secretsNamed')
  const named = new Set<unknown>(await fs.readFile(file, 'utf8').then((text) => [JSON.parse(text)].flat()).catch(() => []))
  const fresh = secrets.filter((s) => !named.has(s))
  if (fresh.length > 0) await writeAtomically(file, JSON.stringify([...named, ...fresh]), {cache: true})
  return fresh
}

/** Outputs larger than this stay out of git history. */
export const LARGE_OUTPUT_BYTES = 50 * 2 ** 20

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

/** SCRIPT as a path relative to the project root, checked to exist inside the project. */
async function resolveScript(projectDir: string, cwd: string, script: string): Promise<string> {
  const absolute = path.resolve(cwd, script)
  const rel = path.relative(projectDir, absolute)
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new MlError('SCRIPT_OUTSIDE_PROJECT', `The script ${script} is outside the project folder ${projectDir}; move it into the project so that it is part of the run's snapshot.`)
  }
  const stat = await fs.stat(absolute).catch(() => null)
  if (!stat?.isFile()) {
    throw new MlError('SCRIPT_NOT_FOUND', `The script ${script} does not exist in ${cwd}; check the path or create the script first.`)
  }
  return rel.split(path.sep).join('/')
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? constants.signals[signal] ?? 1 : 1
}
