import {randomUUID} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {ShadowRepo} from '../git/shadow-repo.js'
import {findUserRepo, hasGitIdentity, initUserRepo} from '../git/user-repo.js'
import {MlError} from './errors.js'
import {BUILTIN_EXCLUDES, snapshotRules} from './ignore-rules.js'
import {checkLimits, type SnapshotLimits} from './limits.js'
import type {OnProgress} from './progress.js'
import {stageProject} from './snapshot.js'
import {writeAtomically} from './write-atomically.js'

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
}

/** An opened project: its folder and configuration. */
export interface Project {
  dir: string
  config: ProjectConfig
}

export const ML_DIR = '.ml'
/** A ref whose tree holds project.json (without the remote), pushed so that a clone can rebuild .ml/. */
export const PROJECT_REF = 'refs/ml/project'
/**
 * templates/<name>/ holds a template's own files; templates/common/ what every project gets.
 * Found upward from this module, which runs both from dist/src/core and from the bundle.
 */
export function templatesDir(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'templates', 'common'))) return path.join(dir, 'templates')
  }
  throw new MlError('INSTALL_BROKEN', 'The templates folder of ml is missing; reinstall ml.')
}
export const TEMPLATES = ['blank', 'iris'] as const

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function configPath(dir: string): string {
  return path.join(dir, ML_DIR, 'project.json')
}

export function historyDir(project: Project): string {
  return path.join(project.dir, ML_DIR, 'history.git')
}

/** Finds the project holding `startDir` (itself or a parent). */
export async function findProject(startDir: string): Promise<Project> {
  const found = await findProjectDir(path.resolve(startDir))
  if (!found) {
    throw new MlError('NOT_A_PROJECT', `No ml project found in ${path.resolve(startDir)} or any parent folder; run \`ml project init\` first or cd into a project.`)
  }
  return openProject(found)
}

