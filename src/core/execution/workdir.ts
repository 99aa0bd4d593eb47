import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {ML_DIR, mlPath, OUTPUTS_DIR} from '../project/layout.js'
import type {Project} from '../project/project.js'
import {cachedRunList} from '../runs/run-cache.js'
import {checkOutNewTree} from '../snapshot/safe-paths.js'

/** What an isolated run never sees of the project folder: ml's own folder, git's, and the outputs of other runs. */
const NOT_LINKED = new Set([`${ML_DIR}/`, '.git/', '.git', `${OUTPUTS_DIR}/`])

/**
 * A private checkout of the snapshot `tree` for the run `runId`, in .ml/work/<run-id>/: edits
 * the user makes while the run goes on cannot change what it reads, and runs never write over
 * each other. What the snapshot leaves out by ignore rules (data sets, secrets), and nested git
 * repositories, are linked to the originals, never copied: the run reads the same data as an
 * in-place run would.
 */
export async function createWorkdir(project: Project, repo: ShadowRepo, tree: string, runId: string): Promise<string> {
  const dir = mlPath(project.dir, 'work', runId)
  const gitlinks = await checkOutNewTree(repo.treeReader(), dir, tree, `The snapshot of run ${runId} cannot be checked out`, async () => {
    await fs.mkdir(dir, {recursive: true})
    await repo.checkoutInto(tree, dir).catch(async (error: unknown) => {
      await removeWorkdir(dir)
      throw error
    })
  })
  // Nested git repositories are in a snapshot only as their commit: linked too, like data.
  const linked = [...(await repo.ignoredPaths()).filter((p) => !NOT_LINKED.has(p)).map((p) => p.replace(/\/$/, '')), ...gitlinks]
  for (const name of linked) {
    const link = path.join(dir, name)
    await fs.mkdir(path.dirname(link), {recursive: true})
    await fs.rm(link, {recursive: true, force: true}) // the empty folder a checkout makes for a gitlink
    await fs.symlink(path.join(project.dir, name), link)
  }
  return dir
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
