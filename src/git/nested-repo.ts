import {existsSync, realpathSync} from 'node:fs'
import path from 'node:path'
import type NodeGitModule from 'nodegit'
import {checkoutInto} from './checkout.js'
import {loadNodegit, type NodeGit} from './nodegit.js'
import {TreeReader} from './tree-reader.js'

/**
 * A nested git repository of the project folder (a submodule, or a repository of its own inside
 * the folder), which a snapshot holds only as a gitlink: its commit. Opened to write that commit's
 * files elsewhere (an isolated run's checkout); its HEAD, index and work tree are never changed.
 */
export class NestedRepo {
  private constructor(
    private readonly Git: NodeGit,
    private readonly repo: NodeGitModule.Repository,
    /** Its work tree, the folder it was found in; null for a submodule's git dir found under .git/modules/. */
    readonly workdir: string | null,
    /** Where its objects are (its git dir), to name it. */
    readonly gitdir: string,
  ) {}

  /**
   * The repository whose commits the gitlink at `dir` names: the folder's own (a `.git` folder,
   * or a submodule's `.git` file naming its git dir under the superproject's .git/modules/), or,
   * when the folder has none (a submodule not checked out, or deinit'ed), the git dir the
   * superproject keeps for it, .git/modules/<name>. Null when there is neither.
   */
  static async find(dir: string): Promise<NestedRepo | null> {
    const Git = await loadNodegit()
    if (existsSync(path.join(dir, '.git'))) {
      // Repository.open does not look in parent folders: only `dir` itself.
      const repo = await Git.Repository.open(dir).catch(() => null)
      const workdir = repo && !repo.isBare() ? repo.workdir() : null
      if (repo && workdir && samePath(workdir, dir)) return new NestedRepo(Git, repo, dir, repo.path())
    }
    const gitdir = await submoduleGitdir(Git, dir)
    if (!gitdir) return null
    const repo = await Git.Repository.openBare(gitdir).catch(() => null)
    return repo && new NestedRepo(Git, repo, null, gitdir)
  }

  /** The tree of `commit`, or null when this repository does not hold that commit. */
  async treeOfCommit(commit: string): Promise<string | null> {
    try {
      return (await this.repo.getCommit(commit)).treeId().tostrS()
    } catch {
      return null
    }
  }

  treeReader(): TreeReader {
    return new TreeReader(this.Git, this.repo)
  }

  /** Writes the files of `tree` into `dir`, a new folder; the repository's index is left alone. */
  checkoutInto(tree: string, dir: string): Promise<void> {
    return checkoutInto({Git: this.Git, repo: this.repo}, tree, dir)
  }

  /** The paths of its work tree its ignore rules leave out (a folder as `name/`); none without a work tree. */
  async ignoredPaths(): Promise<string[]> {
    if (!this.workdir) return []
    const {Git, repo} = this
    const opts = {show: Git.Status.SHOW.WORKDIR_ONLY, flags: Git.Status.OPT.INCLUDE_IGNORED | Git.Status.OPT.RECURSE_UNTRACKED_DIRS}
    const list = await Git.StatusList.create(repo, opts as unknown as NodeGitModule.StatusOptions)
    const paths: string[] = []
    for (let i = 0; i < list.entrycount(); i++) {
      const entry = Git.Status.byIndex(list, i) as unknown as {status(): number; indexToWorkdir(): NodeGitModule.DiffDelta}
      if (entry.status() & Git.Status.STATUS.IGNORED) paths.push(entry.indexToWorkdir().newFile().path())
    }
    return paths
  }
}

/** The git dir a superproject keeps for the submodule at `dir` (.git/modules/<name>), if it has one. */
async function submoduleGitdir(Git: NodeGit, dir: string): Promise<string | null> {
  try {
    const superGitdir = String(await Git.Repository.discover(path.dirname(dir), 0, ''))
    const superRepo = await Git.Repository.open(superGitdir)
    if (superRepo.isBare()) return null
    const rel = path.relative(realpathSync(superRepo.workdir()), path.join(realpathSync(path.dirname(dir)), path.basename(dir))).split(path.sep).join('/')
    if (!rel || rel.startsWith('..')) return null
    const name = (await Git.Submodule.lookup(superRepo, rel)).name()
    if (name.split('/').includes('..')) return null
    const gitdir = path.join(superRepo.path(), 'modules', name)
    return existsSync(path.join(gitdir, 'objects')) ? gitdir : null
  } catch {
    return null
  }
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b)
  } catch {
    return false
  }
}
