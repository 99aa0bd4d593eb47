import {randomBytes, randomInt} from 'node:crypto'
import {setMaxListeners} from 'node:events'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {MlError} from '../../shared/errors.js'
import {runPool} from '../../shared/run-pool.js'
import {findProject} from '../project/project.js'
import {mergeParams, paramsFromArgs} from '../runs/params.js'
import {newRunId, saveRun, type RunRecord} from '../runs/runs.js'
import {pushQuietly} from '../remote/push-quietly.js'
import {checkJobs, executeRun, type RunOptions} from './execute-run.js'
import {fileParams, newRecord, queued, resolveScript, runProperties, snapshotForRuns, targetOf} from './experiment.js'
import {openShell} from '../compute/open-shell.js'
import {submitToSlurm} from '../compute/slurm.js'
import {runOnHost} from '../compute/ssh-run.js'
import {LOCAL} from '../compute/targets.js'
import {startableCommand} from './executor.js'
import {combinationCount, parseGrid, parseRange, planSweep, sweepArgs} from './sweep-plan.js'
import {markQueued} from './queue-marks.js'
import {removeAbandonedWorkdirs} from './workdir.js'

/** More runs than this need `--yes`: a typo in a grid should not start thousands of runs. */
export const MAX_UNCONFIRMED_RUNS = 1000

export interface SweepOptions extends RunOptions {
  cwd: string
  script: string
  /** The arguments every run gets, before its own `--name value` pairs. */
  args: string[]
  compute?: string
  /** `name=v1,v2,...` specs: every combination of their values is run. */
  grid: string[]
  /** `name=lo:hi[:log]` specs, sampled by `random` runs. */
  ranges: string[]
  random?: number
  seed?: number
  /** How many runs at once. */
  jobs: number
  /** Record the runs as Queued instead of running them. */
  queue?: boolean
  /** Allows more than MAX_UNCONFIRMED_RUNS runs. */
  yes?: boolean
  /** Told of the sweep once it is planned and snapshotted, before any run starts. */
  onPlanned?: (sweep: {sweepId: string; runs: RunRecord[]; seed?: number; snapshotCreated: boolean}) => void
  /** Told of each run as it ends (or is canceled before it started). */
  onRunEnd?: (run: RunRecord) => void
}

export interface SweepResult {
  sweepId: string
  runs: RunRecord[]
  /** The seed the random plan was drawn with (so it can be drawn again). */
  seed?: number
}

/**
 * `ml experiment sweep`: one snapshot, one isolated run per combination of the grid (or per
 * random draw from the ranges), each with its `--name value` pairs after the fixed arguments,
 * `jobs` at once. Aborting `signal` cancels the running scripts (SIGINT first) and records the
 * runs not started yet as Canceled, so every planned run is recorded with how it ended.
 */
export async function sweepExperiment(options: SweepOptions): Promise<SweepResult> {
  const project = await findProject(options.cwd)
  const target = await targetOf(project, options.compute)
  const compute = target?.name ?? LOCAL
  if (target && options.queue) throw new MlError('INVALID_ARGUMENT', `--queue is for local runs; the runs of a sweep on ${target.name} ${target.type === 'slurm' ? 'are queued by Slurm' : 'run at once'}.`)
  checkJobs(options.jobs)
  // Every run in flight listens to the signals (its script, its environment's tools): jobs at once are many listeners, not a leak.
  if (options.signal) setMaxListeners(20 * options.jobs, options.signal)
  const grid = options.grid.map(parseGrid)
  const ranges = options.ranges.map(parseRange)
  const count = combinationCount(grid, options.random)
  if (count > MAX_UNCONFIRMED_RUNS && !options.yes) {
    throw new MlError('CONFIRMATION_REQUIRED', `This sweep has ${count} runs (more than ${MAX_UNCONFIRMED_RUNS}); check the --grid values, or add --yes to run them all.`)
  }
  const seed = options.random === undefined ? undefined : options.seed ?? randomInt(2 ** 31)
  const plan = planSweep({grid, ranges, random: options.random, seed})
  if (plan.length === 0) throw new MlError('INVALID_ARGUMENT', 'The sweep has no runs; give at least one --grid, or --random N with --range.')
  const script = await resolveScript(project.dir, options.cwd, options.script)
  if (!target) {
    await startableCommand(project.dir, script, options.env, process.execPath)
    await removeAbandonedWorkdirs(project)
  }
  const sweepId = `sweep_${Date.now()}_${randomBytes(2).toString('hex')}`
  const {snapshot, open, inputs} = await snapshotForRuns(project, `Snapshot for sweep ${sweepId}`, options)
  const fromFile = await fileParams(open, snapshot)
  const [repo, properties] = await Promise.all([open(), runProperties(project, snapshot)])
  const sweepProperties = seed === undefined ? properties : {...properties, 'ml.sweep.seed': String(seed)}
  const ids = new Set<string>()
  const runs = plan.map((combination) => {
    const args = [...options.args, ...sweepArgs(combination)]
    // Ids made in the same millisecond differ only by 4 random hex digits: draw again on a clash.
    let runId = newRunId(project.config.name)
    while (ids.has(runId)) runId = newRunId(project.config.name)
    ids.add(runId)
    return newRecord(project, {runId, script, args, compute, snapshot, properties: sweepProperties, params: mergeParams(fromFile, paramsFromArgs(args)), isolated: !target, sweepId, inputs})
  })
  if (options.queue) {
    for (const run of runs) await saveRun(repo, queued(run))
    await markQueued(project, runs.map((run) => run.runId))
    await pushQuietly(project, repo, options)
    options.onPlanned?.({sweepId, runs, seed, snapshotCreated: snapshot.created})
    return {sweepId, runs, seed}
  }
  if (target && !options.auth) throw new MlError('INTERNAL', 'A sweep on a compute target needs the ssh settings.')
  const onTarget = target && {...options, auth: options.auth!, runLoggerDir: options.runLoggerDir ?? '', snapshotCreated: snapshot.created}
  if (target?.type === 'slurm') {
    // One job array: Slurm runs at most `jobs` of its tasks at once.
    const shell = await openShell(target, options.auth!)
    try {
      await submitToSlurm(project, repo, runs, target, shell, {...onTarget!, jobs: options.jobs})
    } finally {
      shell.close()
    }
    options.onPlanned?.({sweepId, runs, seed, snapshotCreated: snapshot.created})
    return {sweepId, runs, seed}
  }
  options.onPlanned?.({sweepId, runs, seed, snapshotCreated: snapshot.created})
  const ended = await runPool(runs, options.jobs, async (run) => {
    if (options.signal?.aborted) return cancelUnstarted(repo, run, 'The sweep was canceled before this run started.')
    if (target?.type === 'ssh') return runOnHost(project, repo, run, target, onTarget!)
    return executeRun(project, async () => repo, run, {...options, snapshotCreated: snapshot.created})
  }, options.onRunEnd)
  return {sweepId, runs: ended, seed}
}

/** Records a run that never started as Canceled, with the reason. */
async function cancelUnstarted(repo: ShadowRepo, run: RunRecord, reason: string): Promise<RunRecord> {
  const now = new Date().toISOString()
  Object.assign(run, {status: 'Canceled', endTimeUtc: now, durationMs: 0, error: reason})
  await saveRun(repo, run)
  return run
}
