import ignore, {type Ignore} from 'ignore'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {BUILTIN_EXCLUDES, readAmlignore, SECRET_RULES} from './ignore-rules.js'
import {literalIgnoreRule} from '../../shared/literal-ignore-rule.js'
import {readTrackedPaths, TRACKED_DATA_FILE} from '../project/tracked-data.js'
import {withProjectLock} from '../project/lock.js'
import {findProject} from '../project/project.js'
import {openHistory} from './open-history.js'

/** A path of the folder and whether the next snapshot holds it (with --explain, the rule that decided). */
export interface ProjectFile {
  path: string
  size?: number
  included: boolean
  rule?: string
}

/**
 * `ml project files`: what the next snapshot would contain, each file with its size; with
 * `explain`, also what it leaves out, each with the rule that decided (as `git check-ignore -v`
 * names it: the source, and the line).
 */
export async function projectFiles(cwd: string, options: {explain?: boolean} = {}): Promise<ProjectFile[]> {
  const project = await findProject(cwd)
  const repo = await openHistory(project)
  const staged = await withProjectLock(project, async () => {
    await repo.stageFolder()
    return repo.stagedFiles()
  })
  if (!options.explain) return staged.map((f) => ({...f, included: true}))
  const rules = await ruleSet(project.dir, staged.map((f) => f.path).filter((p) => path.posix.basename(p) === '.gitignore'))
  const files: ProjectFile[] = staged.map((f) => {
    const result = rules.test(f.path)
    return {...f, included: true, rule: result.unignored ? 're-included by a ! rule' : 'no rule matches'}
  })
  for (const ignored of await repo.ignoredPaths()) {
    const mark = rules.checkIgnore(ignored).rule?.mark
    files.push({path: ignored, included: false, rule: mark ?? 'ignored by git (core.excludesFile or a parent folder)'})
  }
  return files.sort((a, b) => a.path.localeCompare(b.path))
}

/** All the snapshot's ignore rules in one matcher, later (stronger) sources last (ml's own folders strongest), each rule marked with where it is. */
async function ruleSet(dir: string, gitignores: string[]): Promise<Ignore> {
  const rules = ignore()
  const add = (source: string, text: string, base = '') => {
    text.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim() || line.startsWith('#')) return
      rules.add({pattern: scoped(line.trimEnd(), base), mark: `${source}:${i + 1}: ${line.trim()}`})
    })
  }
  for (const file of gitignores.sort((a, b) => a.split('/').length - b.split('/').length)) {
    add(file, await fs.readFile(path.join(dir, file), 'utf8').catch(() => ''), path.posix.dirname(file) === '.' ? '' : path.posix.dirname(file))
  }
  SECRET_RULES.forEach((rule) => rules.add({pattern: rule, mark: `likely secret: ${rule}`}))
  add('.amlignore', await readAmlignore(dir))
  readTrackedPaths(dir).forEach((p) => rules.add({pattern: literalIgnoreRule(p), mark: `tracked data (${TRACKED_DATA_FILE}): ${p}`}))
  add('built-in', BUILTIN_EXCLUDES)
  return rules
}

/** A rule of a .gitignore in folder `base`, rewritten relative to the project root. */
function scoped(line: string, base: string): string {
  if (!base) return line
  const negated = line.startsWith('!')
  const body = negated ? line.slice(1) : line
  const anchored = body.replace(/\/$/, '').includes('/')
  return `${negated ? '!' : ''}${base}/${anchored ? body.replace(/^\//, '') : `**/${body}`}`
}
