import path from 'node:path'
import type NodeGitModule from 'nodegit'
import {loadNodegit, signatureFor} from './nodegit.js'
import {TreeReader} from './tree-reader.js'

/** What ml reads from the user's own repository for a run's git properties. */
export interface UserRepoState {
  workdir: string
  originUrl?: string
  branch?: string
  commit?: string
  dirty: boolean
}

/** Opens the repository that holds `dir` (itself or a parent), or null when there is none. */
async function openContaining(dir: string): Promise<NodeGitModule.Repository | null> {
  const Git = await loadNodegit()
  let gitdir: string
  try {
    gitdir = String(await Git.Repository.discover(dir, 0, ''))
  } catch {
    return null
  }
  const repo = await Git.Repository.open(gitdir)
  if (repo.isBare()) return null
  return repo
}

/** The work tree of the repository that holds `dir`, or null when `dir` is in none. */
export async function findUserRepo(dir: string): Promise<string | null> {
  const repo = await openContaining(dir)
  return repo ? path.resolve(repo.workdir()) : null
}

/** `git init` with branch master, then a first commit of `files` (paths relative to `dir`). */
export async function initUserRepo(dir: string, files: string[], message: string): Promise<string> {
  const Git = await loadNodegit()
  const repo = await Git.Repository.initExt(dir, {
    flags: (Git.Repository as unknown as {INIT_FLAG: {MKPATH: number}}).INIT_FLAG.MKPATH,
    initialHead: 'master',
  } as unknown as NodeGitModule.RepositoryInitOptions)
  const index = await repo.refreshIndex()
  for (const file of files) await index.addByPath(file)
  const tree = await index.writeTree()
  await index.write()
  const sig = await signatureFor(repo)
  const oid = await repo.createCommit('HEAD', sig, sig, message, tree, [])
  return oid.tostrS()
}

/**
 * The state of the repository holding `dir`: origin URL, branch (none when detached), HEAD
 * commit (none when unborn), and whether anything under `dir` differs from HEAD, as
 * `git status --porcelain .` run in `dir` would say.
 */
export async function readUserRepo(dir: string): Promise<UserRepoState | null> {
  const Git = await loadNodegit()
  const repo = await openContaining(dir)
  if (!repo) return null
  const workdir = path.resolve(repo.workdir())
  const state: UserRepoState = {workdir, dirty: false}

  state.originUrl = await originOf(repo)

  if (!repo.headDetached()) {
    const head = await Git.Reference.lookup(repo, 'HEAD')
    const target = head.symbolicTarget()
    if (target?.startsWith('refs/heads/')) state.branch = target.slice('refs/heads/'.length)
  }
  if (!repo.headUnborn()) {
    state.commit = (await Git.Reference.nameToId(repo, 'HEAD')).tostrS()
  }

  const rel = path.relative(workdir, path.resolve(dir)).split(path.sep).join('/')
  const opts = {
    show: Git.Status.SHOW.INDEX_AND_WORKDIR,
    flags: Git.Status.OPT.INCLUDE_UNTRACKED | Git.Status.OPT.DISABLE_PATHSPEC_MATCH, // an untracked folder counts once: no need to walk it
    pathspec: rel ? [rel] : [],
  }
  try {
    const list = await Git.StatusList.create(repo, opts as unknown as NodeGitModule.StatusOptions)
    state.dirty = list.entrycount() > 0
  } catch (error) {
    // libgit2 walks at most 100 levels; a deeper folder is one git status lists as untracked.
    // It says so only in words (errno is the generic -1).
    if (!/nesting too deep/.test((error as Error).message)) throw error
    state.dirty = true
  }
  return state
}

/** Whether git knows who commits in the repository holding `dir` (user.name and user.email). */
export async function hasGitIdentity(dir: string): Promise<boolean> {
  const Git = await loadNodegit()
  const repo = await openContaining(dir)
  if (!repo) return false
  return Git.Signature.default(repo).then(() => true, () => false)
}

/** Sets `origin` of the repository holding `dir`; returns the URL it had, if any. */
export async function setUserOrigin(dir: string, url: string): Promise<string | undefined> {
  const Git = await loadNodegit()
  const repo = await openContaining(dir)
  if (!repo) return undefined
  const previous = await originOf(repo)
  if (previous === undefined) await Git.Remote.create(repo, 'origin', url)
  else Git.Remote.setUrl(repo, 'origin', url)
  return previous
}

/** The `origin` URL of the repository holding `dir`, if it has one. */
export async function userOriginUrl(dir: string): Promise<string | undefined> {
  const repo = await openContaining(dir)
  return repo ? originOf(repo) : undefined
}

async function originOf(repo: NodeGitModule.Repository): Promise<string | undefined> {
  const Git = await loadNodegit()
  try {
    return (await Git.Remote.lookup(repo, 'origin')).url()
  } catch {
    return undefined
  }
}

/** A repository cloned without a checkout: its HEAD tree, to check entry by entry, and the checkout to do once it passed. */
export interface UncheckedClone {
  /** The tree of HEAD, or null for a repository with no commit. */
  tree: string | null
  trees: TreeReader
  checkout(): Promise<void>
}

export async function uncheckedClone(repo: NodeGitModule.Repository): Promise<UncheckedClone> {
  const Git = await loadNodegit()
  const tree = repo.headUnborn() ? null : (await repo.getHeadCommit()).treeId().tostrS()
  return {
    tree,
    trees: new TreeReader(Git, repo),
    async checkout() {
      if (tree) await Git.Checkout.head(repo, {checkoutStrategy: Git.Checkout.STRATEGY.FORCE} as NodeGitModule.CheckoutOptions)
    },
  }
}
