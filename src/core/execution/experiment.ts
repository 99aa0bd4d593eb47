import {promises as fs} from 'node:fs'
import {hostname} from 'node:os'
import path from 'node:path'
import {MlError} from '../../shared/errors.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {mlPath} from '../project/layout.js'
import {openShell} from '../compute/open-shell.js'
import type {Materialized} from '../compute/run-folder.js'
import {submitToSlurm} from '../compute/slurm.js'
import {waitForSlurmRun} from '../compute/slurm-wait.js'
import {runOnHost} from '../compute/ssh-run.js'
import {type ComputeTarget, LOCAL, loadTarget} from '../compute/targets.js'
import {withInPlaceRun} from '../project/lock.js'
import {findProject, type Project} from '../project/project.js'
import {gitProperties} from '../runs/git-properties.js'
import {mergeParams, type Params, PARAMS_FILES, paramsFromArgs, paramsFromFile} from '../runs/params.js'
import {currentDataInputs} from '../runs/run-inputs.js'
import {resolveOutputInputs} from '../runs/output-inputs.js'
import {newRunId, saveRun, type RunRecord} from '../runs/runs.js'
import type {RunInput} from '../trust/run-record.js'
import {historyOpener, type OpenHistory} from '../snapshot/open-history.js'
import {type Snapshot, takeSnapshot} from '../snapshot/snapshot.js'
import {pushQuietly} from '../remote/push-quietly.js'
import {executeRun, type RunOptions} from './execute-run.js'
import {startableCommand} from './executor.js'
import {markQueued} from './queue-marks.js'
import {removeAbandonedWorkdirs} from './workdir.js'

export interface SubmitOptions extends RunOptions {
  /** The folder the user is in: the project is found from here, SCRIPT is relative to it. */
  cwd: string
  script: string
  args: string[]
  compute?: string
  /** Run in a private checkout of the snapshot (.ml/work/<run-id>/) instead of the project folder. */
  isolated?: boolean
  /**
   * Run in the project folder or not at all: while another run runs there, RUN_IN_PROGRESS
   * (without it, such a submit runs isolated, and `onIsolated` is told).
   */
  inPlace?: boolean
  /** Told that the run goes isolated, in `workdir`, because the run `otherRunId` runs in the folder. */
  onIsolated?: (otherRunId: string | undefined, workdir: string) => void
  /** Snapshot and record the run as Queued; `ml queue start` runs it. */
  queue?: boolean
  /** On Slurm: follow the run until it has ended, as a local run is followed. */
  wait?: boolean
  /** Told of a run handed to Slurm, recorded as Queued with its job id. */
  onQueued?: (run: RunRecord) => void
  /** Told what was sent to a target to make the run's folder there. */
  onSent?: (sent: Materialized, where: string) => void
  /** `NAME=RUN:outputs/PATH`: other runs' outputs the script reads (ML_INPUT_<NAME>); local runs only. */
  inputs?: string[]
}

/**
 * Submits a run: snapshots the project, records the run as Running with its git properties and
 * parameters, runs the script with its output streamed and logged, and records how it ended
 * together with the log and the files the script wrote to outputs/. With `queue`, the run is
 * only recorded, as Queued.
 */
export async function submitExperiment(options: SubmitOptions): Promise<RunRecord> {
  const project = await findProject(options.cwd)
  const target = await targetOf(project, options.compute)
  const script = await resolveScript(project.dir, options.cwd, options.script)
  if (target) return submitToTarget(project, target, script, options)
  await startableCommand(project.dir, script, options.env, process.execPath)
  const compute = LOCAL
  const runId = newRunId(project.config.name)
  if (options.inPlace && (options.isolated || options.queue)) {
    throw new MlError('INVALID_ARGUMENT', `--in-place runs in the project folder; it cannot go with --${options.isolated ? 'isolated' : 'queue'}.`)
  }
  const go = async (isolated: boolean) => {
    if (isolated && !options.queue) await removeAbandonedWorkdirs(project)
    const {snapshot, open, inputs} = await snapshotForRuns(project, `Snapshot for run ${runId}`, options)
    if (options.inputs?.length) inputs.push(...await resolveOutputInputs(await open(), options.inputs))
    const params = mergeParams(await fileParams(open, snapshot), paramsFromArgs(options.args))
    const record = newRecord(project, {runId, script, args: options.args, compute, snapshot, properties: {ContentSnapshotId: snapshot.commit}, params, isolated, inputs})
    if (!options.queue) {
      // The git properties are read as the script starts, not before it (see executeRun).
      const afterStart = async () => ({properties: await runProperties(project, snapshot)})
      return executeRun(project, open, record, {...options, snapshotCreated: snapshot.created, afterStart})
    }
    const repo = await open()
    record.properties = await runProperties(project, snapshot)
    await saveRun(repo, queued(record))
    await markQueued(project, [runId])
    await pushQuietly(project, repo, options)
    return record
  }
  if (options.isolated || options.queue) return go(true)
  // Decided under the in-place mark: a submit that finds another run in the folder runs
  // isolated (their outputs/ are apart), unless it asked for the folder.
  const orElse = options.inPlace ? undefined : async (holder: {runId?: string} | null) => {
    options.onIsolated?.(holder?.runId, path.relative(project.dir, mlPath(project.dir, 'work', runId)))
    return go(true)
  }
  return withInPlaceRun(project, runId, () => go(false), {onNotice: options.onWarning, orElse})
}

/** The attached target named `compute`, or null for `local` (UNKNOWN_COMPUTE when there is none). */
export async function targetOf(project: Project, compute = LOCAL): Promise<ComputeTarget | null> {
  return compute === LOCAL ? null : loadTarget(project, compute)
}

