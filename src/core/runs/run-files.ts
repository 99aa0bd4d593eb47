import {promises as fs} from 'node:fs'
import {MlError} from '../../shared/errors.js'
import {usedObject} from '../data/object-cache.js'
import {fetchMissing, projectCache, type StoreAccess} from '../data/project-store.js'
import {OUTPUTS_DIR, runRef} from '../project/layout.js'
import {findProject} from '../project/project.js'
import {openHistory} from '../snapshot/open-history.js'
import {unsafeReason} from '../trust/tree-path.js'
import {getRun, resolveRunId} from './runs.js'

/** A file of a run's snapshot, as the dashboard's file tree lists it. */
export interface SnapshotEntry {
  path: string
  /** `file`, `executable`, `link` (its target is its content) or `repo` (a nested repository's commit). */
  kind: 'file' | 'executable' | 'link' | 'repo'
}

const KINDS: Record<number, SnapshotEntry['kind']> = {0o100644: 'file', 0o100755: 'executable', 0o120000: 'link', 0o160000: 'repo'}

/** The files of the snapshot a run ran on; names that fail the path gate are left out. */
export async function snapshotFiles(cwd: string, runIdOrPrefix: string): Promise<{runId: string; snapshotId: string; files: SnapshotEntry[]}> {
  const repo = await openHistory(await findProject(cwd))
  const run = await getRun(repo, await resolveRunId(repo, runIdOrPrefix))
  const entries = await repo.listEntries(await repo.treeOf(run.snapshotId))
  const files = entries.filter((e) => unsafeReason(e.path) === null).map((e) => ({path: e.path, kind: KINDS[e.mode] ?? 'file'}))
  return {runId: run.runId, snapshotId: run.snapshotId, files}
}

/**
 * The bytes of `file` in a run's snapshot (`from: 'snapshot'`) or among its outputs: a path is
 * looked up in the tree only, never on disk, and one that is absolute, climbs with `..` or
 * fails the path gate otherwise is UNSAFE_PATH; a folder, a link or a name the tree does not
 * hold is RUN_NOT_FOUND. A large output this machine lacks comes from the project's store (with `access`).
 */
export async function runFile(cwd: string, runIdOrPrefix: string, from: 'snapshot' | 'outputs', file: string, access?: StoreAccess): Promise<Buffer> {
  const reason = unsafeReason(file)
  if (reason) throw new MlError('UNSAFE_PATH', `${JSON.stringify(file)} ${reason}; name a file inside the run's ${from === 'snapshot' ? 'snapshot' : 'outputs'}.`)
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const run = await getRun(repo, await resolveRunId(repo, runIdOrPrefix))
  const missing = () => new MlError('RUN_NOT_FOUND', `Run ${run.runId} has no ${from === 'snapshot' ? 'snapshot file' : 'output'} ${file}.`)
  if (from === 'snapshot') {
    const entry = await repo.treeReader().entry(await repo.treeOf(run.snapshotId), file)
    if (!entry || (entry.mode !== 0o100644 && entry.mode !== 0o100755)) throw missing()
    return repo.readBlob(entry.oid)
  }
  const output = run.outputs.find((o) => o.path === file)
  if (!output) throw missing()
  if (output.sha256 !== undefined) {
    const object = {id: output.sha256, size: output.size}
    if (access) await fetchMissing(project, access, [object])
    const local = usedObject(projectCache(project, access ?? {env: {}}), output.sha256)
    if (!local) throw new MlError('RUN_NOT_FOUND', `The output ${file} of run ${run.runId} is over 50 MB and not on this machine; it comes from the project's artifact store once one is set (\`ml project update --store URL\`).`)
    return fs.readFile(local)
  }
  const data = await repo.readFile((await repo.resolveRef(runRef(run.runId)))!, `${OUTPUTS_DIR}/${file}`)
  if (data === null) throw missing()
  return data
}
