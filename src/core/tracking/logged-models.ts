import {randomBytes} from 'node:crypto'
import {MlError} from '../../shared/errors.js'
import {unsafeReason} from '../trust/tree-path.js'
import {keyProblem, keyValues, list, MLFLOW_LIMITS, metricValue} from './mlflow-lines.js'
import {EXPERIMENT_ID, MODELS_PROPERTY} from './mlflow-run.js'
import {pageOf} from './search-runs.js'

/*
 * MLflow 3.x's logged models (`mlflow.<flavor>.log_model`, `initialize_logged_model`), as the
 * run endpoint keeps them: service.proto's LoggedModel, with its files in the run's outputs.
 * Each run (the run itself, or a nested one by its id) records its models in the property
 * MODELS_PROPERTY: the JSON of a list of ModelRecord, rewritten as a tag line on each change so
 * that the last one is what the run's ending keeps.
 */

/** A run may log at most this many models through its endpoint. */
export const MAX_MODELS = 100

/** LoggedModelStatus of service.proto, by its JSON names and numbers, as ml records it. */
const STATUSES: Record<string, ModelStatus> = {LOGGED_MODEL_PENDING: 'PENDING', LOGGED_MODEL_READY: 'READY', LOGGED_MODEL_UPLOAD_FAILED: 'FAILED', 1: 'PENDING', 2: 'READY', 3: 'FAILED'}
const PROTO_STATUS: Record<ModelStatus, string> = {PENDING: 'LOGGED_MODEL_PENDING', READY: 'LOGGED_MODEL_READY', FAILED: 'LOGGED_MODEL_UPLOAD_FAILED'}

export type ModelStatus = 'PENDING' | 'READY' | 'FAILED'

/** A logged model in a run's record. */
export interface ModelRecord {
  model_id: string
  name: string
  /** Its folder in the run's outputs, where its files are. */
  path: string
  /** PENDING until the client finalizes it: READY, or FAILED when its upload failed. */
  status: ModelStatus
  model_type?: string
  /** The step runs/outputs gave it as an output of the run. */
  step?: number
  params: Record<string, string>
  tags: Record<string, string>
  /** The last value of each metric linked to it (a metric logged with its model_id). */
  metrics: Record<string, number>
  created: number
  updated: number
}

/** The run a model belongs to: `{}` the run itself, `{run}` a nested one. */
export type Owner = {run?: string}

interface Held extends ModelRecord {
  owner: Owner
  /** The Metric entries of LoggedModelData, last value of each key. */
  points: Map<string, Record<string, unknown>>
}

function invalid(message: string): MlError {
  return new MlError('INVALID_ARGUMENT', message)
}

/** `_validate_logged_model_name` of mlflow/utils/validation.py (3.x): a name is non-empty, without / : . % " '. */
function checkedName(name: unknown): string | undefined {
  if (name === undefined || name === null) return undefined
  if (typeof name !== 'string' || !name || /[/:.%"']/.test(name)) throw invalid(`The model name ${JSON.stringify(name)?.slice(0, 80)} is not one MLflow accepts: a non-empty text without / : . % " or '.`)
  if (name.length > 250) throw invalid('The model name is longer than 250 characters; give a shorter one.')
  return name
}

function optionalText(field: string, value: unknown, max: number): string | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value !== 'string' || value.length > max) throw invalid(`"${field}" must be a text of at most ${max} characters.`)
  return value
}

/**
 * The logged models of one run's endpoint. `ids` gives MLflow's id of a run (the run itself or
 * a nested one), `taken` whether a folder of the outputs already exists. Every method checks
 * all it is given before it changes anything, and returns the lines to append (the record of
 * the owner's models), or throws INVALID_ARGUMENT / RUN_NOT_FOUND.
 */
export class LoggedModels {
  private readonly models = new Map<string, Held>()

  constructor(private readonly mlflowId: (owner: Owner) => string, private readonly taken: (path: string) => Promise<boolean>) {}

