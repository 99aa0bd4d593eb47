import type {SingleBar} from 'cli-progress'
import {createRequire} from 'node:module'
import type {OnProgress} from '../shared/progress.js'

/** ML_PROGRESS_AFTER_MS changes it (the tests draw bars at once). */
const SHOW_AFTER_MS = Number(process.env.ML_PROGRESS_AFTER_MS ?? 1000)

/**
 * A progress bar on stderr for work that takes more than a second: files (or objects) and
 * bytes done of the total, and the rate. Nothing is drawn when stdout or stderr is not a terminal, or when
 * `quiet`. Returns the listener to give the operation, `stop` to call when it ends, and `log`
 * for a line to print meanwhile.
 */
export function progressBar(label: string, quiet: boolean, unit = 'files'): {onProgress?: OnProgress; stop(): void; log(line: string): void} {
  const print = (line: string) => process.stderr.write(`${line}\n`)
  if (quiet || !process.stdout.isTTY || !process.stderr.isTTY) return {stop() {}, log: print}
  const started = Date.now()
  let bar: SingleBar | undefined
  const mb = (bytes: number) => (bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)
  const payload = (p: {bytesDone: number; bytesTotal: number}) => {
    const seconds = (Date.now() - started) / 1000
    const done = p.bytesTotal ? `${mb(p.bytesDone)}/${mb(p.bytesTotal)}` : mb(p.bytesDone)
    return {bytes: p.bytesDone || p.bytesTotal ? `, ${done} MB, ${mb(p.bytesDone / seconds)} MB/s` : ''}
  }
  const stop = () => {
    bar?.stop()
    bar = undefined
  }
  return {
    onProgress(p) {
      if (!bar) {
        if (Date.now() - started < SHOW_AFTER_MS) return
        const {Presets, SingleBar} = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress')
        bar = new SingleBar({format: `${label} [{bar}] {value}/{total} ${unit}{bytes}`, stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50}, Presets.shades_classic)
        bar.start(p.total, p.done, payload(p))
      }
      bar.setTotal(Math.max(p.total, p.done))
      bar.update(p.done, payload(p))
    },
    stop,
    /**
     * Prints a line, taking the bar off first; the next progress draws it again below (cli-progress
     * redraws where it started, so it would erase a line written under it).
     */
    log(line) {
      stop()
      print(line)
    },
  }
}
