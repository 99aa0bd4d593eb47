import {promises as fs} from 'node:fs'
import {refStamp} from '../../git/ref-stamp.js'
import {historyDir, type Project} from '../project/project.js'
import {isAbandoned, readRun, type RunRecord} from './runs.js'
import {recoverStartedRuns} from './start-journal.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {mlPath, RUNS_PREFIX, trackingRef} from '../project/layout.js'
import {openHistory} from '../snapshot/open-history.js'

/** A run as listed: its record, and whether the remote has its latest state (when there is a remote). */
export type ListedRun = RunRecord & {pushed?: boolean}

/**
 * The run list, cached in .ml/runs-cache.ndjson so that listing thousands of runs reads one file
 * instead of thousands of git objects, and loads no git library at all. The first line holds the
 * stamp of the run refs (and of their remote-tracking refs) it was built from; then one run a
 * line, newest first, so `--last N` parses only N lines. The cache is only ever a copy: when the
 * stamp differs it is rebuilt from the refs, re-reading only the runs whose commit moved.
 */
/** 2: records passed the trust gate (trust/run-record.ts) before they were cached. */
const VERSION = 2
const RUN_FOLDERS = ['refs/ml/runs', 'refs/ml/origin/ml/runs']

interface Line {
  commit: string
  /** The commit of the run's remote-tracking ref, when the project has a remote. */
  tracked?: string
  run: RunRecord
}

/** The project's runs, newest first; `limit` stops after that many. */
export async function cachedRunList(project: Project, limit?: number): Promise<ListedRun[]> {
  await recoverStartedRuns(project, () => openHistory(project))
  const cached = await readCache(project, limit === undefined ? Infinity : limit + 1)
  if (cached && await isCurrent(project, cached)) return cached.entries.map((line) => listed(project, line))
  // A stale cache still holds the records of the runs whose commit did not move (all of them, not just the head).
  const old = limit === undefined ? cached : await readCache(project, Infinity)
  const lines = await rebuild(project, old?.header.version === VERSION ? old.entries : [])
  return lines.slice(0, limit).map((line) => listed(project, line))
}

function listed(project: Project, {run, commit, tracked}: Line): ListedRun {
  return project.config.remote ? {...run, pushed: tracked === commit} : run
}

function cacheFile(project: Project): string {
  return mlPath(project.dir, 'runCache')
}

interface Cache {
  header: {version?: number; stamp?: string}
  entries: Line[]
}

/** The header and the first `count` - 1 runs of the cache; null when there is none or it is damaged. */
async function readCache(project: Project, count: number): Promise<Cache | null> {
  const text = await (count === Infinity ? fs.readFile(cacheFile(project), 'utf8') : readHead(cacheFile(project), count)).catch(() => null)
  if (!text) return null
  const lines = splitLines(text, count)
  try {
    const cache: Cache = {header: JSON.parse(lines[0]) ?? {}, entries: lines.slice(1).map((l) => JSON.parse(l) as Line)}
    return cache.entries.every((e) => typeof e?.commit === 'string' && typeof e.run?.runId === 'string') ? cache : null
  } catch {
    return null // a damaged cache is rebuilt
  }
}

/** True when the cache was built from the run refs as they are and no run in it needs settling. */
async function isCurrent(project: Project, {header, entries}: Cache): Promise<boolean> {
  const {stamp} = await refStamp(historyDir(project), RUN_FOLDERS)
  return header.version === VERSION && header.stamp === stamp && !entries.some((e) => isAbandoned(e.run))
}

/** The start of `file` holding its first `count` lines (or all of it): --last 20 reads kilobytes of a cache of megabytes. */
async function readHead(file: string, count: number): Promise<string> {
  const handle = await fs.open(file)
  try {
    const chunks: Buffer[] = []
    let lines = 0
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024)
      const {bytesRead} = await handle.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
      for (let i = chunk.indexOf(10); i >= 0 && i < bytesRead; i = chunk.indexOf(10, i + 1)) lines++
      if (lines >= count) break
    }
    return Buffer.concat(chunks).toString('utf8')
  } finally {
    await handle.close()
  }
}

/** The first `count` lines of `text`, without splitting the rest. */
function splitLines(text: string, count: number): string[] {
  const lines: string[] = []
  for (let start = 0; start < text.length && lines.length < count;) {
    const end = text.indexOf('\n', start)
    lines.push(text.slice(start, end < 0 ? text.length : end))
    start = end < 0 ? text.length : end + 1
  }
  return lines
}

/** Reads the runs from their refs (reusing cached records whose commit did not move) and writes the cache. */
async function rebuild(project: Project, cached: Line[]): Promise<Line[]> {
  const before = await refStamp(historyDir(project), RUN_FOLDERS)
  const old = new Map(cached.map((line) => [line.run.runId, line]))
  const repo = await openHistory(project)
  const runs = await repo.refTargets(RUNS_PREFIX)
  const tracking = project.config.remote ? await repo.refTargets(trackingRef(RUNS_PREFIX)) : new Map<string, string>()
  const lines = await Promise.all([...runs].map(async ([ref, commit]): Promise<Line> => {
    const id = ref.slice(RUNS_PREFIX.length)
    const cached = old.get(id)
    const run = cached?.commit === commit && !isAbandoned(cached.run) ? cached.run : await readRun(repo, id)
    return {commit, tracked: tracking.get(trackingRef(ref)), run}
  }))
  lines.sort((a, b) => b.run.startTimeUtc.localeCompare(a.run.startTimeUtc) || b.run.runId.localeCompare(a.run.runId))
  // A ref written in the same clock tick as the stamp could hide in it: then keep no stamp.
  if (before.settled) await writeCache(project, before.stamp, lines).catch(() => undefined)
  return lines
}

async function writeCache(project: Project, stamp: string, lines: Line[]): Promise<void> {
  await writeAtomically(cacheFile(project), [JSON.stringify({version: VERSION, stamp}), ...lines.map((l) => JSON.stringify(l))].join('\n') + '\n', {sync: false})
}
