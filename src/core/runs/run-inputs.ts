import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {MlError} from '../../shared/errors.js'
import type {OnProgress} from '../../shared/progress.js'
import type {DataVersion} from '../data/data-version.js'
import {type Manifest, parseManifest} from '../data/manifest.js'
import type {NeededObject} from '../data/transfer.js'
import {readTrackedPaths} from '../project/tracked-data.js'
import type {Project} from '../project/project.js'
import {runRef} from '../project/layout.js'
import type {DataInput, RunInput} from '../trust/run-record.js'
import {manifestFile, rememberManifest, type RunRecord} from './runs.js'

/** What a run records of the tracked data it reads: its inputs, from these versions. */
export interface DataInputs {
  inputs: DataInput[]
  versions: DataVersion[]
}

/**
 * The versions of the project's tracked data now, as a run's inputs: computed before every run
 * (the stat cache makes an unchanged folder a stat walk), their manifests remembered for the
 * records that name them. None without a .mldata.
 */
export async function currentDataInputs(project: Project, options: {onProgress?: OnProgress; onWarning?: (message: string) => void} = {}): Promise<DataInputs> {
  const tracked = readTrackedPaths(project.dir)
  if (tracked.length === 0) return {inputs: [], versions: []}
  const {dataVersions} = await import('../data/data-version.js')
  const versions = await dataVersions(project.dir, tracked, {onProgress: options.onProgress})
  for (const v of versions) {
    if (v.files === 0 && v.manifest.entries.length === 0) options.onWarning?.(`The tracked data ${v.path} is missing or empty; the run records it with no files.`)
    for (const s of v.skipped.slice(0, 5)) options.onWarning?.(`Left out of the version of ${v.path}: ${s.path} (${s.reason}).`)
  }
  for (const v of versions) rememberManifest(v.id, v.text)
  return {inputs: versions.map((v) => ({kind: 'data', path: v.path, version: v.id, files: v.files, bytes: v.bytes})), versions}
}

/** A data input of a run with its manifest, read from the run's tree and checked (DATA_CORRUPT for one that is not what the record names). */
export interface InputManifest {
  input: DataInput
  manifest: Manifest
}

/** The manifests of `run`'s data inputs, from its latest state. */
export async function runManifests(repo: ShadowRepo, run: RunRecord): Promise<InputManifest[]> {
  const data = dataInputsOf(run)
  if (data.length === 0) return []
  const commit = await repo.resolveRef(runRef(run.runId))
  const result: InputManifest[] = []
  for (const input of data) {
    const text = commit ? await repo.readFile(commit, manifestFile(input.version)) : null
    if (text === null) throw new MlError('DATA_CORRUPT', `Run ${run.runId} names the version ${input.version.slice(0, 12)} of ${input.path}, but its history holds no manifest for it; pull the run again (\`ml history pull\`).`)
    const manifest = parseManifest(text.toString('utf8'), `the manifest of ${input.path} in run ${run.runId}`, input.version)
    if (manifest.root !== input.path) throw new MlError('DATA_CORRUPT', `The manifest of ${input.path} in run ${run.runId} is the manifest of ${manifest.root}; the record is not to be trusted.`)
    result.push({input, manifest})
  }
  return result
}

export function dataInputsOf(run: RunRecord): DataInput[] {
  return (run.inputs ?? []).filter((i): i is DataInput => i.kind === 'data')
}

export function runInputsOf(run: RunRecord): Array<Extract<RunInput, {kind: 'run'}>> {
  return (run.inputs ?? []).filter((i): i is Extract<RunInput, {kind: 'run'}> => i.kind === 'run')
}

/**
 * What of `run` lives in the artifact store rather than the history: its data versions' files
 * (found here in the project folder, where they may still hold those bytes) and its large
 * outputs (in the object cache).
 */
export async function storedObjects(project: Project, repo: ShadowRepo, run: RunRecord): Promise<NeededObject[]> {
  const objects: NeededObject[] = []
  for (const {manifest} of await runManifests(repo, run)) {
    for (const entry of manifest.entries) {
      if ('sha256' in entry) objects.push({id: entry.sha256, size: entry.size, sources: [path.join(project.dir, entry.path)]})
    }
  }
  for (const output of run.outputs) {
    if (output.sha256) objects.push({id: output.sha256, size: output.size, sources: []})
  }
  return objects
}
