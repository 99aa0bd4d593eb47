/**
 * How close to the moment it was read a file's mtime or ctime may be before its stat can no
 * longer be trusted: a write in the same clock tick could hide behind it (git's "racy" entries).
 * The folder stamp, the ref stamp and the data stat cache all use this one bound.
 */
export const RACY_MS = 100
