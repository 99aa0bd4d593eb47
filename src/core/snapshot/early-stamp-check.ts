import {availableParallelism} from 'node:os'
import {Worker} from 'node:worker_threads'
import type {Project} from '../project/project.js'
import {stampFile, type StampCheck} from './folder-stamp.js'

/** A stamp check done on another thread, with the bytes of the stamp it checked against. */
export interface EarlyCheck {
  bytes: Buffer
  check: StampCheck
  /** When the check began (Date.now()). */
  startedAt: number
}

/**
 * The folder checked against its stamp on another thread, begun before the command loads
 * nodegit (a restore spends 130 ms on that, and the check of 20,000 files 100 ms more), and
 * taken by the staging under the project lock, which uses it only if the stamp file still
 * holds the same bytes and the check is recent (see stageProject). Taken once: a second
 * staging (after a confirmation prompt, say) checks the folder afresh. None on a machine with
 * one core, where the two would not overlap.
 */
export class EarlyStampCheck {
  private pending: Promise<EarlyCheck | null> | null

  private constructor(dir: string, file: string) {
    const worker = new Worker(new URL('./stamp-check-worker.js', import.meta.url), {workerData: {dir, file}})
    worker.unref()
    this.pending = new Promise<EarlyCheck | null>((resolve) => {
      worker.once('message', (result: {bytes: Uint8Array; check: StampCheck; startedAt: number} | null) => {
        resolve(result && {...result, bytes: Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength), check: nullProto(result.check)})
      })
      worker.once('error', () => resolve(null))
      worker.once('exit', () => resolve(null))
    })
  }

  /** Begins checking the project's folder against its stamp; undefined on one core. */
  static start(project: Project): EarlyStampCheck | undefined {
    return availableParallelism() > 1 ? new EarlyStampCheck(project.dir, stampFile(project)) : undefined
  }

  /** The check, the first time; null after that. */
  take(): Promise<EarlyCheck | null> | null {
    const pending = this.pending
    this.pending = null
    return pending
  }
}

/**
 * The check with its records keyed by path made prototype-free again (a copy between threads
 * gives them Object's prototype), so that a file named `constructor` is a key like any other.
 */
function nullProto(check: StampCheck): StampCheck {
  if (check.kind !== 'edited') return check
  return {...check, files: Object.assign(Object.create(null), check.files), dirs: Object.assign(Object.create(null), check.dirs)}
}
