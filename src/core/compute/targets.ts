import {promises as fs} from 'node:fs'
import path from 'node:path'
import {MlError} from '../../shared/errors.js'
import {parseRemoteUrl} from '../../shared/remote-url.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {mlName, mlPath} from '../project/layout.js'
import {findProject, type Project} from '../project/project.js'
import {remoteRuns} from './remote-runs.js'

/** Where runs go: `local` needs no attaching; the others are kept in .ml/compute/<name>.json. */
export const LOCAL = 'local'

interface TargetBase {
  schema: 1
  name: string
  /** The folder runs are put in: on an ssh host, relative to the login's home unless absolute. */
  workDir: string
  /** How Python scripts are started there (`python3` unless set): a command, split on spaces. */
  python?: string
  /**
   * The ssh host (for Slurm: the login node; without it Slurm's commands run on this machine): a
   * Host alias of ~/.ssh/config is resolved when connecting, so the file's changes apply.
   */
  host?: string
  user?: string
  port?: number
  /** A private key file, by its path: the key itself is never copied. */
  identity?: string
}

export interface SshTarget extends TargetBase {
  type: 'ssh'
  host: string
}

export interface SlurmTarget extends TargetBase {
  type: 'slurm'
  partition?: string
  /** Passed to every sbatch, before ml's own options. */
  sbatchArgs: string[]
}

export type ComputeTarget = SshTarget | SlurmTarget

