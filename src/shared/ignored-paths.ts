/**
 * `files` without those that `ignored` covers. `ignored` is as git's status lists ignored
 * paths: a file by its path, an ignored folder once, with a trailing slash (also when it is
 * ignored only because all its files are).
 */
export function withoutIgnored(files: string[], ignored: string[]): string[] {
  if (ignored.length === 0) return files
  const set = new Set(ignored)
  const anyDir = ignored.some((p) => p.endsWith('/'))
  return files.filter((file) => !set.has(file) && !(anyDir && inIgnoredDir(file, set)))
}

/** True when a folder holding `file` is in `ignored` (as 'dir/'). */
function inIgnoredDir(file: string, ignored: Set<string>): boolean {
  for (let slash = file.indexOf('/'); slash >= 0; slash = file.indexOf('/', slash + 1)) {
    if (ignored.has(file.slice(0, slash + 1))) return true
  }
  return false
}
