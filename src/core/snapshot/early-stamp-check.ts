import {availableParallelism} from 'node:os'
import {Worker} from 'node:worker_threads'
import type {StampCheck} from './folder-stamp.js'

/** A stamp check done on another thread, with the bytes of the stamp it checked against. */
export interface EarlyCheck {
  bytes: Buffer
  check: StampCheck
  /** When it was asked for (Date.now()): its thread may begin reading later, never sooner. */
  startedAt: number
}

/** The checks begun, by project folder, until one is claimed. */
const begun = new Map<string, Promise<EarlyCheck | null>>()

/**
 * Begins checking the project folder `dir` against its stamp on another thread, so that the
 * check overlaps what the main thread does before it stages the folder: a restore's plan loads
 * nodegit (130 ms), and the check of 20,000 files takes 100 ms. (Begun as the process starts,
 * before oclif loads, it slowed the main thread more than it saved.) The staging claims it
 * under the project lock, and uses it only if the stamp file still holds the same bytes and the
 * check is recent (see stageProject). One begun before and never claimed (a plan that failed
 * in a long-lived process) is dropped. Nothing on a machine with one core, where the two would
 * not overlap.
 */
export function beginStampCheck(dir: string): void {
  if (availableParallelism() < 2) return
  const startedAt = Date.now()
  const worker = new Worker(new URL('./stamp-check-worker.js', import.meta.url), {workerData: {dir}})
  worker.unref()
  begun.set(dir, new Promise<EarlyCheck | null>((resolve) => {
    worker.once('message', (result: {bytes: Uint8Array; check: StampCheck} | null) => {
      resolve(result && {startedAt, check: nullProto(result.check), bytes: Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength)})
    })
    worker.once('error', () => resolve(null))
    worker.once('exit', () => resolve(null))
  }))
}

/**
 * The check begun for `dir`, once: a second staging (after a confirmation prompt, say) finds
 * none and checks the folder afresh.
 */
export function claimStampCheck(dir: string): Promise<EarlyCheck | null> | undefined {
  const pending = begun.get(dir)
  begun.delete(dir)
  return pending
}

/**
 * The check with its records keyed by path made prototype-free again (a copy between threads
 * gives them Object's prototype), so that a file named `constructor` is a key like any other.
 */
function nullProto(check: StampCheck): StampCheck {
  if (check.kind !== 'edited') return check
  return {...check, files: Object.assign(Object.create(null), check.files), dirs: Object.assign(Object.create(null), check.dirs)}
}