/** What `ml compute attach` is given. */
export interface AttachSpec {
  name: string
  /** ssh or slurm; ssh when only `url` is given. */
  type?: string
  /** `ssh://[USER@]HOST[:PORT]`: the same as --host USER@HOST --port PORT (HOST may be a Host alias of ~/.ssh/config). */
  url?: string
  /** `[USER@]HOST` */
  host?: string
  port?: number
  /** Resolved against the folder the user is in; checked to be a readable file. */
  identity?: string
  workDir?: string
  python?: string
  partition?: string
  sbatchArgs?: string[]
  /** The folder relative paths given are taken from. */
  cwd: string
  /** This machine's home: a Slurm target without a host keeps its runs under it by default. */
  home: string
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
const HOST = /^[A-Za-z0-9_.:[\]-]+$/
const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/
const PARTITION = /^[A-Za-z0-9_.-]+$/
const DEFAULT_WORK_DIR = '.ml-runs'

function file(project: Project, name: string): string {
  return mlPath(project.dir, 'compute', `${name}.json`)
}

/** Checks a target name: letters, digits, `.`, `_`, `-`, not `local`. */
function checkTargetName(name: string): void {
  if (!NAME.test(name) || name === LOCAL) {
    throw new MlError('INVALID_ARGUMENT', `"${name}" cannot name a compute target; use letters, digits, ".", "_" and "-" (at most 63, not "local").`)
  }
}

/** Attaches a target to the project found from `cwd`: checks what it was given and writes .ml/compute/<name>.json. */
export async function attachTarget(cwd: string, spec: AttachSpec): Promise<ComputeTarget> {
  const project = await findProject(cwd)
  checkTargetName(spec.name)
  if (spec.url !== undefined) spec = {...spec, ...fromUrl(spec)}
  if (spec.type === undefined) throw new MlError('INVALID_ARGUMENT', 'Give --type ssh or slurm, or an ssh://[USER@]HOST[:PORT] URL.')
  if (spec.type !== 'ssh' && spec.type !== 'slurm') {
    throw new MlError('INVALID_ARGUMENT', `--type ${spec.type} is not a kind of compute target; use ssh or slurm.`)
  }
  if (await readTarget(project, spec.name)) {
    throw new MlError('COMPUTE_EXISTS', `A compute target named ${spec.name} is attached already; detach it first (\`ml compute detach ${spec.name}\`) or choose another name.`)
  }
  const base: TargetBase = {schema: 1, name: spec.name, workDir: spec.workDir ?? DEFAULT_WORK_DIR}
  if (spec.host !== undefined) {
    const at = spec.host.lastIndexOf('@')
    base.host = spec.host.slice(at + 1)
    if (at > 0) base.user = spec.host.slice(0, at)
  }
  if (spec.port !== undefined) base.port = spec.port
  if (spec.identity !== undefined) {
    base.identity = path.resolve(spec.cwd, spec.identity)
    const stat = await fs.stat(base.identity).catch(() => null)
    if (!stat?.isFile()) throw new MlError('INVALID_ARGUMENT', `--identity ${spec.identity} is not a file; give the path of a private key.`)
  }
  if (spec.python !== undefined) base.python = spec.python
  let target: ComputeTarget
  if (spec.type === 'ssh') {
    if (!base.host) throw new MlError('INVALID_ARGUMENT', 'An ssh target needs --host [USER@]HOST.')
    target = {...base, type: 'ssh', host: base.host}
  } else {
    if (!base.host) base.workDir = path.resolve(spec.home, base.workDir)
    target = {...base, type: 'slurm', sbatchArgs: spec.sbatchArgs ?? [], ...spec.partition !== undefined && {partition: spec.partition}}
  }
  const problem = targetProblem(target)
  if (problem) throw new MlError('INVALID_ARGUMENT', `${problem}.`)
  await fs.mkdir(mlPath(project.dir, 'compute'), {recursive: true})
  await writeAtomically(file(project, target.name), `${JSON.stringify(target, null, 2)}\n`)
  return target
}

/** --host and --port from `ssh://[USER@]HOST[:PORT]`; given twice is refused. */
function fromUrl(spec: AttachSpec): Pick<AttachSpec, 'type' | 'host' | 'port'> {
  const url = parseRemoteUrl(spec.url!)
  if (url.scheme !== 'ssh' || !spec.url!.includes('://') || !url.host || (url.path !== '' && url.path !== '/') || url.password !== undefined) {
    throw new MlError('INVALID_ARGUMENT', `${spec.url} is not an ssh://[USER@]HOST[:PORT] URL (a password is never taken: use a key).`)
  }
  if (spec.host !== undefined) throw new MlError('INVALID_ARGUMENT', 'Give the host once: as the URL or with --host, not both.')
  if (spec.port !== undefined && url.port !== undefined) throw new MlError('INVALID_ARGUMENT', 'Give the port once: in the URL or with --port, not both.')
  return {type: spec.type ?? 'ssh', host: `${url.user !== undefined ? `${url.user}@` : ''}${url.host}`, port: spec.port ?? url.port}
}

/**
 * Detaches a target: its file goes. While runs submitted from here are out on it, COMPUTE_IN_USE:
 * without the target, nothing could bring them back.
 */
export async function detachTarget(cwd: string, name: string): Promise<ComputeTarget> {
  const project = await findProject(cwd)
  const target = await loadTarget(project, name)
  const out = (await remoteRuns(project)).filter((r) => r.target === name)
  if (out.length > 0) {
    throw new MlError('COMPUTE_IN_USE', `${out.length} run${out.length === 1 ? '' : 's'} submitted to ${name} (${out.slice(0, 3).map((r) => r.runId).join(', ')}${out.length > 3 ? ', ...' : ''}) ${out.length === 1 ? 'has' : 'have'} not been recorded as ended; wait for them (\`ml history sync\`) or cancel them (\`ml experiment cancel\`) first.`)
  }
  await fs.rm(file(project, name))
  return target
}

/** The targets attached to the project found from `cwd`. */
export async function computeTargets(cwd: string): Promise<ComputeTarget[]> {
  return listTargets(await findProject(cwd))
}

/** The attached targets, by name. */
async function listTargets(project: Project): Promise<ComputeTarget[]> {
  let names: string[]
  try {
    names = (await fs.readdir(mlPath(project.dir, 'compute'))).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const targets: ComputeTarget[] = []
  for (const name of names.sort()) {
    const target = await readTarget(project, name)
    if (target) targets.push(target)
  }
  return targets
}

/** The target named `name`: UNKNOWN_COMPUTE, listing the attached ones, when there is none. */
export async function loadTarget(project: Project, name: string): Promise<ComputeTarget> {
  const target = NAME.test(name) ? await readTarget(project, name) : null
  if (target) return target
  const known = [LOCAL, ...(await listTargets(project)).map((t) => t.name)]
  throw new MlError('UNKNOWN_COMPUTE', `There is no compute target named "${name}"; use one of: ${known.join(', ')} (attach one with \`ml compute attach\`).`)
}

async function readTarget(project: Project, name: string): Promise<ComputeTarget | null> {
  let text: string
  try {
    text = await fs.readFile(file(project, name), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  let target: ComputeTarget
  try {
    target = JSON.parse(text)
  } catch {
    throw new MlError('COMPUTE_ERROR', `${mlName('compute')}/${name}.json is not JSON; detach the target and attach it again.`)
  }
  const problem = target?.name === name ? targetProblem(target) : 'it names another target'
  if (problem) throw new MlError('COMPUTE_ERROR', `${mlName('compute')}/${name}.json is not a target ml wrote (${problem}); detach it and attach it again.`)
  return target
}

/** What is wrong with a target's settings, or null. Every string here ends up in a shell command line or an ssh connection. */
function targetProblem(t: ComputeTarget): string | null {
  const line = (s: unknown) => typeof s === 'string' && s.length > 0 && s.length < 1000 && !/[\0\n\r]/.test(s)
  if (t.schema !== 1 || (t.type !== 'ssh' && t.type !== 'slurm')) return 'its schema or type is unknown'
  if (t.host !== undefined && !(HOST.test(t.host) && !t.host.startsWith('-'))) return `--host ${t.host} is not a host name`
  if (t.user !== undefined && !USER.test(t.user)) return `${t.user} is not a user name`
  if (t.port !== undefined && !(Number.isInteger(t.port) && t.port > 0 && t.port < 65_536)) return `--port ${t.port} is not a port number`
  if (t.identity !== undefined && !(line(t.identity) && path.isAbsolute(t.identity))) return '--identity is not a file path'
  if (!line(t.workDir)) return '--work-dir is not a folder path'
  if (t.type === 'slurm' && !t.host && !path.isAbsolute(t.workDir)) return '--work-dir must be absolute'
  if (t.python !== undefined && !line(t.python)) return '--python is not a command'
  if (t.type === 'slurm') {
    if (t.partition !== undefined && !PARTITION.test(t.partition)) return `--partition ${t.partition} is not a partition name`
    if (!Array.isArray(t.sbatchArgs) || !t.sbatchArgs.every((a) => line(a) && a.startsWith('-'))) return 'every --sbatch-arg must be one sbatch option, starting with "-"'
  }
  return null
}

/** `user@host:port` or `this machine`, for messages. */
export function targetWhere(target: ComputeTarget): string {
  if (!target.host) return 'this machine'
  return `${target.user ? `${target.user}@` : ''}${target.host}${target.port ? `:${target.port}` : ''}`
}
