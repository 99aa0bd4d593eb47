import path from 'node:path'

/**
 * Where ml keeps things: the names of the refs of the history repo and of the folders a run
 * writes, in one place, so that every layer names them the same way and none has to import a
 * higher one for a name.
 */
export const ML_DIR = '.ml'
/** A ref whose tree holds project.json (without the remote), pushed so that a clone can rebuild .ml/. */
export const PROJECT_REF = 'refs/ml/project'
/** One ref a run: `refs/ml/runs/<run-id>`. */
export const RUNS_PREFIX = 'refs/ml/runs/'
/** The folder before each restore, and before an undo of a folder changed since the restore. */
export const BACKUPS_PREFIX = 'refs/ml/backups/'
/** Where ml keeps what it last saw on (or pushed to) the remote: `refs/ml/origin/<ref>`. */
export const TRACKING_PREFIX = 'refs/ml/origin/'
/** The folder a run writes its outputs into, captured with the run and never snapshotted. */
export const OUTPUTS_DIR = 'outputs'
/** Under .ml/: outputs too large for the history, by their sha256. */
export const LARGE_OUTPUTS_DIR = 'large-outputs'

export function runRef(runId: string): string {
  return `${RUNS_PREFIX}${runId}`
}

export function trackingRef(ref: string): string {
  return `${TRACKING_PREFIX}${ref.slice('refs/'.length)}`
}

export function largeOutputPath(projectDir: string, sha256: string): string {
  return path.join(projectDir, ML_DIR, LARGE_OUTPUTS_DIR, sha256)
}
