import ignore from 'ignore'
import {promises as fs} from 'node:fs'
import path from 'node:path'

/**
 * Paths no snapshot ever holds, whatever the user's ignore files say: ml's own folder (in any
 * subfolder too, so a project nested in another never leaks its history into the outer one)
 * and the run outputs, which are captured with each run instead. Written to the shadow
 * repo's info/exclude so that the git CLI pointed at it sees the same rules.
 */
export const BUILTIN_EXCLUDES = '# ml: never part of a snapshot\n.ml/\n/outputs/\n'

/**
 * Likely secrets, left out of every snapshot by default (they would otherwise be pushed to the
 * remote with the history). They come before .amlignore, so a `!` rule there brings a file back.
 */
export const SECRET_RULES = ['.env', '.env.*', '*.pem', '*.key', 'id_rsa*', 'id_ed25519*', '.netrc', 'credentials.json', '.aws/', '.ssh/']

/** The project's own ignore file for snapshots, at its root. */
export const AMLIGNORE = '.amlignore'

/** True for a .gitignore file at any depth. */
export function isGitignore(file: string): boolean {
  return file === '.gitignore' || file.endsWith('/.gitignore')
}

/** The in-memory rules of a snapshot, in order: the secrets, then the project's .amlignore. */
export async function snapshotRules(projectDir: string): Promise<string> {
  return `${SECRET_RULES.join('\n')}\n${await readAmlignore(projectDir)}`
}

/** Which of `ignoredPaths` (as git lists them, folders with a trailing /) the secret rules leave out. */
export function secretPaths(ignoredPaths: string[], amlignore: string): string[] {
  const rules = ignore().add(SECRET_RULES).add(amlignore)
  const secrets = ignore().add(SECRET_RULES)
  return ignoredPaths.filter((p) => secrets.ignores(p) && rules.ignores(p))
}

/**
 * The rules of the project's .amlignore (gitignore syntax, relative to the project root),
 * applied to snapshots on top of every .gitignore.
 */
export async function readAmlignore(projectDir: string): Promise<string> {
  try {
    return await fs.readFile(path.join(projectDir, AMLIGNORE), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''
    throw error
  }
}
