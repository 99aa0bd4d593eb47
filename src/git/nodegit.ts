import type NodeGitModule from 'nodegit'

export type NodeGit = typeof NodeGitModule

let loading: Promise<NodeGit> | undefined

/**
 * nodegit costs a few hundred milliseconds to load, so it is imported only when a command
 * first needs git, never at start-up.
 */
export function loadNodegit(): Promise<NodeGit> {
  loading ??= import('nodegit').then((m) => ((m as {default?: NodeGit}).default ?? (m as unknown as NodeGit)))
  return loading
}

/** A signature for commits ml makes: the user's git identity where configured, else ml's own. */
export async function signatureFor(repo: NodeGitModule.Repository): Promise<NodeGitModule.Signature> {
  const Git = await loadNodegit()
  try {
    return await Git.Signature.default(repo)
  } catch {
    return Git.Signature.now('ml', 'ml@localhost')
  }
}
