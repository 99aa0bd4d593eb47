import path from 'node:path'
import {plural} from '../../shared/plural.js'
import type {RunEnvironment, RunGpu} from '../trust/run-environment.js'
import {MAX_ENVIRONMENT_STRING} from '../trust/environment-limits.js'

export type {RunEnvironment, RunGpu} from '../trust/run-environment.js'

/**
 * A run's environment as its record keeps it (collected by execution/environment.ts), shown and
 * compared: a one-line summary for `history info`, what changed for `history diff`.
 */

/** The files of a run's record that say where it ran. */
export const ENVIRONMENT_FILE = 'environment.json'
export const REQUIREMENTS_FILE = 'requirements.txt'
export const CONDA_FILE = 'conda.txt'

export function isPython(command: string): boolean {
  return path.basename(command).startsWith('python')
}

/** A string as environment.json may hold it (see trust/run-environment.ts). */
export function cap(text: string): string {
  return text.length > MAX_ENVIRONMENT_STRING ? text.slice(0, MAX_ENVIRONMENT_STRING) : text
}

/**
 * environment.json of a run, read from its record (untrusted): null unless it passes the gate.
 * The gate (zod) is loaded only here, never at start-up.
 */
export async function parseEnvironment(data: Buffer | string | null): Promise<RunEnvironment | null> {
  const {checkRunEnvironment} = await import('../trust/run-environment.js')
  return checkRunEnvironment(data)
}

/** One line for `history info`: `Linux 6.1.0 x64, 2 CPUs (Intel Xeon), 7.8 GB, Python 3.11.2, node v20.11.0`. */
export function environmentSummary(env: RunEnvironment): string {
  const parts = [osText(env), `${plural(env.cpu.count, 'CPU')}${env.cpu.model ? ` (${env.cpu.model})` : ''}`, gigabytes(env.memoryBytes)]
  const interpreter = interpreterText(env)
  if (interpreter) parts.push(interpreter)
  parts.push(`node ${env.node}`)
  if (env.gpus?.length) parts.push(`${plural(env.gpus.length, 'GPU')}: ${gpusText(env.gpus, false)}`)
  return parts.join(', ')
}

function osText(env: RunEnvironment): string {
  return `${env.os.type} ${env.os.release} ${env.os.arch}`
}

