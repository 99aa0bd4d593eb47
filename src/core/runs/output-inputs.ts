import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {MlError} from '../../shared/errors.js'
import {localObject, tempBeside, usedObject} from '../data/object-cache.js'
import {fetchMissing, projectCache, type StoreAccess} from '../data/project-store.js'
import {mlPath, OUTPUTS_DIR, runRef} from '../project/layout.js'
import type {Project} from '../project/project.js'
import {isInputName} from '../trust/ids.js'
import type {RunOutputInput} from '../trust/run-record.js'
import {unsafeReason} from '../trust/tree-path.js'
import {runInputsOf} from './run-inputs.js'
import {getRun, resolveRunId, type RunRecord} from './runs.js'

/**
 * `--input NAME=RUN:outputs/PATH`: another run's output as an input of this one, checked (the
 * run and its output exist) and identified by its sha256, so that the lineage run -> file -> run
 * holds whatever happens to either run's folder.
 */
export async function resolveOutputInputs(repo: ShadowRepo, specs: string[]): Promise<RunOutputInput[]> {
  const inputs: RunOutputInput[] = []
  for (const spec of specs) {
    const match = /^([^=]*)=([^:]*):(.*)$/s.exec(spec)
    const bad = (why: string) => new MlError('INVALID_ARGUMENT', `--input ${JSON.stringify(spec)} ${why}; write it as NAME=RUN:outputs/PATH, such as model=iris_1795313438318:outputs/model.pkl.`)
    if (!match) throw bad('is not NAME=RUN:outputs/PATH')
    const [, name, runIdOrPrefix, where] = match
    if (!isInputName(name)) throw bad('has a NAME that is not letters, digits and _ (starting with a letter or _)')
    if (inputs.some((i) => i.name === name)) throw bad(`names ${name} a second time`)
    const file = where.startsWith(`${OUTPUTS_DIR}/`) ? where.slice(OUTPUTS_DIR.length + 1) : null
    if (file === null || unsafeReason(file) !== null) throw bad(`names ${JSON.stringify(where)}, which is not a file under the run's outputs/`)
    const run = await getRun(repo, await resolveRunId(repo, runIdOrPrefix))
    const output = run.outputs.find((o) => o.path === file)
    if (!output) throw new MlError('RUN_NOT_FOUND', `Run ${run.runId} has no output ${file}; \`ml history info ${run.runId}\` lists its outputs.`)
    const sha256 = output.sha256 ?? createHash('sha256').update(await historyOutput(repo, run, file)).digest('hex')
    inputs.push({kind: 'run', name, run: run.runId, path: file, size: output.size, sha256})
  }
  return inputs
}

/** An output kept in the history (under 50 MB), from the producing run's latest state. */
async function historyOutput(repo: ShadowRepo, run: RunRecord, file: string): Promise<Buffer> {
  const commit = await repo.resolveRef(runRef(run.runId))
  const data = commit ? await repo.readFile(commit, `${OUTPUTS_DIR}/${file}`) : null
  if (data === null) throw new MlError('RUN_NOT_FOUND', `Run ${run.runId} lists the output ${file}, but its history holds no such file; pull the run again (\`ml history pull\`).`)
  return data
}

/** Where a run finds the input `name`: .ml/runs/<run-id>/inputs/<name>/<the output's file name>. */
export function inputFile(project: Project, runId: string, input: RunOutputInput): string {
  return mlPath(project.dir, 'runs', runId, 'inputs', input.name, path.posix.basename(input.path))
}

/**
 * Puts the record's run-output inputs in their places (from the producing run's history, this
 * machine's object cache or the project's store), each checked against the sha256 the record
 * names (DATA_CORRUPT otherwise, and nothing is put in place), and returns the variables that
 * tell the script where they are: ML_INPUT_<NAME>.
 */
export async function placeOutputInputs(project: Project, repo: () => Promise<ShadowRepo>, record: RunRecord, access?: StoreAccess): Promise<Record<string, string>> {
  const inputs = runInputsOf(record)
  if (inputs.length === 0) return {}
  const cache = projectCache(project, access ?? {env: {}})
  const large = inputs.filter((i) => localObject(cache, i.sha256) === null && i.size > 0)
  const lacking = access ? await fetchMissing(project, access, large.map((i) => ({id: i.sha256, size: i.size}))) : []
  const env: Record<string, string> = {}
  for (const input of inputs) {
    const target = inputFile(project, record.runId, input)
    env[`ML_INPUT_${input.name}`] = target
    await fs.mkdir(path.dirname(target), {recursive: true})
    const local = lacking.some((o) => o.id === input.sha256) ? null : usedObject(cache, input.sha256)
    const temp = tempBeside(target)
    try {
      // The cache holds objects by the hash of their bytes (checked as they came in); the history's are checked here.
      if (local !== null) await fs.copyFile(local, temp, fs.constants.COPYFILE_EXCL)
      else {
        const data = await historyOutput(await repo(), await getRun(await repo(), input.run), input.path).catch(() => null)
        if (data === null) throw new MlError('DATA_MISSING', `The input ${input.name} (${input.path} of run ${input.run}) is on neither this machine nor its artifact store; push it from the machine that made it (\`ml data push\`).`)
        if (createHash('sha256').update(data).digest('hex') !== input.sha256) throw new MlError('DATA_CORRUPT', `The input ${input.name} (${input.path} of run ${input.run}) does not hold the bytes the record names; it was not used.`)
        await fs.writeFile(temp, data, {flag: 'wx'})
      }
      await fs.rename(temp, target)
    } finally {
      await fs.rm(temp, {force: true})
    }
  }
  return env
}
