import type NodeGitModule from 'nodegit'
import type {RepoHandle} from './nodegit.js'
import {EMPTY_TREE, MODE, treeDiff} from './trees.js'

/**
 * Makes the folder match `tree`: writes its files with their modes and removes the files of
 * `baseline` (the tree of what the folder holds now) that `tree` does not have. Ignored
 * files that neither tree holds, and nested git repositories, are left alone. True when the
 * index then holds exactly `tree` (false when gitlinks had to be left out of it). `onProgress`
 * is told how many files were written or removed of how many, at most every 100 ms, or after
 * every file with `everyFile` (the crash tests).
 */
export async function checkoutTree(h: RepoHandle, tree: string, baseline: string, onProgress?: (done: number, total: number) => void, everyFile = false): Promise<boolean> {
  const {Git, repo} = h
  // Nested git repositories (gitlinks) are the user's: leave them out of both sides, so that
  // libgit2 neither removes nor creates them.
  const diff = await treeDiff(h, baseline, tree)
  const gitlinks: string[] = []
  const paths = new Set<string>()
  for (let i = 0; i < diff.numDeltas(); i++) {
    const delta = diff.getDelta(i)
    for (const file of [delta.oldFile(), delta.newFile()]) {
      if (file.mode() === MODE.GITLINK) gitlinks.push(file.path())
      else paths.add(file.path())
    }
  }
  // libgit2 also removes what the index tracks and the target lacks, so out of the index too
  // (a gitlink both trees hold alike is left alone by the checkout anyway).
  if (gitlinks.length > 0) {
    const index = await repo.refreshIndex()
    for (const file of gitlinks) if (index.getByPath(file)) await index.removeByPath(file)
    await index.write()
  }
  // An empty list of paths would be read as all of them.
  if (paths.size === 0) return gitlinks.length === 0
  const [base, target] = await Promise.all([withoutPaths(h, baseline, gitlinks), withoutPaths(h, tree, gitlinks)])
  const callback = onProgress && ((_file: string | null, done: number, total: number) => onProgress(done, total))
  const progressCb = callback && (everyFile ? {callback, throttle: 0} : callback)
  // A few paths are named: libgit2 then reads only their folders, not the whole folder (150 ms
  // of a restore of 100 of 20,000 files). Not many: it matches each file against the list one
  // by one (20,000 named files took 4.5 s more than none).
  const {FORCE, DISABLE_PATHSPEC_MATCH} = (Git.Checkout as unknown as {STRATEGY: Record<string, number>}).STRATEGY
  const named = paths.size <= NAMED_PATHS ? {checkoutStrategy: FORCE | DISABLE_PATHSPEC_MATCH, paths: [...paths]} : {checkoutStrategy: FORCE}
  const options = {...named, baseline: await repo.getTree(base), progressCb}
  await Git.Checkout.tree(repo, await repo.getTree(target), options as unknown as NodeGitModule.CheckoutOptions)
  return gitlinks.length === 0
}

/** The most paths a checkout names (see checkoutTree). */
const NAMED_PATHS = 1000

/** `tree` with these paths taken out (only the folders on their way are rewritten). */
async function withoutPaths(h: RepoHandle, tree: string, paths: string[]): Promise<string> {
  if (paths.length === 0) return tree
  const {Git, repo} = h
  const builder = await Git.Treebuilder.create(repo, await repo.getTree(tree))
  const here = new Set<string>()
  const below = new Map<string, string[]>()
  for (const p of paths) {
    const slash = p.indexOf('/')
    if (slash < 0) here.add(p)
    else below.set(p.slice(0, slash), [...(below.get(p.slice(0, slash)) ?? []), p.slice(slash + 1)])
  }
  for (const name of here) if (builder.get(name)) builder.remove(name)
  for (const [dir, rest] of below) {
    const entry = builder.get(dir)
    if (!entry || entry.filemode() !== MODE.TREE) continue
    const sub = await withoutPaths(h, entry.id().tostrS(), rest)
    if (sub === EMPTY_TREE) builder.remove(dir)
    else builder.insert(dir, Git.Oid.fromString(sub), MODE.TREE)
  }
  return (await builder.write()).tostrS()
}

/**
 * Writes the files of `tree` into `dir` (a new folder, not the project), leaving the index,
 * which is the project folder's stat cache, alone: a private checkout for an isolated run.
 */
export async function checkoutInto(h: RepoHandle, tree: string, dir: string): Promise<void> {
  const {Git, repo} = h
  // Read at run time: @types/nodegit's const enums may not be libgit2 1.9's values.
  const {FORCE, DONT_UPDATE_INDEX} = (Git.Checkout as unknown as {STRATEGY: Record<string, number>}).STRATEGY
  const options = {checkoutStrategy: FORCE | DONT_UPDATE_INDEX, targetDirectory: dir, baseline: await repo.getTree(EMPTY_TREE)}
  await Git.Checkout.tree(repo, await repo.getTree(tree), options as NodeGitModule.CheckoutOptions)
}