/** In GiB (what `free -h` shows), labelled GB as people say it, with one decimal. */
function gigabytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GB`
}

/** `Python 3.11.2`, `bash 5.2.15(1)-release`; nothing for ml's own node (it has its own part) or an unknown version. */
function interpreterText(env: RunEnvironment): string | null {
  const interpreter = env.interpreter
  if (!interpreter?.version) return null
  if (isPython(interpreter.command)) return `Python ${interpreter.version}`
  if (path.basename(interpreter.command).startsWith('node') && interpreter.version === env.node) return null
  return `${path.basename(interpreter.command)} ${shortVersion(interpreter.version)}`
}

/** The version number of a `--version` line: `GNU bash, version 5.2.15(1)-release (x86_64)` is `5.2.15(1)-release`. */
function shortVersion(line: string): string {
  return /\d+(?:\.\d+)+\S*/.exec(line)?.[0] ?? line
}

/** Identical GPUs once with their count: `2 x Tesla T4 (15 GB), NVIDIA A100 (80 GB)`. */
function gpusText(gpus: RunGpu[], withDriver: boolean): string {
  const counts = new Map<string, number>()
  for (const gpu of gpus) {
    const text = `${gpu.name} (${gpuMemory(gpu.memoryTotal)}${withDriver ? `, driver ${gpu.driverVersion}` : ''})`
    counts.set(text, (counts.get(text) ?? 0) + 1)
  }
  return [...counts].map(([text, count]) => (count === 1 ? text : `${count} x ${text}`)).join(', ')
}

/** nvidia-smi's `81920 MiB` as `80 GB`; any other text as it is. */
function gpuMemory(memoryTotal: string): string {
  const mib = /^(\d+(?:\.\d+)?)\s*MiB$/i.exec(memoryTotal)
  if (!mib) return memoryTotal
  const gb = Number(mib[1]) / 1024
  return `${gb >= 10 ? Math.round(gb) : gb.toFixed(1)} GB`
}

/** What `environmentChanges` compares of one run: its environment.json and requirements.txt, either possibly absent. */
export interface EnvironmentSide {
  environment?: RunEnvironment
  requirements?: string
}

/**
 * What changed between two runs' environments, one plain line each, for `history diff`: the
 * machine (`memory: 7.8 GB -> 15.6 GB`), the interpreter and ml, then the packages of
 * requirements.txt (`+ numpy 1.26.4`, `- pandas 2.1.0`, `~ torch 2.1.0 -> 2.2.0`). Empty when
 * nothing did.
 */
export function environmentChanges(before: EnvironmentSide, after: EnvironmentSide): string[] {
  const lines: string[] = []
  const change = (label: string, a: string, b: string) => {
    if (a !== b) lines.push(`${label}: ${a} -> ${b}`)
  }
  const a = before.environment
  const b = after.environment
  if (a && b) {
    change('os', osText(a), osText(b))
    change('cpu', `${a.cpu.count} x ${a.cpu.model || 'unknown'}`, `${b.cpu.count} x ${b.cpu.model || 'unknown'}`)
    change('memory', gigabytes(a.memoryBytes), gigabytes(b.memoryBytes))
    change('hostname', a.hostname, b.hostname)
    if (a.interpreter && b.interpreter && isPython(a.interpreter.command) && isPython(b.interpreter.command)) {
      change('python', a.interpreter.version ?? 'unknown', b.interpreter.version ?? 'unknown')
    } else {
      change('interpreter', interpreterLabel(a), interpreterLabel(b))
    }
    change('node', a.node, b.node)
    change('ml', a.ml, b.ml)
    change('gpus', a.gpus?.length ? gpusText(a.gpus, true) : 'none', b.gpus?.length ? gpusText(b.gpus, true) : 'none')
  } else if (a || b) {
    change('environment', a ? 'recorded' : 'not recorded', b ? 'recorded' : 'not recorded')
  }
  if (before.requirements !== undefined && after.requirements !== undefined) {
    lines.push(...packageChanges(parseRequirements(before.requirements), parseRequirements(after.requirements)))
  } else if (before.requirements !== undefined || after.requirements !== undefined) {
    const described = (text?: string) => (text === undefined ? 'not recorded' : plural(parseRequirements(text).size, 'package'))
    change(REQUIREMENTS_FILE, described(before.requirements), described(after.requirements))
  }
  return lines
}

function interpreterLabel(env: RunEnvironment): string {
  const interpreter = env.interpreter
  if (!interpreter) return 'none'
  const name = isPython(interpreter.command) ? 'Python' : path.basename(interpreter.command)
  return `${name} ${interpreter.version ? shortVersion(interpreter.version) : '(version unknown)'}`
}

interface Requirement {
  name: string
  /** `1.26.4`, or `@ <url>` / `-e <url>` for a package installed from a URL or a folder. */
  version: string
}

/**
 * The packages of a `pip freeze`, keyed by name as PEP 503 normalises it (case, runs of `-`,
 * `_`, `.`), so that `Pillow` and `pillow`, `typing_extensions` and `typing-extensions` are one.
 */
function parseRequirements(text: string): Map<string, Requirement> {
  const packages = new Map<string, Requirement>()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    const requirement = requirementOf(line)
    if (requirement) packages.set(normalisedName(requirement.name), {name: cap(requirement.name), version: cap(requirement.version)})
  }
  return packages
}

/** `name==1.0` (or `===`), `name @ url`, `-e url#egg=name`; null for a comment or an option. */
function requirementOf(line: string): Requirement | null {
  const pinned = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*(\S+)/.exec(line)
  if (pinned) return {name: pinned[1], version: pinned[2]}
  const direct = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*@\s*(\S+)/.exec(line)
  if (direct) return {name: direct[1], version: `@ ${direct[2]}`}
  const editable = /^(?:-e|--editable)\s+(\S+)/.exec(line)
  const egg = editable && /[#&]egg=([A-Za-z0-9._-]+)/.exec(editable[1])
  return editable && egg ? {name: egg[1], version: `-e ${editable[1]}`} : null
}

function normalisedName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase()
}

function packageChanges(before: Map<string, Requirement>, after: Map<string, Requirement>): string[] {
  const lines: string[] = []
  for (const key of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const a = before.get(key)
    const b = after.get(key)
    if (!a && b) lines.push(`+ ${b.name} ${b.version}`)
    else if (a && !b) lines.push(`- ${a.name} ${a.version}`)
    else if (a && b && a.version !== b.version) lines.push(`~ ${b.name} ${a.version} -> ${b.version}`)
  }
  return lines
}
