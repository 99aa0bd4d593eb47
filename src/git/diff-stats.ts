import type NodeGitModule from 'nodegit'

/** Lines added and removed in one file of a diff (`binary`: no line counts, as git's `Bin`). */
export interface FileStat {
  path: string
  additions: number
  deletions: number
  binary: boolean
}

/**
 * Per file, the lines a diff adds and removes, from libgit2's own patch line stats (what `git
 * diff --numstat` prints) instead of reading the patch text back: a removed line that starts
 * with `-- ` is a line, and a name git would quote in the patch is its raw path here.
 */
export async function diffStats(Git: typeof NodeGitModule, diff: NodeGitModule.Diff): Promise<FileStat[]> {
  return (await diff.patches()).map((patch) => {
    const lines = patch.lineStats() as {total_additions: number; total_deletions: number}
    const binary = Boolean((patch.oldFile().flags() | patch.newFile().flags()) & Git.Diff.FLAG.BINARY)
    return {
      path: (patch.isDeleted() ? patch.oldFile() : patch.newFile()).path(),
      additions: binary ? 0 : lines.total_additions,
      deletions: binary ? 0 : lines.total_deletions,
      binary,
    }
  })
}
