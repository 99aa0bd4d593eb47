import path from 'node:path'

/**
 * Where ml keeps things: the names of the refs of the history repo, of the folders a run
 * writes and of every file under .ml/, in one place, so that every layer names them the same
 * way and none has to import a higher one for a name.
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

/** What .ml/ holds, by what it is for. */
const ML_ENTRIES = {
  /** The project record (id, name, history branch, remote). */
  project: 'project.json',
  /** The hidden history repository. */
  history: 'history.git',
  /** The folder's state at the last snapshot, so an unchanged folder is not staged again. */
  stamp: 'folder-stamp',
  /** A restore in progress, replayed or undone by the next command. */
  journal: 'restore-in-progress.json',
  /** Held while a command changes the history or the folder. */
  lock: 'lock',
  /** Held while a run executes in the project folder. */
  inPlaceRun: 'in-place-run',
  /** Run records read from the history, for fast listings. */
  runCache: 'runs-cache.ndjson',
  /** The likely secrets a submit has already named. */
  secretsNamed: 'secrets-named.json',
  /** A running run's log and metrics, until they are recorded: `runs/<run-id>/`. */
  runs: 'runs',
  /** Where `history download` puts a run's files by default: `downloads/<run-id>/`. */
  downloads: 'downloads',
  /** Outputs too large for the history, by their sha256 (before the object cache; still read). */
  largeOutputs: 'large-outputs',
  /** The local cache of data files and large outputs, by sha256: `objects/sha256/ab/cdef...`. */
  objects: 'objects',
  /** What tracked data's files hashed to, by their stats, so that an unchanged file is not read again. */
  dataStatCache: 'data-stat-cache',
  /** An isolated run's private checkout of its snapshot: `work/<run-id>/`. */
  work: 'work',
  /** The last `pip freeze` with the state of the folders it read (see execution/environment.ts). */
  pipFreeze: 'pip-freeze-cache.json',
  /** The queue worker's record and log. */
  queue: 'queue',
  /** The compute targets attached to this project: `compute/<name>.json` (no secrets). */
  compute: 'compute',
  /** A run submitted here to a compute target, until it is recorded as ended: `compute-runs/<run-id>.json`. */
  computeRuns: 'compute-runs',
  /** Targets that did not answer lately, and until when `history list` leaves them alone (a cache). */
  targetHealth: 'target-health.json',
} as const

/** The path of one of .ml/'s entries in the project folder `projectDir`, and below it. */
export function mlPath(projectDir: string, entry: keyof typeof ML_ENTRIES, ...below: string[]): string {
  return path.join(projectDir, ML_DIR, ML_ENTRIES[entry], ...below)
}

/** The same path relative to the project folder, for messages. */
export function mlName(entry: keyof typeof ML_ENTRIES): string {
  return `${ML_DIR}/${ML_ENTRIES[entry]}`
}

export function runRef(runId: string): string {
  return `${RUNS_PREFIX}${runId}`
}

export function trackingRef(ref: string): string {
  return `${TRACKING_PREFIX}${ref.slice('refs/'.length)}`
}

export function largeOutputPath(projectDir: string, sha256: string): string {
  return mlPath(projectDir, 'largeOutputs', sha256)
}