async function findProjectDir(dir: string): Promise<string | null> {
  for (let current = dir; ; current = path.dirname(current)) {
    if (await exists(configPath(current))) return current
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

/** Opens the project's history repo with the project's ignore rules in force. */
export async function openHistory(project: Project): Promise<ShadowRepo> {
  const repo = await ShadowRepo.open(historyDir(project), project.dir)
  repo.addIgnoreRules(await snapshotRules(project.dir))
  return repo
}

/** Opens the history when first called, and gives the same repo after that. */
export type OpenHistory = () => Promise<ShadowRepo>

/** An OpenHistory for `project`: what needs no git (a snapshot of an unchanged folder) never loads it. */
export function historyOpener(project: Project): OpenHistory {
  let opened: Promise<ShadowRepo> | undefined
  return () => (opened ??= openHistory(project))
}

export interface InitOptions {
  dir: string
  name?: string
  template?: string
  /** The project id; a new GUID when not given. */
  id?: string
  /** Told when the first snapshot is large. */
  onNotice?: (message: string) => void
  /** Told how far the first snapshot has come. */
  onProgress?: OnProgress
}

export interface InitResult {
  project: Project
  /** True when init created the user's git repo (and its first commit). */
  createdUserRepo: boolean
  snapshotId: string
}

/**
 * Creates a project in `dir`: the template's files (with .gitignore and .amlignore), the user's git repo
 * if `dir` is in none, and the shadow history repo with a first snapshot. project.json is
 * written last, so a failed init never leaves something that looks like a project.
 */
export async function initProject(options: InitOptions): Promise<InitResult> {
  const dir = path.resolve(options.dir)
  const template = options.template ?? 'blank'
  if (!(TEMPLATES as readonly string[]).includes(template)) {
    throw new MlError('UNKNOWN_TEMPLATE', `There is no template named "${template}"; use one of: ${TEMPLATES.join(', ')}.`)
  }
  const name = options.name ?? sanitizeName(path.basename(dir))
  if (!NAME_PATTERN.test(name)) {
    throw new MlError('INVALID_ARGUMENT', `The project name "${name}" is not valid; use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.`)
  }
  const existing = await findProjectDir(dir)
  if (existing) {
    const where = existing === dir ? `${dir} is already an ml project` : `${dir} is inside the ml project ${existing}`
    throw new MlError('PROJECT_EXISTS', `${where}; use it as it is, or choose another folder.`)
  }
  if (await exists(dir) && !(await fs.stat(dir)).isDirectory()) {
    throw new MlError('INVALID_ARGUMENT', `${dir} exists and is not a folder; choose another path.`)
  }
  if (await exists(path.join(dir, ML_DIR))) {
    throw new MlError('PROJECT_EXISTS', `${dir} has a ${ML_DIR} folder but no project file in it; ml never reuses one it did not make: remove ${path.join(dir, ML_DIR)} (or move it away) and run init again.`)
  }

  // What init wrote, to take back if it fails: a failed init leaves the folder as it was.
  const undo: Undo = []
  if (!(await exists(dir))) undo.push(() => fs.rm(dir, {recursive: true, force: true}))
  await fs.mkdir(dir, {recursive: true})

  const config: ProjectConfig = {
    schema: 1,
    id: options.id ?? randomUUID(),
    name,
    historyBranch: '',
    createdAt: new Date().toISOString(),
  }
  config.historyBranch = `AzureMLHistory/${config.id}`
  const project: Project = {dir, config}
  const mlDir = path.join(dir, ML_DIR)
  undo.push(() => fs.rm(mlDir, {recursive: true, force: true}))
  try {
    const written = [
      ...await copyTemplate(path.join(templatesDir(), 'common'), dir, undo),
      ...await copyTemplate(path.join(templatesDir(), template), dir, undo),
    ]
    const repo = await ShadowRepo.create(historyDir(project), dir, config.historyBranch, BUILTIN_EXCLUDES)
    repo.addIgnoreRules(await snapshotRules(dir))
    const staged = await stageProject(project, async () => repo, {onProgress: options.onProgress})
    checkLimits(project, await staged.files(), options.onNotice)
    const createdUserRepo = (await findUserRepo(dir)) === null
    if (createdUserRepo) {
      undo.push(() => fs.rm(path.join(dir, '.git'), {recursive: true, force: true}))
      await initUserRepo(dir, written.sort(), `Create ml project ${name}`)
      if (!(await hasGitIdentity(dir))) {
        options.onNotice?.('No git identity is set, so the first commit of the new repo was made as "ml <ml@localhost>"; set yours with `git config --global user.name "Your Name"` and `git config --global user.email you@example.com`.')
      }
    }
    const snapshotId = await repo.commit(staged.tree, [], `Initial snapshot of project ${name}`)
    await repo.updateRef(`refs/heads/${config.historyBranch}`, snapshotId, null, 'ml project init')
    await staged.remember(snapshotId)
    await saveProjectRef(repo, config)
    await writeProjectConfig(project)
    return {project, createdUserRepo, snapshotId}
  } catch (error) {
    for (const step of undo.reverse()) await step()
    throw error
  }
}

type Undo = Array<() => Promise<unknown>>

/**
 * Copies a template's files into `dir`, never over a file the user already has. The template's
 * `gitignore` (named so that npm keeps it) becomes `.gitignore`; an existing .gitignore gets
 * the template's rules it lacks appended instead.
 */
async function copyTemplate(from: string, dir: string, undo: Undo): Promise<string[]> {
  const written: string[] = []
  const entries = await fs.readdir(from, {recursive: true, withFileTypes: true})
  for (const entry of entries) {
    if (!entry.isFile()) continue
    const source = path.join(entry.parentPath, entry.name)
    let rel = path.relative(from, source).split(path.sep).join('/')
    if (rel === 'gitignore') rel = '.gitignore'
    const target = path.join(dir, rel)
    if (await exists(target)) {
      const original = await fs.readFile(target)
      if (rel === '.gitignore' && await mergeLines(source, target)) {
        undo.push(() => fs.writeFile(target, original))
        written.push(rel)
      }
      continue
    }
    await fs.mkdir(path.dirname(target), {recursive: true})
    await fs.copyFile(source, target)
    undo.push(() => fs.rm(target, {force: true}))
    written.push(rel)
  }
  return written
}

/** Appends the rules of `source` that `target` lacks, under the source's first comment. */
async function mergeLines(source: string, target: string): Promise<boolean> {
  const wanted = (await fs.readFile(source, 'utf8')).split('\n')
  const current = await fs.readFile(target, 'utf8')
  const have = new Set(current.split(/\r?\n/).map((l) => l.trim()))
  const missing = wanted.filter((l) => l.trim() && !l.startsWith('#') && !have.has(l.trim()))
  if (missing.length === 0) return false
  const header = wanted.find((l) => l.startsWith('#'))
  const prefix = current === '' || current.endsWith('\n') ? current : `${current}\n`
  await fs.writeFile(target, `${prefix}${header ? `${header}\n` : ''}${missing.join('\n')}\n`)
  return true
}

function sanitizeName(base: string): string {
  const cleaned = base.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64)
  return cleaned || 'project'
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p)
    return true
  } catch {
    return false
  }
}
