import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {MlError} from '../../shared/errors.js'
import type {Project} from '../project/project.js'
import {pushQuietly} from '../remote/push-quietly.js'
import {saveRun, type RunRecord} from '../runs/runs.js'
import {saveRemoteRun} from './remote-runs.js'
import {placeOf, prepareRunFolder, projectBase} from './run-folder.js'
import {firstLine, quote, type Shell} from '../../ssh/shell.js'
import type {ComputeRunOptions} from './ssh-run.js'
import type {SlurmTarget} from './targets.js'

/** What Slurm says of a job: its state (`PENDING`, `RUNNING`, `COMPLETED`, `TIMEOUT`...), why, and where. */
export interface SlurmJob {
  state: string
  reason: string
  node: string
}

/** Slurm's states in which a job will not run again. */
const ENDED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'REVOKED', 'SPECIAL_EXIT'])
/** Slurm's states in which the job's script runs (or is being set up or torn down on its node). */
const RUNNING = new Set(['RUNNING', 'COMPLETING', 'CONFIGURING', 'SUSPENDED', 'STOPPED', 'SIGNALING', 'STAGE_OUT'])

export function slurmEnded(job: SlurmJob): boolean {
  return ENDED.has(job.state)
}

export function slurmRunning(job: SlurmJob): boolean {
  return RUNNING.has(job.state)
}

/** Why Slurm ended a job that did not end by itself, as a run's error; null when it did. */
export function slurmEndReason(job: SlurmJob): string | null {
  const why: Record<string, string> = {
    TIMEOUT: 'the job reached its time limit',
    NODE_FAIL: 'its node failed',
    OUT_OF_MEMORY: 'it ran out of memory',
    PREEMPTED: 'it was preempted',
    BOOT_FAIL: 'its node did not boot',
    DEADLINE: 'it missed its deadline',
  }
  return why[job.state] ? `Slurm ended the job: ${job.state} (${why[job.state]}).` : null
}

/**
 * Submits `records` (one snapshot's runs) to Slurm as one job, or as one job array with at most
 * `jobs` tasks at once: each run's folder is made in the target's work dir, then sbatch is
 * called once. The runs are recorded as Queued with `slurm.job_id` only once sbatch accepted
 * them; a refusal is COMPUTE_ERROR with Slurm's words, and nothing is recorded.
 */
export async function submitToSlurm(project: Project, repo: ShadowRepo, records: RunRecord[], target: SlurmTarget, shell: Shell, options: Omit<ComputeRunOptions, 'signal'> & {jobs?: number}): Promise<{runs: RunRecord[]; base: string}> {
  const base = await projectBase(shell, target, project.config.id)
  const places = records.map((r) => placeOf(base, r.runId))
  let jobId: string | undefined
  try {
    for (const [i, record] of records.entries()) {
      const sent = await prepareRunFolder(shell, repo, target, places[i], record, path.join(options.runLoggerDir, 'run_logger.py'), project.config.name)
      options.onSent?.(sent, shell.where)
    }
    const array = records.length > 1
    // Each task's own output goes to its own control folder: a folder shared by the tasks would
    // be removed with the first run collected, and a task started after that could not open it.
    const tasks = places.map((p, i) => `${i}) exec sh ${quote(`${p.ctl}/run.sh`)} > ${quote(`${p.ctl}/slurm.out`)} 2>&1 ;;`)
    const batch = `${places[0].ctl}/batch.sh`
    await shell.writeFile(batch, ['#!/bin/sh', `# Written by ml: ${array ? `the ${records.length} runs of sweep ${records[0].sweepId ?? ''}` : `run ${records[0].runId}`}.`, 'case "${SLURM_ARRAY_TASK_ID:-0}" in', ...tasks, 'esac', 'exit 127', ''].join('\n'), 0o755)
    const sbatch = [
      'sbatch', '--parsable', ...target.sbatchArgs,
      `--job-name=ml-${project.config.name.replace(/[^A-Za-z0-9._-]/g, '_')}`,
      '--output=/dev/null',
      `--chdir=${base}`,
      ...target.partition ? [`--partition=${target.partition}`] : [],
      ...array ? [`--array=0-${records.length - 1}${options.jobs ? `%${options.jobs}` : ''}`] : [],
      batch,
    ]
    const result = await shell.run(sbatch.map(quote).join(' '))
    jobId = /^(\d+)(;\S*)?\s*$/.exec(result.stdout.trim())?.[1]
    if (result.code !== 0 || !jobId) {
      const said = firstLine(result.stderr.replace(/^sbatch: error: /gm, '')) || firstLine(result.stdout) || `exit code ${result.code}`
      throw new MlError('COMPUTE_ERROR', `Slurm refused the job on ${shell.where}: ${said}`)
    }
    const now = new Date().toISOString()
    for (const [i, record] of records.entries()) {
      const job = array ? `${jobId}_${i}` : jobId
      await saveRemoteRun(project, {schema: 1, runId: record.runId, target: target.name, base, jobId: job})
      Object.assign(record, {status: 'Queued', startTimeUtc: now, queuedTimeUtc: now, host: target.host ?? record.host})
      record.properties = {...record.properties, 'slurm.job_id': job, 'compute.dir': places[i].runDir}
      await saveRun(repo, record)
    }
  } catch (error) {
    // Not submitted: nothing of it is left. (Once Slurm has the job, its folders are the job's.)
    if (!jobId) await shell.run(places.map((p) => `rm -rf ${quote(p.runDir)} ${quote(p.ctl)}`).join('; '))
    throw error
  }
  await pushQuietly(project, repo, options)
  return {runs: records, base}
}

