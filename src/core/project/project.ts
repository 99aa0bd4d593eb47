import {promises as fs} from 'node:fs'
import path from 'node:path'
import {ShadowRepo} from '../../git/shadow-repo.js'
import {MlError} from '../../shared/errors.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {mlPath, PROJECT_REF} from './layout.js'
import {pathExists} from '../../shared/path-exists.js'

/** The contents of `.ml/project.json`. */
export interface ProjectConfig {
  schema: 1
  id: string
  name: string
  historyBranch: string
  createdAt: string
  /** The remote's URL, never with credentials in it. */
  remote?: string
  /** Snapshot size limits, to change the defaults (see SnapshotLimits). */
  limits?: Partial<SnapshotLimits>
  /** The artifact store's URL (a folder, ssh:// or s3://), never with a secret in it: shared with the project, so a clone knows it. */
  store?: string
  /** An S3-compatible service's endpoint for an s3:// store. */
  storeEndpoint?: string
}

/** Like Azure ML's and Valohai's: warn at a size that is probably a mistake, refuse one that surely is (see limits.ts). */
export interface SnapshotLimits {
  warnFiles: number
  warnBytes: number
  maxFiles: number
  maxBytes: number
}

/** An opened project: its folder and configuration. */
export interface Project {
  dir: string
  config: ProjectConfig
}

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function configPath(dir: string): string {
  return mlPath(dir, 'project')
}

export function historyDir(project: Project): string {
  return mlPath(project.dir, 'history')
}

/** Finds the project holding `startDir` (itself or a parent). */
export async function findProject(startDir: string): Promise<Project> {
  const found = await findProjectDir(path.resolve(startDir))
  if (!found) {
    throw new MlError('NOT_A_PROJECT', `No ml project found in ${path.resolve(startDir)} or any parent folder; run \`ml project init\` first or cd into a project.`)
  }
  return openProject(found)
}

/** The folder of the project holding `dir` (itself or a parent), or null. */
export async function findProjectDir(dir: string): Promise<string | null> {
  for (let current = dir; ; current = path.dirname(current)) {
    if (await pathExists(configPath(current))) return current
    if (path.dirname(current) === current) return null
  }
}

export async function openProject(dir: string): Promise<Project> {
  let text: string
  try {
    text = await fs.readFile(configPath(dir), 'utf8')
  } catch (error) {
    throw new MlError('PROJECT_CORRUPT', `${configPath(dir)} cannot be read (${(error as Error).message}); fix or restore that file.`, {cause: error})
  }
  return {dir, config: parseProjectConfig(text, configPath(dir))}
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * A project file's text as a ProjectConfig, checked field by field: it may come from a remote
 * (a clone's project record), and its id and branch end up in ref names and file paths.
 */
export function parseProjectConfig(text: string, source: string): ProjectConfig {
  const corrupt = (why: string): never => {
    throw new MlError('PROJECT_CORRUPT', `${source} is not an ml project file this ml understands (${why}); upgrade ml, or fix or restore that file.`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return corrupt(`not JSON: ${(error as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return corrupt('not a JSON object')
  const config = value as Record<string, unknown>
  if (config.schema !== 1) return corrupt('schema is not 1')
  if (typeof config.id !== 'string' || !GUID.test(config.id)) return corrupt('its id is not a GUID')
  if (typeof config.name !== 'string' || !NAME_PATTERN.test(config.name)) return corrupt('its name is not a valid project name')
  if (config.historyBranch !== `AzureMLHistory/${config.id}`) return corrupt('its historyBranch is not AzureMLHistory/<id>')
  if (config.remote !== undefined && typeof config.remote !== 'string') return corrupt('its remote is not a string')
  for (const key of ['store', 'storeEndpoint'] as const) {
    const value = config[key]
    if (value !== undefined && (typeof value !== 'string' || value.length > 2048 || /[\0-\x1f\x7f]/.test(value))) return corrupt(`its ${key} is not a URL`)
  }
  if (config.limits !== undefined) {
    const limits = config.limits as Record<string, unknown> | null
    if (typeof limits !== 'object' || limits === null || Object.values(limits).some((n) => typeof n !== 'number' || !(n >= 0))) return corrupt('its limits are not numbers')
  }
  return {...config, createdAt: typeof config.createdAt === 'string' ? config.createdAt : ''} as ProjectConfig
}

/** Writes .ml/project.json (atomically: a reader never sees half a file). */
export async function writeProjectConfig(project: Project): Promise<void> {
  const file = configPath(project.dir)
  await writeAtomically(file, `${JSON.stringify(project.config, null, 2)}\n`)
}

/** Records the project's identity in the history repo, so a clone gets the same id and name. */
export async function saveProjectRef(repo: ShadowRepo, config: ProjectConfig): Promise<void> {
  const {remote: _remote, ...shared} = config
  const tree = await repo.writeTree([{path: 'project.json', data: `${JSON.stringify(shared, null, 2)}\n`}])
  const previous = await repo.resolveRef(PROJECT_REF)
  if (previous && (await repo.treeOf(previous)) === tree) return
  await repo.updateRef(PROJECT_REF, await repo.commit(tree, previous ? [previous] : [], `Project ${config.name}`), previous, 'ml project')
}
