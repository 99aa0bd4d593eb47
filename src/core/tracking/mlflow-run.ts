import type {Project} from '../project/project.js'
import {paramText, type Params} from '../runs/params.js'
import type {RunRecord, RunStatus} from '../runs/runs.js'
import type {MetricPoint} from '../runs/metrics.js'
import {mlflowRunId} from './mlflow-ids.js'

/** A project is one MLflow experiment, always of this id. */
export const EXPERIMENT_ID = '0'

/** MLflow's RunStatus for ml's: a Corrupt record (one that failed the trust gate) reads as FAILED. */
const STATUS: Record<RunStatus, string> = {Queued: 'SCHEDULED', Running: 'RUNNING', Completed: 'FINISHED', Failed: 'FAILED', Canceled: 'KILLED', Corrupt: 'FAILED'}

export function mlflowStatus(status: RunStatus): string {
  return STATUS[status]
}

/** Where MLflow's client sends a run's artifacts: its proxy (mlflow-artifacts/artifacts/<MLflow's run id>/...), resolved against the tracking URI. */
export function artifactUri(runId: string): string {
  return `mlflow-artifacts:/${mlflowRunId(runId)}`
}

/** The property holding the JSON list of the models MLflow 3.x logged in a run (tracking/logged-models.ts's ModelRecord). */
export const MODELS_PROPERTY = 'ml.mlflow.models'

/** service.proto's RunOutputs of a run's MODELS_PROPERTY: the models logged as its outputs (runs/outputs gave them a step). */
export function runOutputs(properties: Record<string, string>): {model_outputs: Array<{model_id: string; step: number}>} {
  let models: unknown
  try {
    models = JSON.parse(properties[MODELS_PROPERTY] ?? '[]')
  } catch {
    models = []
  }
  const outputs = (Array.isArray(models) ? models : []).filter((m) => typeof m?.model_id === 'string' && Number.isSafeInteger(m?.step))
  return {model_outputs: outputs.map((m: {model_id: string; step: number}) => ({model_id: m.model_id, step: m.step}))}
}

/** service.proto's Experiment, for the project. */
export function mlflowExperiment(project: Project): Record<string, unknown> {
  const created = Date.parse(project.config.createdAt)
  return {experiment_id: EXPERIMENT_ID, name: project.config.name, artifact_location: 'mlflow-artifacts:/', lifecycle_stage: 'active', ...(Number.isFinite(created) && {creation_time: created, last_update_time: created}), tags: [{key: 'ml.project_id', value: project.config.id}]}
}

/** service.proto's Run: RunInfo, RunData, and (read by MLflow 3.x) RunInputs and RunOutputs. */
export interface MlflowRun {
  info: Record<string, unknown>
  data: {metrics: Array<{key: string; value: number; timestamp: number; step: number}>; params: Array<{key: string; value: string}>; tags: Array<{key: string; value: string}>}
  inputs: {dataset_inputs: unknown[]; model_inputs: unknown[]}
  outputs: {model_outputs: Array<{model_id: string; step: number}>}
}

/** What a run logged beyond its record, for a run still running (the record has it once the run ended). */
export interface Logged {
  params?: Params
  points?: MetricPoint[]
  tags?: Record<string, string>
}

/**
 * service.proto's Run for an ml record: RunInfo from its status and times, RunData from its
 * parameters (as text, as MLflow keeps them), the last value of each metric and its properties
 * as tags (with mlflow.runName, ml's run id when the script named none), and the models
 * MLflow 3.x logged as its outputs. Its id is MLflow's (mlflowRunId). `logged` adds what a
 * running run has logged so far; its metric points give each metric its step and time.
 */
export function mlflowRun(record: RunRecord, logged: Logged = {}): MlflowRun {
  const start = Date.parse(record.startTimeUtc)
  const end = record.endTimeUtc ? Date.parse(record.endTimeUtc) : undefined
  const tags: Record<string, string> = {'mlflow.runName': record.runId, 'ml.script': record.script, ...record.properties, ...logged.tags}
  const last = new Map<string, MetricPoint>()
  for (const point of logged.points ?? []) last.set(point.name, point)
  const metrics = Object.entries(record.metrics ?? {}).map(([key, value]) => ({key, value, timestamp: last.get(key)?.timestamp ?? end ?? start, step: last.get(key)?.step ?? 0}))
  for (const [key, point] of last) if (!Object.hasOwn(record.metrics ?? {}, key)) metrics.push({key, value: point.value, timestamp: point.timestamp ?? start, step: point.step ?? 0})
  const id = mlflowRunId(record.runId)
  return {
    info: {
      run_id: id, run_uuid: id, run_name: tags['mlflow.runName'], experiment_id: EXPERIMENT_ID, user_id: '',
      status: mlflowStatus(record.status), start_time: start, ...(end !== undefined && {end_time: end}),
      artifact_uri: artifactUri(record.runId), lifecycle_stage: 'active',
    },
    data: {
      metrics,
      params: Object.entries({...record.params, ...logged.params}).map(([key, value]) => ({key, value: paramText(value)})),
      tags: Object.entries(tags).map(([key, value]) => ({key, value})),
    },
    inputs: {dataset_inputs: [], model_inputs: []},
    outputs: runOutputs(tags),
  }
}
