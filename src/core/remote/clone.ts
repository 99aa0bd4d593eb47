import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {ShadowRepo} from '../../git/shadow-repo.js'
import {Transport} from '../../git/transport.js'
import {copyObjectStore} from '../../git/object-store-copy.js'
import {uncheckedClone} from '../../git/user-repo.js'
import {MlError} from '../../shared/errors.js'
import {BUILTIN_EXCLUDES} from '../snapshot/ignore-rules.js'
import {openProject, parseProjectConfig, type Project, type ProjectConfig, writeProjectConfig} from '../project/project.js'
import {type AuthOptions, pullHistory} from './remote.js'
import {redactUrl, storableUrl} from '../../shared/remote-url.js'
import {assertSafeRestore, checkOutNewTree} from '../snapshot/safe-paths.js'
import {ML_DIR, mlPath, PROJECT_REF, RUNS_PREFIX, trackingRef} from '../project/layout.js'
import {historyOpener} from '../snapshot/open-history.js'
import {isEmptyDir} from '../../shared/is-empty-dir.js'
import {historyRef, stageProject} from '../snapshot/snapshot.js'
import {withProjectLock} from '../project/lock.js'
import {isAlive} from '../../shared/is-alive.js'
import {crashPoint} from '../../shared/crash-point.js'

export interface CloneResult {
  project: Project
  runs: number
  /** True when the remote had no branch of the user's and the folder was filled from the latest snapshot. */
  fromSnapshot: boolean
}

/**
 * `ml project clone URL [DIR]`: clones the user's repo (its default branch), then rebuilds
 * .ml/ from the remote's history: the same project id and branch, every pushed run. Without
 * DIR, the folder is named after the project, known only once its record is fetched.
 */
export async function cloneProject(options: {url: string; dir?: string; cwd: string; auth: AuthOptions}): Promise<CloneResult> {
  const {url, auth} = options
  const target = options.dir === undefined ? undefined : path.resolve(options.cwd, options.dir)
  if (target && !(await isEmptyDir(target))) {
    throw new MlError('DESTINATION_EXISTS', `${target} already exists and is not empty; name another folder.`)
  }
  const transport = new Transport(auth)
  const refs = await transport.listRefs(url)
  const branches = [...refs.keys()].filter((r) => r.startsWith('refs/heads/AzureMLHistory/'))
  if (branches.length === 0 || !refs.has(PROJECT_REF)) {
    throw new MlError('NOT_AN_ML_REMOTE', `${redactUrl(url)} holds no ml project history; check the URL, or create the project with \`ml project init -r URL\`.`)
  }

  // The clone is made in a hidden folder beside its target and renamed into it when complete,
  // so that a clone that fails, or is killed, never leaves a half-made project where one is
  // expected (a killed one's folder is removed by the next clone made there).
  const parent = path.dirname(target ?? path.resolve(options.cwd, 'x'))
  await fs.mkdir(parent, {recursive: true})
  await removeAbandonedClones(parent)
  const dir = path.join(parent, `${CLONE_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    // The user's branch is checked, name by name, before a file of it is written: it must not
    // plant a .ml folder (a config that runs commands or sends tokens elsewhere) or write outside.
    const cloned = await transport.clone(url, dir)
    const user = await uncheckedClone(cloned.repo)
    if (user.tree) await checkOutNewTree(user.trees, dir, user.tree, `The branch of ${redactUrl(url)} cannot be cloned`, () => user.checkout())
    crashPoint('clone-checked-out')
    const shadow = await ShadowRepo.create(mlPath(dir, 'history'), dir, 'AzureMLHistory/pending', BUILTIN_EXCLUDES)
    // A copy of a local remote's objects holds the history's too: the fetches below find them.
    if (cloned.copied) await copyObjectStore(path.join(dir, '.git'), mlPath(dir, 'history'))
    await shadow.fetch(transport, url, [`+${PROJECT_REF}:${trackingRef(PROJECT_REF)}`])
    const record = await shadow.readFile((await shadow.resolveRef(trackingRef(PROJECT_REF)))!, 'project.json')
    const source = `The project record (${PROJECT_REF}) of ${redactUrl(url)}`
    if (!record) throw new MlError('NOT_AN_ML_REMOTE', `${source} has no project.json; check the URL.`)
    const {remote: _theirs, ...shared} = parseProjectConfig(record.toString('utf8'), source)
    const config: ProjectConfig = {...shared, remote: storableUrl(url)}
    const project: Project = {dir, config}
    await shadow.setHead(historyRef(project))
    await shadow.setOrigin(config.remote!)
    await shadow.setRef(PROJECT_REF, (await shadow.resolveRef(trackingRef(PROJECT_REF)))!, 'ml clone')
    await writeProjectConfig(project)
    await pullHistory(project, shadow, auth)
    crashPoint('clone-history-fetched')

    const fromSnapshot = await isEmptyDir(dir, [ML_DIR, '.git'])
    const open = historyOpener(project)
    const repo = await open()
    const tip = await repo.resolveRef(historyRef(project))
    // Staged as any first snapshot is (on every core) and kept in the folder stamp, so that the
    // first snapshot or submit in the clone need not hash the folder again.
    const staged = await withProjectLock(project, () => stageProject(project, open))
    if (fromSnapshot && tip) {
      const snapshot = await repo.treeOf(tip)
      await assertSafeRestore(repo, dir, staged.tree, snapshot, await repo.diffTrees(staged.tree, snapshot))
      await repo.checkoutTree(snapshot, staged.tree)
    } else {
      await staged.remember(tip && (await repo.treeOf(tip)) === staged.tree ? tip : '')
    }
    const runs = (await repo.listRefs(RUNS_PREFIX)).length
    const final = await moveInto(dir, target ?? path.join(options.cwd, config.name))
    return {project: await openProject(final), runs, fromSnapshot}
  } catch (error) {
    await fs.rm(dir, {recursive: true, force: true})
    throw error
  }
}

const CLONE_PREFIX = '.ml-clone-'

/** Removes the hidden folders of clones whose process is gone (killed before it could clean up). */
async function removeAbandonedClones(parent: string): Promise<void> {
  for (const name of await fs.readdir(parent)) {
    const pid = /^\.ml-clone-(\d+)-[0-9a-f]{8}$/.exec(name)?.[1]
    if (pid && !isAlive(Number(pid))) await fs.rm(path.join(parent, name), {recursive: true, force: true})
  }
}

/** Renames the finished clone to `target`, which must be missing or an empty folder. */
async function moveInto(dir: string, target: string): Promise<string> {
  if (!(await isEmptyDir(target))) {
    throw new MlError('DESTINATION_EXISTS', `${target} already exists and is not empty; name another folder: \`ml project clone URL DIR\`.`)
  }
  await fs.rmdir(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error
  })
  await fs.rename(dir, target)
  return target
}
