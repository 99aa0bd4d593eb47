import {randomUUID} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {ShadowRepo} from '../../git/shadow-repo.js'
import {findUserRepo, hasGitIdentity, initUserRepo} from '../../git/user-repo.js'
import {MlError} from '../../shared/errors.js'
import type {OnProgress} from '../../shared/progress.js'
import {BUILTIN_EXCLUDES, snapshotRules} from '../snapshot/ignore-rules.js'
import {checkLimits} from '../snapshot/limits.js'
import {findProjectDir, historyDir, NAME_PATTERN, type Project, type ProjectConfig, saveProjectRef, writeProjectConfig} from '../project/project.js'
import {stageProject} from '../snapshot/snapshot.js'
import {type AuthOptions, Transport} from '../../git/transport.js'
import {openHistory} from '../snapshot/open-history.js'
import {checkRemoteEmpty, connectRemote, type RemoteSetResult} from '../remote/remote.js'
import {ML_DIR} from '../project/layout.js'
import {pathExists} from '../../shared/path-exists.js'

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
  if (await pathExists(dir) && !(await fs.stat(dir)).isDirectory()) {
    throw new MlError('INVALID_ARGUMENT', `${dir} exists and is not a folder; choose another path.`)
  }
  if (await pathExists(path.join(dir, ML_DIR))) {
    throw new MlError('PROJECT_EXISTS', `${dir} has a ${ML_DIR} folder but no project file in it; ml never reuses one it did not make: remove ${path.join(dir, ML_DIR)} (or move it away) and run init again.`)
  }

  // What init wrote, to take back if it fails: a failed init leaves the folder as it was.
  const undo: Undo = []
  if (!(await pathExists(dir))) undo.push(() => fs.rm(dir, {recursive: true, force: true}))
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
    checkLimits(project.config.limits, await staged.files(), options.onNotice)
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
    if (await pathExists(target)) {
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

/** `ml project init -r URL`: the remote is checked before anything is created. */
export async function initProjectWithRemote(options: InitOptions & {remote: string; auth: AuthOptions}): Promise<InitResult & RemoteSetResult> {
  const id = randomUUID()
  await checkRemoteEmpty(new Transport(options.auth), options.remote, id)
  const result = await initProject({...options, id})
  return {...result, ...await connectRemote(result.project, await openHistory(result.project), options.remote, options.auth)}
}