/**
 * A run on an attached target: the snapshot is taken here as for any run; on an ssh host the
 * run is followed to its end, on Slurm it is submitted and recorded as Queued (followed with
 * `wait`). The project folder is not used by the run, so it needs no in-place mark.
 */
async function submitToTarget(project: Project, target: ComputeTarget, script: string, options: SubmitOptions): Promise<RunRecord> {
  if (options.inputs?.length) throw new MlError('INVALID_ARGUMENT', `--input is for local runs for now; a run on ${target.name} can read another run's output that is in its snapshot or its data.`)
  if (options.queue || options.isolated || options.inPlace) {
    throw new MlError('INVALID_ARGUMENT', `--${options.queue ? 'queue' : options.isolated ? 'isolated' : 'in-place'} is for local runs; a run on ${target.name} always runs in a folder of its own there${target.type === 'slurm' ? ', queued by Slurm' : ''}.`)
  }
  if (!options.auth) throw new MlError('INTERNAL', 'A run on a compute target needs the ssh settings.')
  const runId = newRunId(project.config.name)
  const {snapshot, open, inputs} = await snapshotForRuns(project, `Snapshot for run ${runId}`, options)
  const params = mergeParams(await fileParams(open, snapshot), paramsFromArgs(options.args))
  const [repo, properties] = await Promise.all([open(), runProperties(project, snapshot)])
  const record = newRecord(project, {runId, script, args: options.args, compute: target.name, snapshot, properties, params, isolated: false, inputs})
  const onTarget = {...options, auth: options.auth, runLoggerDir: options.runLoggerDir ?? '', snapshotCreated: snapshot.created}
  if (target.type === 'ssh') return runOnHost(project, repo, record, target, onTarget)
  const shell = await openShell(target, options.auth)
  try {
    const {runs: [queuedRun], base} = await submitToSlurm(project, repo, [record], target, shell, onTarget)
    options.onQueued?.(queuedRun)
    if (!options.wait) return queuedRun
    return await waitForSlurmRun(project, repo, shell, queuedRun, target.name, base, onTarget)
  } finally {
    shell.close()
  }
}

/**
 * The snapshot runs start from, the opener of the history it is in (an unchanged folder's
 * snapshot loads no git), and the versions of the tracked data they read; likely secrets left
 * out of it are named once.
 */
export async function snapshotForRuns(project: Project, message: string, options: Pick<RunOptions, 'onWarning' | 'onProgress'>): Promise<{snapshot: Snapshot; open: OpenHistory; inputs: RunInput[]}> {
  const open = historyOpener(project)
  const snapshot = await takeSnapshot(project, open, message, {onNotice: options.onWarning, onProgress: options.onProgress})
  const newSecrets = await secretsNotNamedYet(project, snapshot.secrets)
  if (newSecrets.length > 0) {
    options.onWarning?.(`Left out of the snapshot as likely secrets: ${newSecrets.join(', ')}; add a "!name" line to .amlignore to include one.`)
  }
  const {inputs} = await currentDataInputs(project, options)
  return {snapshot, open, inputs}
}

/** A run's properties: the git properties of the user's repo, and its snapshot's commit. */
export async function runProperties(project: Project, snapshot: Snapshot): Promise<Record<string, string>> {
  return {...(await gitProperties(project.dir)), ContentSnapshotId: snapshot.commit}
}

/** A run's record before it starts (its start time is set again when it does). */
export function newRecord(project: Project, run: {runId: string; script: string; args: string[]; compute: string; snapshot: Snapshot; properties: Record<string, string>; params: Params; isolated: boolean; sweepId?: string; inputs?: RunInput[]}): RunRecord {
  return {
    schema: 1,
    runId: run.runId,
    projectId: project.config.id,
    projectName: project.config.name,
    script: run.script,
    arguments: run.args,
    compute: run.compute,
    status: 'Running',
    startTimeUtc: new Date().toISOString(),
    snapshotId: run.snapshot.commit,
    host: hostname(),
    outputs: [],
    ...Object.keys(run.params).length > 0 && {params: run.params},
    ...run.sweepId && {sweepId: run.sweepId},
    ...run.isolated && {isolated: true},
    ...run.inputs?.length && {inputs: run.inputs},
    properties: run.properties,
  }
}

/** `record` as queued now. */
export function queued(record: RunRecord): RunRecord {
  const now = new Date().toISOString()
  return Object.assign(record, {status: 'Queued', startTimeUtc: now, queuedTimeUtc: now})
}

/** The parameters of the snapshot's params file (the first of PARAMS_FILES it holds), or none. */
export async function fileParams(open: OpenHistory, snapshot: Snapshot): Promise<Params> {
  for (const name of PARAMS_FILES) {
    if (snapshot.holds?.(name) === false) continue
    const data = await (await open()).readFile(snapshot.commit, name)
    if (data !== null) return paramsFromFile(name, data.toString('utf8'))
  }
  return {}
}

/**
 * The likely secrets of `secrets` that no earlier submit named, so that each is named once, not
 * at every run; the names told are kept in .ml/ (deleting that file names them all again).
 */
async function secretsNotNamedYet(project: Project, secrets: string[]): Promise<string[]> {
  const file = mlPath(project.dir, 'secretsNamed')
  const named = new Set<unknown>(await fs.readFile(file, 'utf8').then((text) => [JSON.parse(text)].flat()).catch(() => []))
  const fresh = secrets.filter((s) => !named.has(s))
  if (fresh.length > 0) await writeAtomically(file, JSON.stringify([...named, ...fresh]), {sync: false})
  return fresh
}

/** SCRIPT as a path relative to the project root, checked to exist inside the project. */
export async function resolveScript(projectDir: string, cwd: string, script: string): Promise<string> {
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
