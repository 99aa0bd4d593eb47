import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {mlPath, runRef} from '../project/layout.js'
import type {Project} from '../project/project.js'
import {isAbandoned, type RunRecord, settle} from './runs.js'

/**
 * A submitted run's record as it starts, kept in .ml/runs/<run-id>/started.json from just before
 * its script starts until its ref holds it: the script need not wait for git (loading it, the
 * user's repo status, the commit). Should ml die in between, the next listing records the run
 * from this journal, as Failed, like any run whose ml process is gone.
 */
const JOURNAL = 'started.json'

function journalFile(project: Project, runId: string): string {
  return mlPath(project.dir, 'runs', runId, JOURNAL)
}

export async function writeStartJournal(project: Project, record: RunRecord): Promise<void> {
  const file = journalFile(project, record.runId)
  await fs.mkdir(path.dirname(file), {recursive: true})
  await writeAtomically(file, JSON.stringify(record), {sync: false})
}

export async function dropStartJournal(project: Project, runId: string): Promise<void> {
  await fs.rm(journalFile(project, runId), {force: true})
}

/**
 * Records the runs whose journal outlived their ml process as Failed (the git library is
 * opened only when there is one), unless the ref of the run holds it already, and drops their
 * journals. A journal of a live process is left alone: that process records its run in a
 * moment. One that is not a valid record is left as it is (ml writes none such).
 */
export async function recoverStartedRuns(project: Project, open: () => Promise<ShadowRepo>): Promise<void> {
  const ids = await fs.readdir(mlPath(project.dir, 'runs')).catch(() => [])
  let repo: ShadowRepo | undefined
  for (const runId of ids) {
    const data = await fs.readFile(journalFile(project, runId)).catch(() => null)
    if (!data) continue
    // The trust gate loads a schema library: only when there is a journal to read.
    const {checkRunRecord} = await import('../trust/run-record.js')
    const checked = checkRunRecord(data, runId)
    if (!('record' in checked) || !isAbandoned(checked.record)) continue
    repo ??= await open()
    if (!(await repo.resolveRef(runRef(runId)))) await settle(repo, null, checked.record)
    await dropStartJournal(project, runId)
  }
}
