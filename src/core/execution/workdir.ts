import {promises as fs} from 'node:fs'
import path from 'node:path'
import {NestedRepo} from '../../git/nested-repo.js'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import type {TreeReader} from '../../git/tree-reader.js'
import {ML_DIR, mlPath, OUTPUTS_DIR} from '../project/layout.js'
import type {Project} from '../project/project.js'
import {cachedRunList} from '../runs/run-cache.js'
import {checkOutNewTree} from '../snapshot/safe-paths.js'

/** What an isolated run never sees of the project folder: ml's own folder, git's, and the outputs of other runs. */
const NOT_LINKED = new Set([`${ML_DIR}/`, '.git/', '.git', `${OUTPUTS_DIR}/`])

export interface WorkdirOptions {
  /**
   * Told, in one line each, of a nested repository whose recorded commit is not on this machine:
   * the checkout then links the folder's copy, which the run shares with the project.
   */
  onWarning?: (message: string) => void
}

/**
 * A private checkout of the snapshot `tree` for the run `runId`, in .ml/work/<run-id>/: edits
 * the user makes while the run goes on cannot change what it reads, and runs never write over
 * each other. What the snapshot leaves out by ignore rules (data sets, secrets) is linked to the
 * originals, never copied: the run reads the same data as an in-place run would. A nested git
 * repository (a submodule), which the snapshot holds as its commit only, is checked out at that
 * commit from its own repository (checkOutNestedRepos); only when this machine lacks the commit is
 * it linked to the folder's copy, and `onWarning` told.
 */
export async function createWorkdir(project: Project, repo: ShadowRepo, tree: string, runId: string, options: WorkdirOptions = {}): Promise<string> {
  const dir = mlPath(project.dir, 'work', runId)
  const what = `The snapshot of run ${runId} cannot be checked out`
  const gitlinks = await checkOutNewTree(repo.treeReader(), dir, tree, what, async () => {
    await fs.mkdir(dir, {recursive: true})
    await repo.checkoutInto(tree, dir).catch(async (error: unknown) => {
      await removeWorkdir(dir)
      throw error
    })
  })
  try {
    await linkInto(dir, project.dir, (await repo.ignoredPaths()).filter((p) => !NOT_LINKED.has(p)))
    const shared = await checkOutNestedRepos({from: project.dir, into: dir, trees: repo.treeReader(), tree, gitlinks, runId})
    for (const link of shared) {
      options.onWarning?.(`${link.path} is a nested git repository whose recorded commit ${link.commit.slice(0, 12)} ${link.reason}: run ${runId} reads its current files, through a link to ${path.join(project.dir, link.path)}.`)
    }
  } catch (error) {
    await removeWorkdir(dir)
    throw error
  }
  return dir
}

/** A nested repository an isolated checkout could not give its recorded commit, and so links to the folder's. */
export interface SharedNestedRepo {
  /** Its path in the project. */
  path: string
  commit: string
  /** Why: "is not on this machine (no repository there)"... */
  reason: string
}

/**
 * Writes each gitlink of `tree` (at `gitlinks`, as checkOutNewTree gave them) into `into` at the
 * commit it records, from the nested repository at the same path of `from`, and so on for the
 * gitlinks of that commit. The files its ignore rules leave out are linked, as at the top. A
 * gitlink whose commit cannot be had is linked to `from`'s copy, and given back.
 */
async function checkOutNestedRepos(at: {from: string; into: string; trees: TreeReader; tree: string; gitlinks: string[]; runId: string; prefix?: string}): Promise<SharedNestedRepo[]> {
  const shared: SharedNestedRepo[] = []
  for (const rel of at.gitlinks) {
    const commit = (await at.trees.entry(at.tree, rel))!.oid
    const source = path.join(at.from, rel)
    const target = path.join(at.into, rel)
    const shown = `${at.prefix ?? ''}${rel}`
    const nested = await NestedRepo.find(source)
    const tree = nested && await nested.treeOfCommit(commit)
    if (!nested || !tree) {
      await linkInto(at.into, at.from, [rel])
      shared.push({path: shown, commit, reason: nested ? `is not in its repository (${nested.gitdir})` : 'is not on this machine (there is no repository there)'})
      continue
    }
    await fs.rm(target, {recursive: true, force: true}) // the empty folder a checkout makes for a gitlink
    const what = `The commit ${commit.slice(0, 12)} of the nested repository ${shown} cannot be checked out for run ${at.runId}`
    const gitlinks = await checkOutNewTree(nested.treeReader(), target, tree, what, async () => {
      await fs.mkdir(target, {recursive: true})
      await nested.checkoutInto(tree, target)
    })
    // Its ignored files (data), as the folder has them; never over a file its commit has.
    const ignored: string[] = []
    for (const p of await nested.ignoredPaths()) if (!(await lstatOrNull(path.join(target, p)))) ignored.push(p)
    await linkInto(target, source, ignored)
    shared.push(...await checkOutNestedRepos({from: source, into: target, trees: nested.treeReader(), tree, gitlinks, runId: at.runId, prefix: `${shown}/`}))
  }
  return shared
}

/** Links each of `paths` (a folder as `name/`) in `dir` to the same path in `from`, over what the checkout wrote there. */
async function linkInto(dir: string, from: string, paths: string[]): Promise<void> {
  for (const name of paths.map((p) => p.replace(/\/$/, ''))) {
    const link = path.join(dir, name)
    await fs.mkdir(path.dirname(link), {recursive: true})
    await fs.rm(link, {recursive: true, force: true}) // the empty folder a checkout makes for a gitlink
    await fs.symlink(path.join(from, name), link)
  }
}

async function lstatOrNull(file: string) {
  return fs.lstat(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null
    throw error
  })
}

/** Marks a checkout kept with --keep-workdir, so that removeAbandonedWorkdirs leaves it alone. */
export async function keepWorkdir(dir: string): Promise<void> {
  await fs.writeFile(`${dir}${KEPT}`, '')
}

const KEPT = '.kept'

/**
 * Removes the checkouts of runs that have ended but whose ml process was killed before it could
 * remove them (a worker killed mid-run, say). Only a run whose record says it ended is touched:
 * a checkout being made for a run that is not recorded yet, or still Queued, is not.
 */
export async function removeAbandonedWorkdirs(project: Project): Promise<void> {
  const work = mlPath(project.dir, 'work')
  const names = await fs.readdir(work).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw error
  })
  if (names.length === 0) return
  const ended = new Set((await cachedRunList(project)).filter((run) => ENDED.has(run.status)).map((run) => run.runId))
  for (const name of names) {
    if (name.endsWith(KEPT)) {
      if (!names.includes(name.slice(0, -KEPT.length))) await fs.rm(path.join(work, name), {force: true})
    } else if (ended.has(name) && !names.includes(`${name}${KEPT}`)) {
      await removeWorkdir(path.join(work, name))
    }
  }
}

const ENDED = new Set(['Completed', 'Failed', 'Canceled', 'Corrupt'])

/** Removes a run's private checkout (and .ml/work/ once empty). */
export async function removeWorkdir(dir: string): Promise<void> {
  await fs.rm(dir, {recursive: true, force: true})
  await fs.rmdir(path.dirname(dir)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOTEMPTY' && error.code !== 'ENOENT') throw error
  })
}
