import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {MlError} from '../../shared/errors.js'
import type {OnProgress} from '../../shared/progress.js'
import {checkoutData, restoreWrites} from '../data/data-checkout.js'
import {diffManifests, formatManifest, type Manifest, type ManifestDiff, manifestId, parseManifest} from '../data/manifest.js'
import {keepInCache} from '../data/object-cache.js'
import {fetchMissing, projectCache, type StoreAccess} from '../data/project-store.js'
import type {Project} from '../project/project.js'
import {manifestFile} from '../runs/runs.js'

/** A tracked path's data as the folder holds it, and the version a restore puts back. */
export interface DataRestore {
  path: string
  before: Manifest
  after: Manifest
  diff: ManifestDiff
}

/** What a data backup names: the versions the folder held, and those the restore wrote (an undo needs no new backup while the folder still holds them). */
interface DataBackupFile {
  before: Array<{path: string; version: string}>
  restored: Array<{path: string; version: string}>
}

const DATA_BACKUP_FILE = 'data.json'

/** How the folder's data differs from `targets` (manifests already checked), computed now. */
export async function planDataRestore(project: Project, targets: Manifest[]): Promise<DataRestore[]> {
  const {dataVersions} = await import('../data/data-version.js')
  const current = await dataVersions(project.dir, targets.map((m) => m.root))
  return targets.map((after, i) => ({path: after.root, before: current[i].manifest, after, diff: diffManifests(current[i].manifest, after)}))
}

export function dataChanges(restores: DataRestore[]): number {
  return restores.reduce((n, r) => n + r.diff.added.length + r.diff.changed.length + r.diff.removed.length, 0)
}

/**
 * Brings the files the restores write and this machine lacks from the project's store, before
 * anything is changed (DATA_MISSING without a store).
 */
export async function fetchDataTargets(project: Project, restores: DataRestore[], access: StoreAccess & {onProgress?: OnProgress}): Promise<void> {
  const needed = restores.flatMap((r) => restoreWrites(r.diff).write.flatMap((e) => ('sha256' in e ? [{id: e.sha256, size: e.size}] : [])))
  const lacking = await fetchMissing(project, access, needed)
  if (lacking.length > 0) {
    throw new MlError('DATA_MISSING', `${lacking.length} data file${lacking.length === 1 ? ' is' : 's are'} not on this machine and the project has no artifact store to fetch ${lacking.length === 1 ? 'it' : 'them'} from; set it with \`ml project update --store URL\` (the one the run's machine pushed to); nothing was changed.`)
  }
}

/**
 * Keeps what the restores replace: every file changed or removed goes into the object cache
 * (hashed as it is copied: a file that changed since it was looked at stops the restore before
 * anything is written), and the versions the folder held into a commit, returned, that the
 * backup points at, so that an undo puts them back.
 */
export async function keepDataBefore(project: Project, repo: ShadowRepo, restores: DataRestore[], access: StoreAccess): Promise<string> {
  const cache = projectCache(project, access)
  for (const r of restores) {
    for (const entry of [...r.diff.removed, ...r.diff.changed.map((c) => c.before)]) {
      if (!('sha256' in entry)) continue
      if ((await keepInCache(cache, path.join(project.dir, entry.path), entry.sha256)) === null) {
        throw new MlError('DATA_CORRUPT', `${entry.path} changed while the restore was keeping a copy of it; nothing was changed, run the restore again.`)
      }
    }
  }
  return dataBackupCommit(repo, restores)
}

/** Writes the restores' files into the folder (all of them local by now, see fetchDataTargets). */
export async function writeDataRestores(project: Project, restores: DataRestore[], access: StoreAccess): Promise<void> {
  for (const r of restores) await checkoutData(project.dir, projectCache(project, access), restoreWrites(r.diff))
}

/** The version ids the folder holds now, in the order of `restores`. */
export function currentVersions(restores: DataRestore[]): string[] {
  return restores.map((r) => manifestId(formatManifest(r.before)))
}

async function dataBackupCommit(repo: ShadowRepo, restores: DataRestore[]): Promise<string> {
  const versions = (side: 'before' | 'after') => restores.map((r) => ({path: r.path, text: formatManifest(r[side])}))
  const file: DataBackupFile = {
    before: versions('before').map((v) => ({path: v.path, version: manifestId(v.text)})),
    restored: versions('after').map((v) => ({path: v.path, version: manifestId(v.text)})),
  }
  const manifests = versions('before').map((v) => ({path: manifestFile(manifestId(v.text)), data: v.text}))
  const tree = await repo.writeTree([{path: DATA_BACKUP_FILE, data: `${JSON.stringify(file, null, 2)}\n`}, ...manifests])
  return repo.commit(tree, [], 'data before a restore')
}

/** The data a backup holds (none for a backup taken without data), its manifests checked as any other. */
export async function backupData(repo: ShadowRepo, backupCommit: string): Promise<{before: Manifest[]; restored: string[]} | null> {
  const parent = (await repo.parentsOf(backupCommit))[0]
  if (!parent) return null
  const text = await repo.readFile(parent, DATA_BACKUP_FILE)
  if (text === null) return null
  const corrupt = () => new MlError('PROJECT_CORRUPT', `The data of backup commit ${backupCommit.slice(0, 12)} cannot be read; restore it without data or remove the backup.`)
  let file: DataBackupFile
  try {
    file = JSON.parse(text.toString('utf8')) as DataBackupFile
  } catch {
    throw corrupt()
  }
  if (!Array.isArray(file.before) || !Array.isArray(file.restored)) throw corrupt()
  const before: Manifest[] = []
  for (const {path: root, version} of file.before) {
    const manifest = await repo.readFile(parent, manifestFile(String(version)))
    if (manifest === null) throw corrupt()
    const parsed = parseManifest(manifest.toString('utf8'), `the manifest of ${root} in a backup`, String(version))
    if (parsed.root !== root) throw corrupt()
    before.push(parsed)
  }
  return {before, restored: file.restored.map((v) => String(v.version))}
}
