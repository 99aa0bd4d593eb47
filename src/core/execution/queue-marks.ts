import {promises as fs} from 'node:fs'
import path from 'node:path'
import {mlPath} from '../project/layout.js'
import type {Project} from '../project/project.js'

/**
 * Which Queued runs were queued here: `.ml/queue/queued/<run-id>`, made when a run is queued on
 * this machine. The worker runs only these. A run record is untrusted input (pulled from a
 * remote, it may say Queued with this machine's name as its host), and a worker must never run
 * a script because a record asked it to.
 */
function marks(project: Project): string {
  return mlPath(project.dir, 'queue', 'queued')
}

export async function markQueued(project: Project, runIds: string[]): Promise<void> {
  await fs.mkdir(marks(project), {recursive: true})
  for (const id of runIds) await fs.writeFile(path.join(marks(project), id), '')
}

export async function unmarkQueued(project: Project, runId: string): Promise<void> {
  await fs.rm(path.join(marks(project), runId), {force: true})
}

/** The ids of the runs queued on this machine. */
export async function locallyQueued(project: Project): Promise<Set<string>> {
  try {
    return new Set(await fs.readdir(marks(project)))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Set()
    throw error
  }
}
