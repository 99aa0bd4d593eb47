import {promises as fs} from 'node:fs'
import path from 'node:path'
import {writeAtomically} from '../../shared/write-atomically.js'
import {mlPath} from '../project/layout.js'
import type {Project} from '../project/project.js'
import {isRunId} from '../trust/ids.js'

/**
 * A run this machine submitted to a compute target, until it is recorded as ended:
 * `.ml/compute-runs/<run-id>.json`. Where the run is and its Slurm job are kept here, never
 * taken from the run's record: a record is untrusted (pulled from a remote, it may name any
 * folder, process or job), and ml must never signal, read or delete what a record asks it to.
 */
export interface RemoteRun {
  schema: 1
  runId: string
  /** The target's name. */
  target: string
  /** `<work-dir>/<project-id>` on the target, absolute. */
  base: string
  /** The Slurm job (`123`, or `123_4` for a task of an array). */
  jobId?: string
  /** The ml process following the run (a submit, or a submit --wait), which records it itself. */
  driver?: {pid: number; host: string}
}

function dir(project: Project): string {
  return mlPath(project.dir, 'computeRuns')
}

export async function saveRemoteRun(project: Project, run: RemoteRun): Promise<void> {
  await fs.mkdir(dir(project), {recursive: true})
  await writeAtomically(path.join(dir(project), `${run.runId}.json`), `${JSON.stringify(run)}\n`)
}

export async function forgetRemoteRun(project: Project, runId: string): Promise<void> {
  await fs.rm(path.join(dir(project), `${runId}.json`), {force: true})
}

/** The runs submitted from here and not recorded as ended yet; a file that is not one ml wrote is skipped. */
export async function remoteRuns(project: Project): Promise<RemoteRun[]> {
  let files: string[]
  try {
    files = (await fs.readdir(dir(project))).filter((f) => f.endsWith('.json')).sort()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const runs: RemoteRun[] = []
  for (const file of files) {
    const run = await fs.readFile(path.join(dir(project), file), 'utf8').then((t) => JSON.parse(t) as RemoteRun, () => null)
    if (isRemoteRun(run) && `${run.runId}.json` === file) runs.push(run)
  }
  return runs
}

function isRemoteRun(run: RemoteRun | null): run is RemoteRun {
  return Boolean(run) && run!.schema === 1 && isRunId(run!.runId) && typeof run!.target === 'string'
    && typeof run!.base === 'string' && run!.base.startsWith('/') && !/[\0\n]/.test(run!.base)
    && (run!.jobId === undefined || /^\d+(_\d+)?$/.test(run!.jobId))
}
