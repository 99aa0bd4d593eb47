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
 * The rules of the project's .amlignore (gitignore syntax, relative to the project root),
 * applied to snapshots on top of every .gitignore.
 */
export async function readAmlignore(projectDir: string): Promise<string> {
  try {
    return await fs.readFile(path.join(projectDir, '.amlignore'), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''
    throw error
  }
}