/**
 * What Slurm says of `jobIds` (array tasks as `123_4`): the jobs it still knows, finished ones
 * included (it forgets them MinJobAge after they end). One squeue for all of them.
 */
export async function slurmJobs(shell: Shell, jobIds: string[]): Promise<Map<string, SlurmJob>> {
  const jobs = new Map<string, SlurmJob>()
  if (jobIds.length === 0) return jobs
  const result = await shell.run(`squeue --noheader --array --states=all --me --format='%i|%T|%r|%N'`)
  if (result.code !== 0) throw new MlError('COMPUTE_ERROR', `squeue failed on ${shell.where}: ${firstLine(result.stderr) || `exit code ${result.code}`}`)
  const wanted = new Set(jobIds)
  for (const line of result.stdout.split('\n')) {
    const [id, state, reason, node] = line.trim().split('|')
    if (id && wanted.has(id)) jobs.set(id, {state: state.replace(/\+$/, ''), reason: reason ?? '', node: node ?? ''})
  }
  // A job that ended more than MinJobAge ago is only in Slurm's accounting, where there is one
  // (without it sacct fails, and the run's own exit file is all there is).
  const forgotten = jobIds.filter((id) => !jobs.has(id))
  if (forgotten.length > 0) {
    const accounted = await shell.run(`sacct --noheader --parsable2 --allocations --jobs=${forgotten.map(quote).join(',')} --format=JobID,State,NodeList`)
    for (const line of accounted.code === 0 ? accounted.stdout.split('\n') : []) {
      const [id, state, node] = line.trim().split('|')
      if (id && wanted.has(id) && state) jobs.set(id, {state: state.split(' ')[0].replace(/\+$/, ''), reason: '', node: node ?? ''})
    }
  }
  return jobs
}

/** Asks Slurm to cancel `jobIds`; a job that has ended meanwhile is not an error. */
export async function cancelSlurmJobs(shell: Shell, jobIds: string[]): Promise<void> {
  if (jobIds.length === 0) return
  const result = await shell.run(`scancel ${jobIds.map(quote).join(' ')}`)
  if (result.code !== 0 && !/already completed|Invalid job id/i.test(result.stderr)) {
    throw new MlError('COMPUTE_ERROR', `scancel failed on ${shell.where}: ${firstLine(result.stderr) || `exit code ${result.code}`}`)
  }
}
