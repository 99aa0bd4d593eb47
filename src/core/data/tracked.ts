import {lstatSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {MlError} from '../../shared/errors.js'
import {literalIgnoreRule} from '../../shared/literal-ignore-rule.js'
import {writeAtomically} from '../../shared/write-atomically.js'
import {withProjectLock} from '../project/lock.js'
import {findProject, type Project} from '../project/project.js'
import {formatTrackedPaths, overlapping, readTrackedPaths, TRACKED_DATA_FILE, trackedPathProblem} from '../project/tracked-data.js'

export interface TrackResult {
  /** Every tracked path now. */
  tracked: string[]
  /** The paths this call changed (added, or removed by untrack). */
  changed: string[]
  /** The paths that were already so. */
  unchanged: string[]
}

/** `given` (typed in `cwd`) as a path relative to the project folder, checked to be trackable. */
function projectPath(project: Project, cwd: string, given: string): string {
  const rel = path.relative(project.dir, path.resolve(cwd, given)).split(path.sep).join('/')
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new MlError('INVALID_ARGUMENT', `${given} is outside the project folder ${project.dir}; tracked data must be inside it.`)
  const problem = trackedPathProblem(rel)
  if (problem) throw new MlError('INVALID_ARGUMENT', `${given} cannot be tracked: it ${problem}.`)
  return rel
}

/**
 * Declares data runs read: each path (a file or a folder inside the project) goes into .mldata,
 * which leaves it out of every snapshot (each run records its version instead), and into the
 * root .gitignore, so that the user's own repo does not take the data either (as `dvc add` does).
 */
export async function trackData(cwd: string, given: string[]): Promise<TrackResult> {
  return changeTracked(cwd, given, ignoreInUserRepo, (project, g, {tracked, changed, unchanged}) => {
    const rel = projectPath(project, cwd, g)
    if (tracked.includes(rel)) {
      unchanged.push(rel)
      return
    }
    const other = overlapping(tracked, rel)
    if (other) throw new MlError('INVALID_ARGUMENT', `${rel} overlaps ${other}, which is tracked already; track a folder once, or untrack ${other} first.`)
    const st = lstatSync(path.join(project.dir, rel), {throwIfNoEntry: false})
    if (!st) throw new MlError('INVALID_ARGUMENT', `${rel} does not exist in ${project.dir}; create it first, or check the path.`)
    if (!st.isFile() && !st.isDirectory()) throw new MlError('INVALID_ARGUMENT', `${rel} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a file or folder'}; track the file or folder itself.`)
    tracked.push(rel)
    changed.push(rel)
  })
}

/** Stops tracking paths: they leave .mldata (and ml's line in .gitignore); their files stay where they are. */
export async function untrackData(cwd: string, given: string[]): Promise<TrackResult> {
  return changeTracked(cwd, given, unignoreInUserRepo, (project, g, {tracked, changed}) => {
    const rel = path.relative(project.dir, path.resolve(cwd, g)).split(path.sep).join('/')
    if (!tracked.includes(rel)) {
      throw new MlError('INVALID_ARGUMENT', `${g} is not tracked${tracked.length ? `; the tracked paths are: ${tracked.join(', ')}` : ': nothing is'}.`)
    }
    tracked.splice(tracked.indexOf(rel), 1)
    changed.push(rel)
  })
}

/** Applies `each` to every given path under the project lock, then writes .mldata and .gitignore when anything changed. */
async function changeTracked(cwd: string, given: string[], thenGitignore: (dir: string, changed: string[]) => Promise<void>, each: (project: Project, given: string, result: TrackResult) => void): Promise<TrackResult> {
  const project = await findProject(cwd)
  return withProjectLock(project, async () => {
    const result: TrackResult = {tracked: readTrackedPaths(project.dir), changed: [], unchanged: []}
    for (const g of given) each(project, g, result)
    if (result.changed.length > 0) {
      await writeAtomically(path.join(project.dir, TRACKED_DATA_FILE), formatTrackedPaths(result.tracked))
      await thenGitignore(project.dir, result.changed)
    }
    return result
  })
}

const GITIGNORE = '.gitignore'
const ignoreLine = literalIgnoreRule

async function readGitignore(dir: string): Promise<string> {
  return fs.readFile(path.join(dir, GITIGNORE), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return ''
    throw error
  })
}

/** Appends `/PATH` for each path to the root .gitignore, unless that very line is there. */
async function ignoreInUserRepo(dir: string, paths: string[]): Promise<void> {
  const text = await readGitignore(dir)
  const lines = new Set(text.split(/\r?\n/))
  const add = paths.map(ignoreLine).filter((line) => !lines.has(line))
  if (add.length === 0) return
  const head = text === '' || text.endsWith('\n') ? text : `${text}\n`
  await writeAtomically(path.join(dir, GITIGNORE), `${head}${add.map((l) => `${l}\n`).join('')}`)
}

/** Removes the `/PATH` lines track added. */
async function unignoreInUserRepo(dir: string, paths: string[]): Promise<void> {
  const text = await readGitignore(dir)
  const drop = new Set(paths.map(ignoreLine))
  const kept = text.split('\n').filter((line) => !drop.has(line.replace(/\r$/, '')))
  if (kept.length !== text.split('\n').length) await writeAtomically(path.join(dir, GITIGNORE), kept.join('\n'))
}
