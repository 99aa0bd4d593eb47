import {runPool} from '../shared/run-pool.js'
import type {RepoHandle} from './nodegit.js'
import {MODE} from './trees.js'
import type {EntryInfo} from './tree-reader.js'

/** A file's blob as a tree holds it: its git mode (0o100644, 0o100755 or 0o120000) and id. */
export type PlainBlob = [mode: number, oid: string]

const FILE_MODES = new Set([0o100644, 0o100755, MODE.SYMLINK])

/**
 * The files of `entries` (paths and the tree entries a restore wrote there) that git would
 * store back byte for byte: no clean filter (end-of-line conversion, ident, a filter driver;
 * from attributes or config) applies to them. Hashing such a file as it is on disk then tells
 * whether `git add` would give the same blob.
 */
export async function plainBlobs(h: RepoHandle, entries: Map<string, EntryInfo>): Promise<Record<string, PlainBlob>> {
  const {Git, repo} = h
  const FilterList = (Git as unknown as {FilterList: {load(repo: unknown, blob: null, path: string, mode: number, flags: number): Promise<unknown>}}).FilterList
  const TO_ODB = 1
  const blobs: Record<string, PlainBlob> = Object.create(null)
  // Some at once: each call is a trip to libgit2's thread pool, and the trips overlap.
  await runPool([...entries], 8, async ([file, entry]) => {
    if (!FILE_MODES.has(entry.mode)) return
    if ((await FilterList.load(repo, null, file, TO_ODB, 0)) === null) blobs[file] = [entry.mode, entry.oid]
  })
  return blobs
}
