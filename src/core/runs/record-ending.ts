import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {TreeFile} from '../../git/trees.js'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {keepInCache, objectCache} from '../data/object-cache.js'
import {mlName, OUTPUTS_DIR} from '../project/layout.js'
import type {Project} from '../project/project.js'
import type {RunEnvironment} from '../trust/run-environment.js'
import {formatMetrics, lastValues, METRICS_FILE, parseMetrics} from './metrics.js'
import {mergeParams, paramsFromLog} from './params.js'
import {ENVIRONMENT_FILE} from './run-environment.js'
import {LOG_FILE, saveRunOver, type RunRecord} from './runs.js'
import {trackingFromLog} from './tracking-log.js'

/** Outputs larger than this stay out of git history. */
export const LARGE_OUTPUT_BYTES = 50 * 2 ** 20

/** How a run's script ended and what it left, wherever it ran (here, on an ssh host, on Slurm). */
export interface RunEnding {
  started: Date
  ended: Date
  /** The script's exit status; none for a run that never started. */
  exitCode?: number
  /** Stopped on the user's request: recorded as Canceled whatever its exit code. */
  canceled: boolean
  /** Why it ended as it did, when its exit code does not say (a signal, a time limit). */
  error?: string
  /** The run's whole output, as a local file. */
  logFile?: string
  /** What the script wrote to its metrics file. */
  metricsText: string
  /** environment.json, and the files collected beside it (requirements.txt, conda.txt). */
  environment?: {environment: RunEnvironment; files: Array<{path: string; data: string}>}
  /** The local folder holding the outputs named by `outputs` (paths relative to it, checked to be safe). */
  outputsDir: string
  outputs: string[]
  onWarning?: (message: string) => void
}

/**
 * Records how a run ended, over the record's commit `previous` (CONCURRENT_UPDATE if anybody
 * moved it meanwhile): status, times, exit code, metrics, logged parameters, MLflow tags and
 * statuses (tracking-log.ts), the log, the environment and the outputs (those over
 * LARGE_OUTPUT_BYTES go to the object cache by their sha256, with size and hash in the
 * record). Returns the new commit.
 */
export async function recordEnding(project: Project, repo: ShadowRepo, previous: string | null, record: RunRecord, ending: RunEnding): Promise<string> {
  record.status = ending.canceled ? 'Canceled' : ending.exitCode === 0 ? 'Completed' : 'Failed'
  record.endTimeUtc = ending.ended.toISOString()
  record.durationMs = Math.max(0, ending.ended.getTime() - ending.started.getTime())
  if (ending.exitCode !== undefined) record.exitCode = ending.exitCode
  if (ending.error) record.error = ending.error
  const {points, warnings} = parseMetrics(ending.metricsText)
  const logged = paramsFromLog(ending.metricsText)
  const tracked = trackingFromLog(ending.metricsText)
  for (const warning of [...warnings, ...logged.warnings, ...tracked.warnings]) ending.onWarning?.(warning)
  // MLflow tags never replace a property ml set (the git properties).
  record.properties = {...tracked.properties, ...record.properties}
  if (points.length > 0) record.metrics = lastValues(points)
  const params = mergeParams(record.params ?? {}, logged.params)
  if (Object.keys(params).length > 0) record.params = params

  const files: TreeFile[] = []
  if (ending.logFile) files.push({path: LOG_FILE, file: ending.logFile})
  if (ending.environment) files.push({path: ENVIRONMENT_FILE, data: `${JSON.stringify(ending.environment.environment, null, 2)}\n`}, ...ending.environment.files)
  if (points.length > 0) files.push({path: METRICS_FILE, data: formatMetrics(points)})
  const large: string[] = []
  record.outputs = []
  for (const p of ending.outputs) {
    const file = path.join(ending.outputsDir, p)
    const {size} = await fs.stat(file)
    if (size > LARGE_OUTPUT_BYTES) {
      record.outputs.push({path: p, size, sha256: await keepLargeOutput(project, file)})
      large.push(`${OUTPUTS_DIR}/${p} (${Math.round(size / 1e6)} MB)`)
    } else {
      record.outputs.push({path: p, size})
      files.push({path: `${OUTPUTS_DIR}/${p}`, file})
    }
  }
  if (large.length > 0) {
    ending.onWarning?.(`${large.join(', ')} ${large.length === 1 ? 'is' : 'are'} over ${LARGE_OUTPUT_BYTES / 2 ** 20} MB: kept in ${mlName('objects')}/ with size and sha256 in the run record, not in the history${project.config.store ? ': the artifact store takes them to teammates' : '; set an artifact store (`ml project update --store URL`) to share them with teammates'}.`)
  }
  return saveRunOver(repo, previous, record, files)
}

/** Copies a large output into the project's object cache (.ml/objects/), streaming it, and returns its hash. */
async function keepLargeOutput(project: Project, file: string): Promise<string> {
  return (await keepInCache(objectCache(project.dir), file))!
}
