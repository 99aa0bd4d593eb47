import {randomBytes} from 'node:crypto'
import {type Dirent, linkSync, promises as fs, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {constants, hostname} from 'node:os'
import path from 'node:path'
import {MlError} from '../../shared/errors.js'
import {isAlive} from '../../shared/is-alive.js'
import type {OnProgress} from '../../shared/progress.js'
import {historyDir, type Project} from './project.js'
import {mlPath} from './layout.js'

/** Waiting this long for another process's lock is said, with who holds it. */
const NOTICE_AFTER_MS = 1000
/** A git lock file this old was left by a killed process (live ones last milliseconds). */
const STALE_GIT_LOCK_MS = 10_000

export interface LockOptions {
  /** How long to wait for another ml process before giving up. */
  timeoutMs?: number
  /** Told when a lock left by a killed process was cleared. */
  onNotice?: (message: string) => void
  /** Told how far a snapshot or restore done under the lock has come. */
  onProgress?: OnProgress
}

const held = new Map<string, number>()
/** The in-place run marks this process holds (see withInPlaceRun). */
const runMarkers = new Set<string>()

/**
 * A lock (or run mark) never outlives its process: however the process ends short of SIGKILL,
 * the files it holds are removed. A signal while a lock is held ends the process at once (130
 * for SIGINT, 143 for SIGTERM) rather than waiting for libgit2, whose native calls cannot be
 * interrupted; what it leaves half-done is what a killed process leaves, which the next
 * command recovers.
 */
function releaseAll(): void {
  for (const file of [...held.keys(), ...runMarkers]) rmSync(file, {force: true})
  held.clear()
  runMarkers.clear()
}

function removeOnExit(): void {
  if (!process.listeners('exit').includes(releaseAll)) process.on('exit', releaseAll)
}

function exitOnSignal(signal: NodeJS.Signals): void {
  process.exit(128 + constants.signals[signal])
}

/**
 * While a lock is only waited for, nothing is held: a command that handles signals itself (a
 * submit whose script runs: a Ctrl-C cancels the script, and the run is still recorded) decides
 * what a signal does; in any other command it ends the process at once, as while the lock is held.
 * Returns what undoes it.
 */
function guardWaiting(): () => void {
  const added = (['SIGINT', 'SIGTERM'] as const).filter((signal) => process.listenerCount(signal) === 0)
  for (const signal of added) process.on(signal, exitOnSignal)
  return () => {
    for (const signal of added) process.off(signal, exitOnSignal)
  }
}

function guardProcess(on: boolean): void {
  if (on) removeOnExit()
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    if (on) process.on(signal, exitOnSignal)
    else process.off(signal, exitOnSignal)
  }
}

/**
 * Runs `fn` while holding the project's lock (.ml/lock, naming the holder's pid), so that
 * snapshots, restores and pushes of several ml processes never meet in the index or the
 * history branch. Waits for a live holder; clears a lock whose process is gone, and git lock
 * files such a process left behind. Re-entrant within one process.
 */
export async function withProjectLock<T>(project: Project, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const file = mlPath(project.dir, 'lock')
  const depth = held.get(file) ?? 0
  let holderDied = false
  if (depth === 0) {
    const unguard = held.size === 0 ? guardWaiting() : () => {}
    try {
      holderDied = await acquire(file, options)
    } finally {
      unguard()
    }
    if (held.size === 0) guardProcess(true)
  }
  held.set(file, depth + 1)
  try {
    if (depth === 0) await clearStaleGitLocks(project, options, holderDied)
    return await fn()
  } finally {
    held.set(file, held.get(file)! - 1)
    if (held.get(file) === 0) {
      held.delete(file)
      rmSync(file, {force: true})
      if (held.size === 0) guardProcess(false)
    }
  }
}

/** Creates the lock file, waiting for a live holder; true when a dead holder's lock was cleared. */
async function acquire(file: string, options: LockOptions): Promise<boolean> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000)
  const me = JSON.stringify({pid: process.pid, host: hostname(), since: new Date().toISOString()})
  let holderDied = false
  let told = false
  const started = Date.now()
  for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
    // A read-only or full disk throws here: the command layer says so in words (WRITE_FAILED).
    if (createWhole(file, me)) return holderDied
    const holder = await readHolder(file)
    const unreadable = !holder && Date.now() - ((await fs.stat(file).catch(() => null))?.mtimeMs ?? Date.now()) > STALE_GIT_LOCK_MS
    if (unreadable || (holder && holder.host === hostname() && !isAlive(holder.pid))) {
      if (await claimStale(file)) {
        holderDied = true
        options.onNotice?.(holder ? `Cleared a lock left by ml process ${holder.pid}, which is gone.` : 'Cleared an unreadable lock file left by an ml process that was stopped.')
      }
      continue
    }
    if (holder && !told && Date.now() - started >= NOTICE_AFTER_MS) {
      told = true
      options.onNotice?.(`Waiting for another ml process (pid ${holder.pid}${await commandOf(holder)}) to finish with the project's history (up to ${Math.round((deadline - started) / 1000)} s)...`)
    }
    if (Date.now() > deadline) {
      const who = holder ? `process ${holder.pid} on ${holder.host}` : 'another ml process'
      throw new MlError('LOCKED', `The project is busy: ${who} is writing its history (${file}); try again when it is done, or delete that file if that process is gone.`)
    }
    await new Promise((resolve) => setTimeout(resolve, wait))
  }
}

