import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import type {TreeFile} from '../../git/trees.js'
import {isMlError, MlError} from '../../shared/errors.js'
import {isAlive} from '../../shared/is-alive.js'
import type {RunRecord} from '../trust/run-record.js'
import {runRef, RUNS_PREFIX} from '../project/layout.js'

export type {RunOutput, RunRecord, RunStatus} from '../trust/run-record.js'

export const RUN_FILE = 'run.json'
export const LOG_FILE = 'output.log'

/** The manifest of a data version a run read, in every state of the run's tree. */
export function manifestFile(version: string): string {
  return `inputs/${version}`
}

/** `<project-name>_<epoch-ms>_<4 hex>`: sortable by time and unique across machines. */
export function newRunId(projectName: string, now = Date.now()): string {
  return `${projectName}_${now}_${randomBytes(2).toString('hex')}`
}

/**
 * Saves a new state of a run as a commit on its ref, with run.json and any `files` (the log,
 * captured outputs) in its tree. The previous state is its parent; the first state's parent
 * is the run's snapshot, so that pushing a run's ref always carries its snapshot along.
 */
export async function saveRun(repo: ShadowRepo, record: RunRecord, files: TreeFile[] = []): Promise<string> {
  return saveRunOver(repo, await repo.resolveRef(runRef(record.runId)), record, files)
}

/** Saves `record` on its ref only if the ref still points at `previous` (CONCURRENT_UPDATE otherwise). */
export async function saveRunOver(repo: ShadowRepo, previous: string | null, record: RunRecord, files: TreeFile[] = []): Promise<string> {
  const carried = await carriedManifests(repo, previous, record, files)
  const tree = await repo.writeTree([{path: RUN_FILE, data: `${JSON.stringify(record, null, 2)}\n`}, ...files, ...carried])
  const commit = await repo.commit(tree, [previous ?? record.snapshotId], `${record.status}: ${record.runId}`)
  await repo.updateRef(runRef(record.runId), commit, previous, `run ${record.status}`)
  return commit
}

/** Manifests this process computed, by their id (content-addressed, so never stale): a run's first state takes its manifests from here. */
const knownManifests = new Map<string, string>()

/** Makes a data version's manifest available to the records that name it (see saveRunOver). */
export function rememberManifest(version: string, text: string): void {
  knownManifests.set(version, text)
}

/**
 * The manifests of the record's data inputs that `files` does not bring: computed by this
 * process, or kept from the run's state before, so that every state of a run holds them.
 */
async function carriedManifests(repo: ShadowRepo, previous: string | null, record: RunRecord, files: TreeFile[]): Promise<TreeFile[]> {
  if (!record.inputs) return []
  const brought = new Set(files.map((f) => f.path))
  const carried: TreeFile[] = []
  for (const version of new Set(record.inputs.flatMap((i) => (i.kind === 'data' ? [i.version] : [])))) {
    const file = manifestFile(version)
    if (brought.has(file)) continue
    const data = knownManifests.get(version) ?? (previous ? await repo.readFile(previous, file) : null)
    if (data !== null) carried.push({path: file, data})
  }
  return carried
}

/**
 * A run's record as its ref holds it, for listing and showing. A run.json that fails the trust
 * gate (see trust/run-record.ts) gives a `Corrupt` run named after its ref, with the reason as
 * its error, so that one bad record never breaks a command about the others.
 */
export async function readRun(repo: ShadowRepo, runId: string): Promise<RunRecord> {
  const {run, commit} = await readRunAt(repo, runId)
  return run.status === 'Corrupt' ? run : settle(repo, commit, run)
}

/** A run's record with the commit it was read from, to change it only if nobody else did meanwhile. */
export async function readRunAt(repo: ShadowRepo, runId: string): Promise<{run: RunRecord; commit: string}> {
  const commit = await repo.resolveRef(runRef(runId))
  if (!commit) throw new MlError('RUN_NOT_FOUND', `There is no run with id ${runId}; list runs with \`ml history list\`.`)
  const {checkRunRecord} = await import('../trust/run-record.js')
  const checked = checkRunRecord(await repo.readFile(commit, RUN_FILE), runId)
  return {run: 'reason' in checked ? corruptRun(runId, checked.reason) : checked.record, commit}
}

/** A run whose record ml acts on (restore, download, diff): a Corrupt one is RUN_CORRUPT. */
export async function getRun(repo: ShadowRepo, runId: string): Promise<RunRecord> {
  const run = await readRun(repo, runId)
  if (run.status === 'Corrupt') {
    throw new MlError('RUN_CORRUPT', `The record of run ${runId} is corrupt (${run.error}); it is listed but cannot be used. Pull a good copy with \`ml history pull\`, or use another run.`)
  }
  return run
}

/** The stand-in for a record that failed the trust gate: its ref's name, the reason, and nothing from the record. */
function corruptRun(runId: string, reason: string): RunRecord {
  return {
    schema: 1, runId, projectId: '', projectName: '', script: '', arguments: [], compute: '', status: 'Corrupt',
    startTimeUtc: '', snapshotId: '', host: '', outputs: [], properties: {}, error: reason,
  }
}

/**
 * A run still marked Running whose ml process on this machine is gone was killed (or the
 * machine crashed): it is recorded as Failed with the reason, never left Running forever. Only
 * the ref it was read from (`commit`; null for a run with no ref yet, see start-journal.ts)
 * is written, and only if nobody moved it meanwhile.
 */
export async function settle(repo: ShadowRepo, commit: string | null, run: RunRecord): Promise<RunRecord> {
  if (!isAbandoned(run)) return run
  const settled: RunRecord = {...run, status: 'Failed', error: `The ml process (pid ${run.pid}) ended before the run did: it was killed or the machine stopped.`}
  try {
    await saveRunOver(repo, commit, settled)
  } catch (error) {
    if (!isMlError(error, 'CONCURRENT_UPDATE')) throw error
    // another process settled it first; the record says the same
  }
  return settled
}

/** True when `run` is Running for an ml process on this machine that is gone. */
export function isAbandoned(run: RunRecord): boolean {
  return run.status === 'Running' && run.host === hostname() && run.pid !== undefined && !isAlive(run.pid)
}

/** A file of the run's latest state (the log, metrics.jsonl, outputs/...), or null. */
export async function getRunFile(repo: ShadowRepo, runId: string, file: string): Promise<Buffer | null> {
  const commit = await repo.resolveRef(runRef(runId))
  return commit ? repo.readFile(commit, file) : null
}

export async function listRunIds(repo: ShadowRepo): Promise<string[]> {
  return [...(await repo.refTargets(RUNS_PREFIX)).keys()].map((ref) => ref.slice(RUNS_PREFIX.length)).sort()
}

/** The full id of the one run whose id is `idOrPrefix` or starts with it. */
export async function resolveRunId(repo: ShadowRepo, idOrPrefix: string): Promise<string> {
  const ids = await listRunIds(repo)
  if (ids.includes(idOrPrefix)) return idOrPrefix
  const matches = idOrPrefix ? ids.filter((id) => id.startsWith(idOrPrefix)) : []
  if (matches.length === 1) return matches[0]
  if (matches.length === 0) {
    throw new MlError('RUN_NOT_FOUND', `No run id starts with "${idOrPrefix}"; list runs with \`ml history list\`.`)
  }
  const shown = matches.slice(0, 5).join(', ')
  throw new MlError('RUN_NOT_FOUND', `"${idOrPrefix}" matches ${matches.length} runs (${shown}${matches.length > 5 ? ', ...' : ''}); give more of the run id.`)
}
