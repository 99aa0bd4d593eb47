import {type Manifest, type ManifestDiff, diffManifests} from '../data/manifest.js'
import {readTrackedPaths} from '../project/tracked-data.js'
import {findProject} from '../project/project.js'
import type {OnProgress} from '../../shared/progress.js'
import {MlError} from '../../shared/errors.js'
import {openHistory} from '../snapshot/open-history.js'
import {cachedRunList, type ListedRun} from './run-cache.js'
import {currentDataInputs, dataInputsOf, runInputsOf, runManifests} from './run-inputs.js'
import type {RunRecord} from './runs.js'

/** How a tracked path differs from the version the newest run read. */
export interface DataStatus {
  path: string
  version: string
  files: number
  bytes: number
  /** `new`: no run read it yet. */
  state: 'unchanged' | 'changed' | 'new'
  lastRun?: string
  lastVersion?: string
  added: string[]
  changed: string[]
  removed: string[]
  bytesAdded: number
  bytesRemoved: number
}

/** The paths of a manifest diff's files, by kind of change. */
export function changedPaths(diff: ManifestDiff): Pick<DataStatus, 'added' | 'changed' | 'removed' | 'bytesAdded' | 'bytesRemoved'> {
  return {
    added: diff.added.map((e) => e.path),
    changed: diff.changed.map((c) => c.after.path),
    removed: diff.removed.map((e) => e.path),
    bytesAdded: diff.bytesAdded,
    bytesRemoved: diff.bytesRemoved,
  }
}

/** `ml data status`: each tracked path's version now, and what changed since the newest run that read it. */
export async function dataStatus(cwd: string, options: {onProgress?: OnProgress} = {}): Promise<DataStatus[]> {
  const project = await findProject(cwd)
  if (readTrackedPaths(project.dir).length === 0) return []
  const [{versions}, runs] = await Promise.all([currentDataInputs(project, options), cachedRunList(project)])
  const repo = runs.length > 0 ? await openHistory(project) : null
  const result: DataStatus[] = []
  for (const v of versions) {
    const last = runs.find((r) => r.status !== 'Corrupt' && dataInputsOf(r).some((i) => i.path === v.path))
    const base = {path: v.path, version: v.id, files: v.files, bytes: v.bytes}
    if (!last || !repo) {
      result.push({...base, state: 'new', ...changedPaths(diffManifests(null, v.manifest))})
      continue
    }
    const before = (await runManifests(repo, last)).find((m) => m.input.path === v.path)!
    const diff = diffManifests(before.manifest, v.manifest)
    result.push({...base, state: before.input.version === v.id ? 'unchanged' : 'changed', lastRun: last.runId, lastVersion: before.input.version, ...changedPaths(diff)})
  }
  return result
}

/** One version of a tracked path, with the runs that read it. */
export interface DataLogEntry {
  path: string
  version: string
  files: number
  bytes: number
  /** When the first run that read it started. */
  firstUsed: string
  /** The runs that read it, newest first. */
  runs: string[]
}

/** `ml data log [PATH]`: the versions of tracked data runs read, newest first (by their newest run). */
export async function dataLog(cwd: string, trackedPath?: string): Promise<DataLogEntry[]> {
  const project = await findProject(cwd)
  const wanted = trackedPath?.replace(/\/+$/, '')
  const byVersion = new Map<string, DataLogEntry>()
  for (const run of await cachedRunList(project)) {
    for (const input of dataInputsOf(run)) {
      if (wanted !== undefined && input.path !== wanted) continue
      const key = `${input.path}\0${input.version}`
      const entry = byVersion.get(key) ?? {path: input.path, version: input.version, files: input.files, bytes: input.bytes, firstUsed: run.startTimeUtc, runs: []}
      entry.runs.push(run.runId)
      if (run.startTimeUtc < entry.firstUsed) entry.firstUsed = run.startTimeUtc
      byVersion.set(key, entry)
    }
  }
  if (wanted !== undefined && byVersion.size === 0 && !readTrackedPaths(project.dir).includes(wanted)) {
    throw new MlError('INVALID_ARGUMENT', `No run read tracked data at ${wanted}; \`ml data status\` lists the tracked paths.`)
  }
  return [...byVersion.values()]
}

/** The runs a run read outputs of, and the runs that read its outputs: lineage both ways. */
export interface Lineage {
  parents: Array<{name: string; run: string; path: string}>
  children: Array<{run: string; name: string; path: string}>
}

export function lineageOf(run: RunRecord, runs: ListedRun[]): Lineage {
  return {
    parents: runInputsOf(run).map((i) => ({name: i.name, run: i.run, path: i.path})),
    children: runs.flatMap((other) => runInputsOf(other).filter((i) => i.run === run.runId).map((i) => ({run: other.runId, name: i.name, path: i.path}))),
  }
}

/** How two runs' data inputs differ: versions that are not the same, with the files that differ. */
export interface InputChange {
  path: string
  from?: string
  to?: string
  added: string[]
  changed: string[]
  removed: string[]
}

/** The data inputs of `a` and `b` (read from their trees) that differ. */
export async function inputChanges(repo: Parameters<typeof runManifests>[0], a: RunRecord, b: RunRecord): Promise<InputChange[]> {
  const [ma, mb] = await Promise.all([runManifests(repo, a), runManifests(repo, b)])
  const paths = [...new Set([...ma, ...mb].map((m) => m.input.path))]
  const changes: InputChange[] = []
  for (const p of paths) {
    const before = ma.find((m) => m.input.path === p)
    const after = mb.find((m) => m.input.path === p)
    if (before?.input.version === after?.input.version) continue
    const empty: Manifest = {root: p, entries: []}
    const {added, changed, removed} = changedPaths(diffManifests(before?.manifest ?? null, after?.manifest ?? empty))
    changes.push({path: p, from: before?.input.version, to: after?.input.version, added, changed, removed})
  }
  return changes
}