/** Removes a lock or mark whose holder is gone; only the process that renames it away wins, so two waiters never both clear it. */
async function claimStale(file: string): Promise<boolean> {
  const claimed = `${file}.stale-${process.pid}`
  if (!(await fs.rename(file, claimed).then(() => true, () => false))) return false
  await fs.rm(claimed, {force: true})
  return true
}

async function readHolder(file: string): Promise<{pid: number; host: string} | null> {
  try {
    const holder = JSON.parse(await fs.readFile(file, 'utf8')) as {pid: number; host: string}
    return typeof holder.pid === 'number' ? holder : null
  } catch {
    return null
  }
}

/** `: ml experiment submit x.py`: the holder's command line, where the system tells it (or ` on HOST`). */
async function commandOf(holder: {pid: number; host: string}): Promise<string> {
  if (holder.host !== hostname()) return ` on ${holder.host}`
  const argv = (await fs.readFile(`/proc/${holder.pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean)
  const script = argv.findIndex((a) => /[\\/](run|dev)\.js$/.test(a) || path.basename(a) === 'ml')
  return argv.length > 0 ? `: ${script >= 0 ? ['ml', ...argv.slice(script + 1)].join(' ') : argv.join(' ')}` : ''
}

/**
 * Removes git lock files a killed process left in the history repo. The index is written only
 * under the project lock, so while we hold it any index.lock is stale; other locks (run refs are
 * written without the project lock) are stale once old, or when the last holder was killed.
 */
async function clearStaleGitLocks(project: Project, options: LockOptions, holderDied: boolean): Promise<void> {
  const gitdir = historyDir(project)
  const candidates = ['index.lock', 'HEAD.lock', 'config.lock', 'packed-refs.lock', ...refLocks(gitdir)]
  for (const entry of candidates) {
    const lock = path.join(gitdir, entry)
    const stat = statSync(lock, {throwIfNoEntry: false})
    if (stat?.isFile() && (entry === 'index.lock' || holderDied || Date.now() - stat.mtimeMs > STALE_GIT_LOCK_MS)) {
      await fs.rm(lock, {force: true})
      options.onNotice?.(`Removed ${path.relative(project.dir, lock)}, left by a process that was killed.`)
    }
  }
}

/**
 * The lock files under refs/, as paths in `gitdir`. Synchronous, and walked by hand: every
 * command that takes the lock does this, and Node 20's recursive readdirSync took 4-6 ms on a
 * few hundred refs, which this walk reads in under one.
 */
function refLocks(gitdir: string): string[] {
  const locks: string[] = []
  const walk = (rel: string) => {
    let entries: Dirent[]
    try {
      entries = readdirSync(path.join(gitdir, rel), {withFileTypes: true})
    } catch {
      return // gone meanwhile (a ref folder git pruned), or no refs/ yet
    }
    for (const entry of entries) {
      if (entry.isDirectory()) walk(`${rel}/${entry.name}`)
      else if (entry.name.endsWith('.lock')) locks.push(`${rel}/${entry.name}`)
    }
  }
  walk('refs')
  return locks
}

/**
 * Creates `file` holding `text` unless it exists, never leaving it empty or half-written (a
 * process killed between creating a lock and writing it, or a full disk, would otherwise leave
 * one nobody can read): the text goes to a file of this process first, which is then
 * hard-linked into place.
 */
function createWhole(file: string, text: string): boolean {
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`
  // Synchronous: three small calls that every command taking the lock makes.
  writeFileSync(temp, text)
  try {
    linkSync(temp, file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    return false
  } finally {
    rmSync(temp, {force: true})
  }
}

/**
 * Runs `fn` as the project's one in-place run: runs in the project folder share outputs/, so a
 * second one would record the files of the first (and the other way round). .ml/in-place-run
 * names the run and its pid while it lasts; a run whose process is gone does not block the next.
 */
export async function withInPlaceRun<T>(project: Project, runId: string, fn: () => Promise<T>, options: InPlaceRunOptions<T> = {}): Promise<T> {
  return withMarker(mlPath(project.dir, 'inPlaceRun'), {runId}, fn, {
    orElse: options.orElse && ((holder) => options.orElse!(holder ? {runId: typeof holder.runId === 'string' ? holder.runId : undefined, pid: holder.pid, host: holder.host} : null)),
    busy: (holder) => {
      const who = holder ? `Run ${String(holder.runId)} (ml process ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`})` : 'Another run'
      return new MlError('RUN_IN_PROGRESS', `${who} is running in this project folder; runs in the folder share outputs/, so wait until it ends (or stop it) before submitting another.`)
    },
    onCleared: (holder) => options.onNotice?.(holder ? `Run ${String(holder.runId)} was left unfinished by ml process ${holder.pid}, which is gone; going ahead.` : 'Cleared an unreadable run mark left by an ml process that was stopped.'),
  })
}

export interface InPlaceRunOptions<T> extends Pick<LockOptions, 'onNotice'> {
  /**
   * What to do instead when another live run holds the folder (a submit runs isolated), decided
   * under the same mark that refuses, so two runs never both run in place; without it, such a
   * submit is RUN_IN_PROGRESS.
   */
  orElse?: (holder: {runId?: string; pid: number; host: string} | null) => Promise<T>
}

/** The queue worker of a project, as .ml/queue/worker.json names it while it runs. */
export interface QueueWorker {
  pid: number
  host: string
  since: string
  jobs: number
}

/** Runs `fn` as the project's one queue worker; a second one is QUEUE_WORKER_RUNNING, naming the first. */
export async function withQueueWorker<T>(project: Project, jobs: number, fn: () => Promise<T>): Promise<T> {
  const file = mlPath(project.dir, 'queue', 'worker.json')
  await fs.mkdir(path.dirname(file), {recursive: true})
  return withMarker(file, {jobs}, fn, {busy: (holder) => queueWorkerRunning(holder as QueueWorker | null)})
}

/** The error for a second queue worker: where the first one is. */
export function queueWorkerRunning(holder: QueueWorker | null): MlError {
  return new MlError('QUEUE_WORKER_RUNNING', holder
    ? `A queue worker already runs this project's queue (ml process ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`}, since ${String(holder.since)}); see \`ml queue status\`, or stop it with \`ml queue stop\`.`
    : 'A queue worker is starting for this project; see `ml queue status`.')
}

/** The project's live queue worker, or null when none runs (a killed one's file does not count). */
export async function readQueueWorker(project: Project): Promise<QueueWorker | null> {
  const holder = await readHolder(mlPath(project.dir, 'queue', 'worker.json')) as QueueWorker | null
  return holder && (holder.host !== hostname() || isAlive(holder.pid)) ? holder : null
}

/** What a marker file names: its process, and what the marker added (a run id, a worker's jobs). */
type Holder = Record<string, unknown> & {pid: number; host: string}

/**
 * Runs `fn` holding the marker `file`, which names this process (and `extra`) while it lasts;
 * a live holder's marker is refused with `busy`, a dead one's is cleared.
 */
async function withMarker<T>(file: string, extra: object, fn: () => Promise<T>, how: {busy: (holder: Holder | null) => MlError; onCleared?: (holder: Holder | null) => void; orElse?: (holder: Holder | null) => Promise<T>}): Promise<T> {
  const me = JSON.stringify({...extra, pid: process.pid, host: hostname(), since: new Date().toISOString()})
  for (;;) {
    if (createWhole(file, me)) break
    const holder = await readHolder(file) as Holder | null
    const young = Date.now() - ((await fs.stat(file).catch(() => null))?.mtimeMs ?? 0) < STALE_GIT_LOCK_MS
    if (holder ? holder.host !== hostname() || isAlive(holder.pid) : young) {
      if (how.orElse) return how.orElse(holder)
      throw how.busy(holder)
    }
    if (await claimStale(file)) how.onCleared?.(holder)
  }
  runMarkers.add(file)
  removeOnExit()
  try {
    return await fn()
  } finally {
    runMarkers.delete(file)
    await fs.rm(file, {force: true})
  }
}

/**
 * Runs `fn` as the project's one collector of runs on compute targets (`ml history sync`), so
 * that two never bring back and record the same run; LOCKED while another one is at it.
 */
export async function withComputeSync<T>(project: Project, fn: () => Promise<T>): Promise<T> {
  const file = mlPath(project.dir, 'computeRuns', 'sync.json')
  await fs.mkdir(path.dirname(file), {recursive: true})
  return withMarker(file, {}, fn, {busy: (holder) => new MlError('LOCKED', `Another ml process${holder ? ` (pid ${holder.pid})` : ''} is collecting this project's runs from their compute targets; try again when it is done.`)})
}
