import {MlError} from '../shared/errors.js'
import {findDamagedLooseObject} from './loose-objects.js'

/** A libgit2 call pending this long has the loose objects of its repositories checked, once. */
const SUSPECT_AFTER_MS = 2000
/** Time for the error to reach the user before the process ends under the spinning thread. */
const EXIT_GRACE_MS = 1000

interface Pending {
  since: number
  reject: (error: Error) => void
}

const pending = new Set<Pending>()
const gitdirs = new Set<string>()
const checked = new Set<string>()
let timer: NodeJS.Timeout | undefined

/**
 * Wraps every function of nodegit's classes so that a call libgit2 never finishes cannot hang
 * ml: libgit2 spins at 100% CPU, in a thread nothing can stop, on a truncated loose object
 * (libgit2/libgit2#7342). When a call has been pending for 2 s, the loose objects of the
 * repositories opened so far (those older than this process) are inflated with Node's zlib; a
 * damaged one rejects every pending call with PROJECT_CORRUPT (so the command fails in words
 * and releases its lock), and the process then ends, taking the spinning thread with it.
 */
export function guardNodegit(Git: object): void {
  const classes = new Set<unknown>()
  // nodegit's classes live on the prototype of the module object; its `Promise` is the global one.
  for (let o = Git; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object) {
    for (const name of Object.getOwnPropertyNames(o)) classes.add((o as Record<string, unknown>)[name])
  }
  classes.delete(Promise)
  for (const value of classes) {
    if (typeof value !== 'function') continue
    wrapFunctions(value as unknown as Record<string, unknown>)
    if (value.prototype) wrapFunctions(value.prototype as Record<string, unknown>)
  }
}

function wrapFunctions(target: Record<string, unknown>): void {
  for (const name of Object.getOwnPropertyNames(target)) {
    const descriptor = Object.getOwnPropertyDescriptor(target, name)
    // Capitalised names are nested classes and constructors, which must stay callable with `new`.
    if (/^[A-Z]|^constructor$/.test(name) || !descriptor?.writable || typeof descriptor.value !== 'function') continue
    const original = descriptor.value as (...args: unknown[]) => unknown
    target[name] = function (this: unknown, ...args: unknown[]) {
      const result = original.apply(this, args)
      return isThenable(result) ? track(result) : result
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function'
}

function track(call: PromiseLike<unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const entry: Pending = {since: Date.now(), reject}
    pending.add(entry)
    timer ??= setInterval(watch, SUSPECT_AFTER_MS / 2).unref()
    call.then((value) => {
      pending.delete(entry)
      remember(value)
      resolve(value)
    }, (error: unknown) => {
      pending.delete(entry)
      reject(error)
    })
  })
}

/** Repositories are recognised by their `path()`, the git dir whose objects libgit2 reads. */
function remember(value: unknown): void {
  const repo = value as {path?: unknown; isBare?: unknown; odb?: unknown} | null
  if (typeof repo?.path === 'function' && typeof repo.odb === 'function' && typeof repo.isBare === 'function') {
    gitdirs.add(String((repo.path as () => string).call(repo)))
  }
}

function watch(): void {
  if (pending.size === 0) {
    clearInterval(timer)
    timer = undefined
    return
  }
  const oldest = Math.min(...[...pending].map((p) => p.since))
  if (Date.now() - oldest < SUSPECT_AFTER_MS) return
  for (const gitdir of gitdirs) {
    if (checked.has(gitdir)) continue
    checked.add(gitdir)
    void findDamagedLooseObject(gitdir, performance.timeOrigin).then((damaged) => {
      if (!damaged) return
      const error = new MlError('PROJECT_CORRUPT', `The git object ${damaged.id} in ${gitdir} is damaged (${damaged.reason}); restore that repository from a backup, or clone the project again.`)
      for (const entry of pending) entry.reject(error)
      pending.clear()
      setTimeout(() => process.exit(), EXIT_GRACE_MS).unref()
    })
  }
}