  /** logged-models (POST): a PENDING model, its folder `models/<name>` (`models/<model_id>` when that is taken or not a safe path), under a nested run's folder for a nested run's model. */
  async create(args: Record<string, unknown>, owner: Owner, now: number): Promise<{model: Record<string, unknown>; lines: string[]}> {
    if (String(args.experiment_id) !== EXPERIMENT_ID) throw new MlError('RUN_NOT_FOUND', `There is no experiment ${JSON.stringify(args.experiment_id)}: the project is experiment ${EXPERIMENT_ID}.`)
    const name = checkedName(args.name)
    const modelType = optionalText('model_type', args.model_type, 500)
    const params = Object.fromEntries(keyValues('param', list(args, 'params'), MLFLOW_LIMITS.paramValueChars))
    const tags = Object.fromEntries(keyValues('tag', list(args, 'tags'), MLFLOW_LIMITS.tagValueChars))
    if (this.models.size >= MAX_MODELS) throw invalid(`A run logs at most ${MAX_MODELS} models through ml's endpoint; log fewer models.`)
    const id = `m-${randomBytes(16).toString('hex')}`
    const base = owner.run ? `${owner.run}/models` : 'models'
    const wanted = name && !keyProblem(name) ? `${base}/${name}` : undefined
    const used = wanted && ([...this.models.values()].some((m) => m.path === wanted) || unsafeReason(wanted) || (await this.taken(wanted)))
    const model: Held = {model_id: id, name: name ?? id, path: wanted && !used ? wanted : `${base}/${id}`, status: 'PENDING', ...(modelType && {model_type: modelType}), params, tags, metrics: {}, created: now, updated: now, owner, points: new Map()}
    this.models.set(id, model)
    return {model: this.proto(model), lines: this.record(owner)}
  }

  /** The model of an id the client sent, which must be one of this run's (RUN_NOT_FOUND, so RESOURCE_DOES_NOT_EXIST, otherwise). */
  held(id: unknown): Held {
    const model = typeof id === 'string' ? this.models.get(id) : undefined
    if (!model) throw new MlError('RUN_NOT_FOUND', `There is no logged model ${JSON.stringify(id)?.slice(0, 80)} in this run.`)
    return model
  }

  get(id: string): Record<string, unknown> {
    return this.proto(this.held(id))
  }

  /** logged-models/{id} (PATCH): its status, READY or FAILED (LOGGED_MODEL_READY, LOGGED_MODEL_UPLOAD_FAILED). */
  finalize(id: string, status: unknown, now: number): {model: Record<string, unknown>; lines: string[]} {
    const model = this.held(id)
    const next = STATUSES[String(status)]
    if (!next || next === 'PENDING') throw invalid(`A model is finalized as LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED, not ${JSON.stringify(status)}.`)
    return this.change(model, now, () => (model.status = next))
  }

  /** logged-models/{id}/tags (PATCH). */
  setTags(id: string, args: Record<string, unknown>, now: number): string[] {
    const model = this.held(id)
    const tags = keyValues('tag', list(args, 'tags'), MLFLOW_LIMITS.tagValueChars)
    return this.change(model, now, () => Object.assign(model.tags, Object.fromEntries(tags))).lines
  }

  /** logged-models/{id}/tags/{key} (DELETE): RESOURCE_DOES_NOT_EXIST for a tag it does not have, as MLflow's SQL store answers. */
  deleteTag(id: string, key: string, now: number): string[] {
    const model = this.held(id)
    if (!Object.hasOwn(model.tags, key)) throw new MlError('RUN_NOT_FOUND', `The logged model ${id} has no tag ${JSON.stringify(key.slice(0, 200))}.`)
    return this.change(model, now, () => delete model.tags[key]).lines
  }

  /** logged-models/{id}/params (POST): MLflow's client sends a model's params past the first 100 so, 100 at a time. */
  logParams(id: string, args: Record<string, unknown>, now: number): string[] {
    const model = this.held(id)
    const params = keyValues('param', list(args, 'params'), MLFLOW_LIMITS.paramValueChars)
    return this.change(model, now, () => Object.assign(model.params, Object.fromEntries(params))).lines
  }

  /** runs/outputs: the run's models and the step each was logged at (a model of another run is refused). */
  outputs(owner: Owner, args: Record<string, unknown>, now: number): string[] {
    const items = args.models ?? []
    if (!Array.isArray(items) || items.length > MAX_MODELS) throw invalid(`"models" must be a list of at most ${MAX_MODELS} {"model_id", "step"}.`)
    const steps = items.map((item) => {
      const {model_id: id, step} = (item ?? {}) as Record<string, unknown>
      const model = this.held(id)
      if (model.owner.run !== owner.run) throw invalid(`The logged model ${model.model_id} was logged by another run; log outputs to its own run.`)
      const n = typeof step === 'string' && /^-?\d+$/.test(step) ? Number(step) : step ?? 0
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw invalid(`The step of a model output must be a whole number, not ${JSON.stringify(step)}.`)
      return [model, n] as const
    })
    for (const [model, step] of steps) Object.assign(model, {step, updated: now})
    return steps.length === 0 ? [] : this.record(owner)
  }

