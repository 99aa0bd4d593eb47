import {promises as fs} from 'node:fs'
import path from 'node:path'
import {runPool} from '../../shared/run-pool.js'
import {experimentMeta, readLimit, runMeta, STORE_LIMITS, storeFile, storeLines} from '../tracking/mlflow-file-store.js'
import {mlflowRunId} from '../tracking/mlflow-ids.js'
import {EXPERIMENT_ID} from '../tracking/mlflow-run.js'
import {PASSTHROUGH_VARIABLE, REPLACED} from '../tracking/run-endpoint.js'
import {quote, runChecked, type Shell} from '../../ssh/shell.js'

/**
 * A run on a compute target logs with MLflow into MLflow's own file store in its control
 * folder, `<run-id>.ml/mlruns/`, which the wrapper names in MLFLOW_TRACKING_URI: a Slurm node
 * may not reach this machine, and a run on an ssh host outlives the connection (and the ml
 * that started it), so nothing it logs may need ml to be there. What the store holds is
 * brought back with the run's outputs and becomes the lines and outputs a local run's endpoint
 * writes (tracking/mlflow-file-store.ts). No token: the store is a folder of the user's own.
 */
export const STORE_DIR = 'mlruns'

/** The run's folders on the target (run-folder.ts's RunPlace). */
interface RunPlace {
  runDir: string
  ctl: string
}

export function storeOf(place: RunPlace): string {
  return `${place.ctl}/${STORE_DIR}`
}

/**
 * The lines of the run folder's script (sh, `set -e`) that make the store: experiment 0 (named
 * `experimentName`, else MLflow's "Default") and the run in it, RUNNING, with their meta.yaml.
 */
export function storeScript(place: RunPlace, runId: string, experimentName: string | undefined, now = Date.now()): string[] {
  const experiment = `${storeOf(place)}/${EXPERIMENT_ID}`
  const run = `${experiment}/${mlflowRunId(runId)}`
  return [
    `mkdir -p ${['metrics', 'params', 'tags', 'artifacts'].map((folder) => quote(`${run}/${folder}`)).join(' ')}`,
    `printf '%s' ${quote(experimentMeta(experimentName ?? 'Default', experiment, now))} > ${quote(`${experiment}/meta.yaml`)}`,
    `printf '%s' ${quote(runMeta(mlflowRunId(runId), `${run}/artifacts`, now))} > ${quote(`${run}/meta.yaml`)}`,
  ]
}

/** A file: URI for an absolute POSIX path (MLflow unquotes it: a `%`, `?` or `#` in a folder's name stays itself). */
function fileUri(file: string): string {
  return `file://${file.split('/').map(encodeURIComponent).join('/')}`
}

/**
 * The wrapper's lines that give the script MLflow's variables, as a local run's endpoint does,
 * unless the host's environment has a MLFLOW_TRACKING_URI with ML_MLFLOW_PASSTHROUGH=1.
 */
export function mlflowEnvLines(place: RunPlace, runId: string, experimentName: string | undefined): string[] {
  const values: Array<[string, string]> = [['MLFLOW_TRACKING_URI', fileUri(storeOf(place))], ['MLFLOW_RUN_ID', mlflowRunId(runId)], ['MLFLOW_EXPERIMENT_ID', EXPERIMENT_ID], ...experimentName ? [['MLFLOW_EXPERIMENT_NAME', experimentName] as [string, string]] : []]
  const unset = ['MLFLOW_TRACKING_TOKEN', ...REPLACED, ...experimentName ? [] : ['MLFLOW_EXPERIMENT_NAME']]
  return [
    `if [ "\${${PASSTHROUGH_VARIABLE}:-}" != 1 ] || [ -z "\${MLFLOW_TRACKING_URI:-}" ]; then`,
    `  ${values.map(([name, value]) => `${name}=${quote(value)}`).join(' ')}`,
    `  export ${values.map(([name]) => name).join(' ')}`,
    `  unset ${unset.join(' ')}`,
    'fi',
  ]
}

/**
 * What the script logged into the run's store on the target, as ML_METRICS_FILE lines, with
 * its artifacts (in the store, as MLflow keeps them: a copy keeps its file's time, so the
 * outputs' "newer than the start" would miss it) brought into `outputsDir`, a nested run's
 * under `<nested-id>/`; an output already there is kept, and an artifact over `maxArtifactBytes`
 * left there. Only regular files are listed (find -type f: no links, nothing through a linked
 * folder), each read up to its kind's limit and all up to STORE_LIMITS.bytes.
 */
export async function collectStore(shell: Shell, place: RunPlace, runId: string, outputsDir: string, options: {maxArtifactBytes: number; onWarning?: (message: string) => void}): Promise<{lines: string[]; outputs: string[]}> {
  const {onWarning} = options
  const store = storeOf(place)
  const listed = await runChecked(shell, `cd ${quote(store)} 2>/dev/null && find . -type f && echo ':over' && find . -type f -size +${Math.floor(options.maxArtifactBytes)}c || true`, 'list the MLflow file store')
  const [all, over] = listed.split('\n:over\n').map((part) => part.split('\n').filter((line) => line.startsWith('./')).map((line) => line.slice(2)))
  let files = all
  if (files.length > STORE_LIMITS.files) {
    onWarning?.(`The MLflow file store of run ${runId} holds ${files.length} files; only the first ${STORE_LIMITS.files} were read.`)
    files = files.slice(0, STORE_LIMITS.files)
  }
  const read = new Map<string, {text: string; cut: boolean}>()
  let left: number = STORE_LIMITS.bytes
  const wanted = files.flatMap((file) => {
    const entry = storeFile(file)
    return entry && entry.kind !== 'artifact' ? [{file, max: readLimit(entry.kind, entry.key)}] : []
  })
  await runPool(wanted, 8, async ({file, max}) => {
    const limit = Math.min(max, left)
    if (limit <= 0) return
    const data = await shell.readFile(`${store}/${file}`, 0, limit + 1)
    if (!data) return
    left -= Math.min(data.length, limit)
    read.set(file, {text: data.subarray(0, limit).toString('utf8'), cut: data.length > limit})
  })
  if (left <= 0) onWarning?.(`The MLflow file store of run ${runId} is over ${STORE_LIMITS.bytes / 2 ** 20} MB; what is beyond was not read.`)
  const {lines, artifacts, warnings} = storeLines(runId, {files, read})
  for (const warning of warnings) onWarning?.(warning)
  const tooBig = new Set(over ?? [])
  const outputs: string[] = []
  for (const {file, output} of artifacts) {
    if (tooBig.has(file)) {
      onWarning?.(`The MLflow artifact ${output} is over ${options.maxArtifactBytes / 1e6} MB, the project's size limit; it was left on ${shell.where}.`)
      continue
    }
    const local = path.join(outputsDir, output)
    let made = false
    try {
      await fs.mkdir(path.dirname(local), {recursive: true})
      // `wx`: never over an output the script wrote there itself.
      await (await fs.open(local, 'wx')).close()
      made = true
      await shell.download(`${store}/${file}`, local)
      outputs.push(output)
    } catch (error) {
      if (made) await fs.rm(local, {force: true})
      onWarning?.(`The MLflow artifact ${output} was left on ${shell.where}: ${(error as Error).message}`)
    }
  }
  return {lines, outputs}
}
