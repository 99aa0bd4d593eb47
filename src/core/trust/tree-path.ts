/**
 * The one gate for names read from a tree (a snapshot, a run's tree, a remote's branch) or a run
 * record, before ml writes anything with them. Git's own rules (`verify_path`, and what
 * libgit2's checkout refuses) plus ml's: `.ml` is ml's own folder and never comes from a tree.
 */

/** Characters that file systems (HFS+, NTFS) ignore in names, so `.g\u200bit` is `.git` there. */
const IGNORABLE = /[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff]/g

/** Linux's limits: a name of at most 255 bytes, a path of at most 4,095. */
export const NAME_MAX = 255
export const PATH_MAX = 4095

/** Names that must never be symlinks in a tree: git and ml read them as rules, so a link would make them read any local file. */
const NO_SYMLINK = new Set(['.gitignore', '.gitattributes', '.gitmodules', '.amlignore', '.mailmap'])

export interface PathCheck {
  /** A snapshot: `outputs/` at the top is the runs' own and never comes from one. */
  snapshot?: boolean
  /** The tree entry is a symlink. */
  symlink?: boolean
}

/** `part` as a file system that folds case, drops ignorable characters, trailing dots and spaces, and NTFS streams would see it. */
function folded(part: string): string {
  return part.replace(IGNORABLE, '').split(':')[0].replace(/[. ]+$/, '').toLowerCase()
}

/**
 * Why a path from a tree or a record must never be written, or null when it is fine: empty,
 * `.` or `..` parts, absolute paths, backslashes, NUL, names over the OS limits, `.git` in any
 * spelling a file system might fold to it (case, trailing dots and spaces, zero-width
 * characters, NTFS streams, the 8.3 name GIT~1), the same for `.ml`, and with `snapshot` a top
 * `outputs` folder (ml leaves exactly that name out of snapshots).
 */
export function unsafeReason(file: string, check: PathCheck = {}): string | null {
  if (file.includes('\0')) return 'has a NUL byte'
  if (file.includes('\\')) return 'has a backslash'
  if (file.startsWith('/')) return 'is absolute'
  if (Buffer.byteLength(file) > PATH_MAX) return `is longer than ${PATH_MAX} bytes`
  const parts = file.split('/')
  for (const [i, part] of parts.entries()) {
    if (part === '' || part === '.' || part === '..') return `has a "${part}" part`
    if (Buffer.byteLength(part) > NAME_MAX) return `has a name longer than ${NAME_MAX} bytes`
    const name = folded(part)
    if (name === '.git' || /^git~\d+$/.test(name)) return `names a git folder ("${part}")`
    if (name === '.ml' || /^ml~\d+$/.test(name)) return `names ml's own folder ("${part}")`
    if (check.snapshot && i === 0 && parts.length > 1 && part === 'outputs') return 'is in the outputs folder, which runs write and snapshots never hold'
  }
  if (check.symlink && NO_SYMLINK.has(folded(parts.at(-1)!))) return 'is a symlink where git and ml read rules from a file'
  return null
}
