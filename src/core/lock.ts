import {promises as fs} from 'node:fs'
import {hostname} from 'node:os'
import path from 'node:path'
import {MlError} from './errors.js'
import type {OnProgress} from './progress.js'
import {historyDir, ML_DIR, type Project} from './project.js'

const LOCK_FILE = 'lock'
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

/**
 * Runs `fn` while holding the project's lock (.ml/lock, naming the holder's pid), so that
 * snapshots, restores and pushes of several ml processes never meet in the index or the
 * history branch. Waits for a live holder; clears a lock whose process is gone, and git lock
 * files such a process left behind. Re-entrant within one process.
 */
export async function withProjectLock<T>(project: Project, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const file = path.join(project.dir, ML_DIR, LOCK_FILE)
  const depth = held.get(file) ?? 0
  if (depth === 0) await acquire(project, file, options)
  held.set(file, depth + 1)
  try {
    return await fn()
  } finally {
    held.set(file, held.get(file)! - 1)
    if (held.get(file) === 0) {
      held.delete(file)
      await fs.rm(file, {force: true})
    }
  }
}

async function acquire(project: Project, file: string, options: LockOptions): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000)
  const me = JSON.stringify({pid: process.pid, host: hostname(), since: new Date().toISOString()})
  let holderDied = false
  for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
    try {
      await fs.writeFile(file, me, {flag: 'wx'})
      await clearStaleGitLocks(project, options, holderDied)
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        await fs.rm(file, {force: true}).catch(() => undefined) // a full disk may have left it empty
        throw error // a read-only or full disk: the command layer says so in words (WRITE_FAILED)
      }
    }
    const holder = await readHolder(file)
    const unreadable = !holder && Date.now() - ((await fs.stat(file).catch(() => null))?.mtimeMs ?? Date.now()) > STALE_GIT_LOCK_MS
    if (unreadable || (holder && holder.host === hostname() && !isAlive(holder.pid))) {
      // Only the process that renames it away wins, so two waiters never both clear it.
      const claimed = `${file}.stale-${process.pid}`
      if (await fs.rename(file, claimed).then(() => true, () => false)) {
        await fs.rm(claimed, {force: true})
        holderDied = true
        options.onNotice?.(holder ? `Cleared a lock left by ml process ${holder.pid}, which is gone.` : 'Cleared an unreadable lock file left by an ml process that was stopped.')
      }
      continue
    }
    if (Date.now() > deadline) {
      const who = holder ? `process ${holder.pid} on ${holder.host}` : 'another ml process'
      throw new MlError('LOCKED', `The project is busy: ${who} is writing its history (${file}); try again when it is done, or delete that file if that process is gone.`)
    }
    await new Promise((resolve) => setTimeout(resolve, wait))
  }
}

async function readHolder(file: string): Promise<{pid: number; host: string} | null> {
  try {
    const holder = JSON.parse(await fs.readFile(file, 'utf8')) as {pid: number; host: string}
    return typeof holder.pid === 'number' ? holder : null
  } catch {
    return null
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes git lock files a killed process left in the history repo. The index is written only
 * under the project lock, so while we hold it any index.lock is stale; other locks (run refs are
 * written without the project lock) are stale once old, or when the last holder was killed.
 */
async function clearStaleGitLocks(project: Project, options: LockOptions, holderDied: boolean): Promise<void> {
  const gitdir = historyDir(project)
  const refs = await fs.readdir(path.join(gitdir, 'refs'), {recursive: true}).catch(() => [] as string[])
  const candidates = ['index.lock', 'HEAD.lock', 'config.lock', 'packed-refs.lock', ...refs.map((r) => path.join('refs', String(r)))]
  for (const entry of candidates) {
    if (!entry.endsWith('.lock')) continue
    const lock = path.join(gitdir, entry)
    const stat = await fs.stat(lock).catch(() => null)
    if (stat?.isFile() && (entry === 'index.lock' || holderDied || Date.now() - stat.mtimeMs > STALE_GIT_LOCK_MS)) {
      await fs.rm(lock, {force: true})
      options.onNotice?.(`Removed ${path.relative(project.dir, lock)}, left by a process that was killed.`)
    }
  }
}
