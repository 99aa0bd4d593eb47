import type {SnapshotLimits} from '../project/project.js'
import {MlError} from '../../shared/errors.js'

export const DEFAULT_LIMITS: SnapshotLimits = {warnFiles: 2000, warnBytes: 100e6, maxFiles: 25_000, maxBytes: 300e6}

/**
 * Refuses (SNAPSHOT_TOO_LARGE) a snapshot over the project's limits, naming the ten largest
 * files, and warns about one over the warning sizes; `configured` are the project's own limits.
 * Only a new snapshot is checked.
 */
export function checkLimits(configured: Partial<SnapshotLimits> | undefined, files: Array<{path: string; size: number}>, onNotice?: (message: string) => void): void {
  const limits = {...DEFAULT_LIMITS, ...configured}
  const bytes = files.reduce((sum, f) => sum + f.size, 0)
  const size = `${files.length} files, ${megabytes(bytes)}`
  if (files.length > limits.maxFiles || bytes > limits.maxBytes) {
    const largest = [...files].sort((a, b) => b.size - a.size).slice(0, 10).map((f) => `${f.path} (${megabytes(f.size)})`).join(', ')
    throw new MlError('SNAPSHOT_TOO_LARGE', `The snapshot would hold ${size}, over the limit of ${limits.maxFiles} files or ${megabytes(limits.maxBytes)}; nothing was recorded or run. The largest files: ${largest}. Add what the run does not need to .amlignore (or raise "limits" in .ml/project.json).`)
  }
  if (files.length > limits.warnFiles || bytes > limits.warnBytes) {
    onNotice?.(`The snapshot holds ${size}; large snapshots are slow. Add data sets and build output to .amlignore if the run does not need them in the snapshot.`)
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 10e6 ? 1 : 0)} MB`
}

