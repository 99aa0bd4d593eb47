import {shadowGit} from './helpers.js'

/**
 * A tree entry to craft: a file, a symlink (`link`) or a folder (`children`), with any name at
 * all; `mode` and `id` override what git would write, for entries whose mode lies about their object.
 */
export interface Entry {
  name: string
  content?: string | Buffer
  link?: string
  children?: Entry[]
  mode?: string
  id?: string
}

/** Writes `entries` as a tree with git's plumbing (in the repo at GIT_DIR `gitDir`), byte for byte, bypassing every name check. */
export function writeTreeIn(git: (args: string[], input?: string | Buffer) => string, entries: Entry[]): string {
  const raw: Buffer[] = []
  for (const entry of [...entries].sort((a, b) => (Buffer.from(a.name) < Buffer.from(b.name) ? -1 : 1))) {
    let mode = entry.mode
    let id = entry.id
    if (entry.children) {
      mode ??= '40000'
      id ??= writeTreeIn(git, entry.children)
    } else {
      mode ??= entry.link === undefined ? '100644' : '120000'
      id ??= git(['hash-object', '-w', '--stdin'], entry.link ?? entry.content ?? '')
    }
    raw.push(Buffer.from(`${mode} ${entry.name}\0`), Buffer.from(id, 'hex'))
  }
  return git(['hash-object', '-t', 'tree', '--literally', '-w', '--stdin'], Buffer.concat(raw))
}

/** writeTreeIn for a project's shadow repo. */
export function writeTree(dir: string, entries: Entry[]): string {
  return writeTreeIn((args, input) => shadowGit(dir, args, {}, input), entries)
}

/** The entries of the project's latest snapshot (top-level files only), to craft a variant of it. */
export function snapshotFiles(dir: string): Entry[] {
  return shadowGit(dir, ['ls-tree', 'HEAD']).split('\n').filter((l) => l.startsWith('100')).map((l) => {
    const [meta, name] = l.split('\t')
    return {name, content: shadowGit(dir, ['cat-file', 'blob', meta.split(' ')[2]])}
  })
}

/** A run whose snapshot is the crafted tree (the project's files plus `extra`), as a remote could deliver it. */
export function craftRun(dir: string, extra: Entry[]): string {
  const tree = writeTree(dir, [...snapshotFiles(dir), ...extra])
  const snapshot = shadowGit(dir, ['commit-tree', tree, '-m', 'crafted'])
  const runId = `evil_1700000000000_${Math.random().toString(16).slice(2, 6)}`
  const record = {schema: 1, runId, projectId: 'x', projectName: 'evil', script: 'train.py', arguments: [], compute: 'local', status: 'Completed', startTimeUtc: '2023-11-14T22:13:20.000Z', snapshotId: snapshot, host: 'elsewhere', outputs: [], properties: {}}
  const runTree = writeTree(dir, [{name: 'run.json', content: JSON.stringify(record)}])
  shadowGit(dir, ['update-ref', `refs/ml/runs/${runId}`, shadowGit(dir, ['commit-tree', runTree, '-p', snapshot, '-m', 'Completed'])])
  return runId
}