  /**
   * Checks the model_id of metrics a run logs (runs/log-batch, runs/log-metric); for those that
   * name one, a function that links them to their models (their last value) and returns the
   * lines of the records it changed.
   */
  linking(owner: Owner, metrics: unknown[], now: number): (() => string[]) | undefined {
    const linked = metrics.flatMap((metric) => {
      const fields = (metric ?? {}) as Record<string, unknown>
      if (fields.model_id === undefined || fields.model_id === null || fields.model_id === '') return []
      const model = this.held(fields.model_id)
      if (model.owner.run !== owner.run) throw invalid(`The logged model ${model.model_id} was logged by another run; log its metrics in that run.`)
      return [[model, fields] as const]
    })
    if (linked.length === 0) return undefined
    return () => {
      for (const [model, {key, value, timestamp, step, dataset_name, dataset_digest}] of linked) {
        const v = metricValue(value)
        if (Number.isNaN(v)) continue
        model.metrics[key as string] = v
        model.points.set(key as string, {key, value: v, timestamp: Number(timestamp ?? now), step: Number(step ?? 0), model_id: model.model_id, run_id: this.mlflowId(owner), ...(typeof dataset_name === 'string' && {dataset_name}), ...(typeof dataset_digest === 'string' && {dataset_digest})})
        model.updated = now
      }
      return this.record(owner)
    }
  }

  /** logged-models/search: the run's models, newest first, in pages (MLflow's limit of 50 a page); a filter or an order is refused, not ignored. */
  search(args: Record<string, unknown>): {models: Array<Record<string, unknown>>; next_page_token?: string} {
    if (args.filter) throw invalid('ml\'s endpoint searches logged models without a filter; search without one and pick in the script.')
    if (Array.isArray(args.order_by) && args.order_by.length > 0) throw invalid('ml\'s endpoint lists logged models newest first only; search without order_by.')
    const ids = args.experiment_ids
    const wanted = !Array.isArray(ids) || ids.map(String).includes(EXPERIMENT_ID)
    const models = wanted ? [...this.models.values()].reverse().map((model) => this.proto(model)) : []
    const {items, next_page_token} = pageOf(models, {max_results: args.max_results === undefined ? 50 : Number(args.max_results), page_token: args.page_token as string | undefined}, 50)
    return {models: items, ...(next_page_token && {next_page_token})}
  }

  private change(model: Held, now: number, apply: () => unknown): {model: Record<string, unknown>; lines: string[]} {
    apply()
    model.updated = now
    return {model: this.proto(model), lines: this.record(model.owner)}
  }

  /** The record of an owner's models. */
  list(owner: Owner): ModelRecord[] {
    return [...this.models.values()].filter((m) => m.owner.run === owner.run).map(({owner: _, points: __, ...model}) => model)
  }

  /** The tag line of an owner's record: MODELS_PROPERTY, the JSON of its models. */
  private record(owner: Owner): string[] {
    return [JSON.stringify({...owner, tag: MODELS_PROPERTY, value: JSON.stringify(this.list(owner))})]
  }

  /** service.proto's LoggedModel; its artifact_uri is its folder through the run's artifact proxy. */
  private proto(model: Held): Record<string, unknown> {
    const run = this.mlflowId({})
    return {
      info: {
        model_id: model.model_id, experiment_id: EXPERIMENT_ID, name: model.name, creation_timestamp_ms: model.created, last_updated_timestamp_ms: model.updated,
        artifact_uri: `mlflow-artifacts:/${run}/${model.path}`, status: PROTO_STATUS[model.status], ...(model.model_type && {model_type: model.model_type}),
        source_run_id: this.mlflowId(model.owner), tags: Object.entries(model.tags).map(([key, value]) => ({key, value})),
      },
      data: {params: Object.entries(model.params).map(([key, value]) => ({key, value})), metrics: [...model.points.values()]},
    }
  }
}
