/**
 * libgit2's error codes, as nodegit puts them on a thrown error's `errno`: ml tells failures
 * apart by these, not by the words of the message.
 */
export const GIT = {
  ENOTFOUND: -3,
  EEXISTS: -4,
  EINVALIDSPEC: -12,
  ELOCKED: -14,
  EMODIFIED: -15,
  ITEROVER: -31,
} as const

/** The libgit2 code of `error`, or undefined when it is not a libgit2 failure. */
function gitCode(error: unknown): number | undefined {
  const errno = (error as {errno?: unknown} | null)?.errno
  return typeof errno === 'number' ? errno : undefined
}

export function isGitError(error: unknown, ...codes: number[]): boolean {
  const code = gitCode(error)
  return code !== undefined && codes.includes(code)
}

/** libgit2's "the requested type does not match the type in the ODB": GIT_ENOTFOUND too, told apart only by its words. */
export function isWrongType(error: unknown): boolean {
  return isGitError(error, GIT.ENOTFOUND) && /does not match the type/i.test((error as Error).message)
}
