// TEMPORARY stand-in, replaced by the data branch's manifest.ts at merge.
import {createHash} from 'node:crypto'
import {MlError} from '../../shared/errors.js'

export type ManifestEntry =
  | {path: string; size: number; mode: 0o100644 | 0o100755; sha256: string}
  | {path: string; link: string}
export interface Manifest {
  root: string
  entries: ManifestEntry[]
}
export function formatManifest(manifest: Manifest): string {
  return [JSON.stringify({schema: 1, root: manifest.root}), ...manifest.entries.map((e) => JSON.stringify('link' in e ? {path: e.path, link: e.link} : {path: e.path, size: e.size, mode: e.mode, sha256: e.sha256}))].map((l) => `${l}\n`).join('')
}
export function manifestId(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
export function parseManifest(text: string, source: string, expectedId?: string): Manifest {
  const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l))
  const m = {root: lines[0].root, entries: lines.slice(1)}
  if (formatManifest(m) !== text || (expectedId && manifestId(text) !== expectedId)) throw new MlError('DATA_CORRUPT', `${source} is not a manifest.`)
  return m
}
export interface ManifestDiff {
  added: ManifestEntry[]
  removed: ManifestEntry[]
  changed: Array<{before: ManifestEntry; after: ManifestEntry}>
  bytesAdded: number
  bytesRemoved: number
}
const sizeOf = (e: ManifestEntry) => ('size' in e ? e.size : 0)
export function diffManifests(before: Manifest | null, after: Manifest): ManifestDiff {
  const old = new Map((before?.entries ?? []).map((e) => [e.path, e]))
  const diff: ManifestDiff = {added: [], removed: [], changed: [], bytesAdded: 0, bytesRemoved: 0}
  for (const e of after.entries) {
    const b = old.get(e.path)
    old.delete(e.path)
    if (!b) { diff.added.push(e); diff.bytesAdded += sizeOf(e) }
    else if (JSON.stringify(b) !== JSON.stringify(e)) { diff.changed.push({before: b, after: e}); diff.bytesAdded += sizeOf(e) }
  }
  for (const e of old.values()) { diff.removed.push(e); diff.bytesRemoved += sizeOf(e) }
  return diff
}
export function manifestTotals(manifest: Manifest): {files: number; bytes: number} {
  return {files: manifest.entries.length, bytes: manifest.entries.reduce((n, e) => n + sizeOf(e), 0)}
}
