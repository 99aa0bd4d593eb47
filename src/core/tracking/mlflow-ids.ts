import {MlError} from '../../shared/errors.js'

/**
 * ml's run ids (`<project>_<ms>_<hex>`, trust/ids.ts) may hold a dot, which MLflow's client
 * refuses: mlflow/utils/validation.py's `_RUN_ID_REGEX`, `^[a-zA-Z0-9][\w\-]{0,255}$`, checks
 * MLFLOW_RUN_ID in fluent.py's start_run (2.x and 3.x alike). The
 * id MLflow sees escapes it: `.` is written `-_d` and a `-_` of the id `-__`, all else is kept,
 * so an id without a dot or a `-_` (nearly all) is unchanged. The escaping is a prefix code
 * read back left to right (mlRunId), so two ml ids never give one MLflow id.
 */
export function mlflowRunId(runId: string): string {
  return runId.replaceAll(/-_|\./g, (m) => (m === '.' ? '-_d' : '-__'))
}

/** The ml run id of an id MLflow sent, or undefined when no ml id gives it (a dot, a `-_` not followed by `d` or `_`). */
export function mlRunId(id: string): string | undefined {
  if (id.includes('.')) return undefined
  let out = ''
  for (let i = 0; i < id.length; i++) {
    if (id[i] !== '-' || id[i + 1] !== '_') {
      out += id[i]
      continue
    }
    const next = id[i + 2]
    if (next !== 'd' && next !== '_') return undefined
    out += next === 'd' ? '.' : '-_'
    i += 2
  }
  return out
}

/** mlRunId, as ml's not-found error (RESOURCE_DOES_NOT_EXIST to MLflow's client) when no ml id gives it. */
export function runIdFromMlflow(id: string): string {
  const runId = mlRunId(id)
  if (runId === undefined) throw new MlError('RUN_NOT_FOUND', `There is no run with the MLflow id ${JSON.stringify(id.slice(0, 200))}.`)
  return runId
}
