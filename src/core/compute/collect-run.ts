import {promises as fs} from 'node:fs'
import path from 'node:path'
import {OUTPUTS_DIR} from '../project/layout.js'
import type {RunEnding} from '../runs/record-ending.js'
import {cap, REQUIREMENTS_FILE} from '../runs/run-environment.js'
import {LOG_FILE} from '../runs/runs.js'
import type {RunEnvironment} from '../trust/run-environment.js'
import {MAX_GPUS} from '../trust/environment-limits.js'
import {unsafeReason} from '../trust/tree-path.js'
import {collectStore} from './mlflow-store.js'
import {CTL, type RunPlace} from './run-folder.js'
import {quote, runChecked, type Shell} from '../../ssh/shell.js'

/** What the wrapper's exit file says: the script's exit status and when it ended. */
export interface ExitStatus {
  code: number
  ended: Date
}

export async function readExit(shell: Shell, place: RunPlace): Promise<ExitStatus | null> {
  const text = (await shell.readFile(`${place.ctl}/${CTL.exit}`, 0, 200))?.toString()
  const [code, time] = text?.split('\n') ?? []
  if (!code || !/^\d+$/.test(code.trim())) return null
  const ended = new Date(time?.trim() ?? '')
  return {code: Number(code), ended: Number.isNaN(ended.getTime()) ? new Date() : ended}
}

/**
 * Passes on what the run's log has gained since byte `offset` (the whole of it, in pieces), and
 * returns the new offset: how a submit on an ssh host and a submit --wait on Slurm stream it.
 */
export async function streamLog(shell: Shell, place: RunPlace, offset: number, onOutput?: (chunk: Buffer, stream: 'stdout') => void): Promise<number> {
  for (;;) {
    const chunk = await shell.readFile(`${place.ctl}/${CTL.log}`, offset, 1 << 20)
    if (!chunk || chunk.length === 0) return offset
    offset += chunk.length
    onOutput?.(chunk, 'stdout')
  }
}

/** The error of a run on an ssh host whose wrapper is gone without an exit file. */
export function endedUnrecorded(where: string): string {
  return `The run's process on ${where} ended without recording how (it was killed, or the host restarted).`
}

/** When the script started (the wrapper's `started` file), or null if it never did. */
export async function readStarted(shell: Shell, place: RunPlace): Promise<Date | null> {
  const text = (await shell.readFile(`${place.ctl}/${CTL.started}`, 0, 100))?.toString().trim()
  const date = text ? new Date(text) : null
  return date && !Number.isNaN(date.getTime()) ? date : null
}

/**
 * Brings back what a run left on its target into `localDir` (a folder of this machine's): the
 * log, the metrics, the environment and the files written to outputs/ since the script started,
 * and what the script logged with MLflow into the run's file store there (see mlflow-store.ts).
 * Output paths are the target's word, so each passes the path gate; one that does not is left
 * there and named in a warning.
 */
export async function collectRun(shell: Shell, place: RunPlace, localDir: string, options: {runId: string; mlVersion: string; maxArtifactBytes: number; onWarning?: (message: string) => void}): Promise<Pick<RunEnding, 'logFile' | 'metricsText' | 'environment' | 'outputsDir' | 'outputs'>> {
  await fs.mkdir(localDir, {recursive: true})
  const logFile = path.join(localDir, LOG_FILE)
  const log = await shell.readFile(`${place.ctl}/${CTL.log}`)
  await fs.writeFile(logFile, log ?? '')
  const metricsText = (await shell.readFile(`${place.ctl}/${CTL.metrics}`))?.toString() ?? ''
  const environmentText = (await shell.readFile(`${place.ctl}/${CTL.environment}`, 0, 1 << 20))?.toString()
  const requirements = (await shell.readFile(`${place.ctl}/${CTL.requirements}`, 0, 8 << 20))?.toString()

  const outputsDir = path.join(localDir, OUTPUTS_DIR)
  const outputs: string[] = []
  const listed = await runChecked(shell, `cd ${quote(`${place.runDir}/${OUTPUTS_DIR}`)} 2>/dev/null && [ -f ${quote(`${place.ctl}/${CTL.started}`)} ] && find . -type f -newer ${quote(`${place.ctl}/${CTL.started}`)} || true`, 'list the outputs')
  for (const line of listed.split('\n')) {
    if (!line.startsWith('./')) continue
    const file = line.slice(2)
    const reason = unsafeReason(file)
    if (reason) {
      options.onWarning?.(`The output ${JSON.stringify(file)} ${reason}; it was left on ${shell.where}.`)
      continue
    }
    await fs.mkdir(path.dirname(path.join(outputsDir, file)), {recursive: true})
    await shell.download(`${place.runDir}/${OUTPUTS_DIR}/${file}`, path.join(outputsDir, file))
    outputs.push(file)
  }
  const mlflow = await collectStore(shell, place, options.runId, outputsDir, options)
  const environment = environmentText === undefined ? undefined : {
    environment: parseEnvironment(environmentText, options.mlVersion),
    files: requirements === undefined ? [] : [{path: REQUIREMENTS_FILE, data: requirements}],
  }
  const logged = mlflow.lines.length === 0 ? metricsText : `${metricsText}${metricsText && !metricsText.endsWith('\n') ? '\n' : ''}${mlflow.lines.join('\n')}\n`
  return {logFile, metricsText: logged, environment, outputsDir, outputs: [...outputs, ...mlflow.outputs].sort()}
}

/** environment.json from the `key=value` lines the wrapper's probe printed on the target. */
export function parseEnvironment(text: string, mlVersion: string): RunEnvironment {
  const values = new Map<string, string>()
  const gpus: NonNullable<RunEnvironment['gpus']> = []
  for (const line of text.split('\n')) {
    const at = line.indexOf('=')
    if (at < 0) continue
    const [key, value] = [line.slice(0, at), cap(line.slice(at + 1).trim())]
    if (key === 'gpu') {
      const [name, memoryTotal, driverVersion] = value.split(',').map((s) => s.trim())
      if (name && gpus.length < MAX_GPUS) gpus.push({name, memoryTotal: memoryTotal ?? '', driverVersion: driverVersion ?? ''})
    } else {
      values.set(key, value)
    }
  }
  const get = (key: string) => values.get(key) ?? ''
  const number = (key: string) => (/^\d+$/.test(get(key)) ? Number(get(key)) : 0)
  const environment: RunEnvironment = {
    schema: 1,
    os: {platform: get('type').toLowerCase(), release: get('release'), type: get('type'), arch: get('arch')},
    cpu: {count: number('cpus'), model: get('cpu')},
    memoryBytes: number('memory'),
    hostname: get('hostname'),
    user: get('user'),
    node: cap(process.version),
    ml: cap(mlVersion),
  }
  if (get('interpreter')) {
    environment.interpreter = {command: get('interpreter'), ...get('interpreter_path') && {path: get('interpreter_path')}, ...get('interpreter_version') && {version: get('interpreter_version').replace(/^Python /, '')}}
  }
  if (gpus.length > 0) environment.gpus = gpus
  return environment
}
