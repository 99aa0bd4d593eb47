import ignore from 'ignore'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {literalIgnoreRule} from '../../shared/literal-ignore-rule.js'
import {readTrackedPaths, TRACKED_DATA_FILE} from '../project/tracked-data.js'

/**
 * Paths no snapshot ever holds, whatever the user's ignore files say: ml's own folder in any
 * case (in any subfolder too, so a project nested in another never leaks its history into the
 * outer one, and never a `.ML` that a case-folding file system would write into `.ml`) and the
 * run outputs, which are captured with each run instead. Written to the shadow repo's
 * info/exclude so that the git CLI pointed at it sees the same rules, and added last to the
 * snapshot's own rules so that no `!` rule brings them back.
 */
export const BUILTIN_EXCLUDES = '# ml: never part of a snapshot\n.[mM][lL]/\n/outputs/\n'

/**
 * Likely secrets, left out of every snapshot by default (they would otherwise be pushed to the
 * remote with the history), whatever the case of their names. They come before .amlignore, so a
 * `!` rule there brings a file back.
 */
export const SECRET_RULES = [
  '.env', '.env.*', '.envrc', '*.pem', '*.key', '*.p12', '*.pfx', 'id_rsa*', 'id_dsa*', 'id_ecdsa*', 'id_ed25519*',
  '.netrc', '.git-credentials', '.npmrc', '.pypirc', '.pgpass', '.vault-token', 'credentials.json', 'service-account*.json',
  'client_secret*.json', '*.tfvars', '*.tfstate', '.aws/', '.ssh/', '.gnupg/', '**/.docker/config.json', '**/.kube/config',
]

/** A gitignore pattern that matches its letters in any case (libgit2 and git match case-sensitively). */
export function anyCase(pattern: string): string {
  return pattern.replace(/[a-z]/gi, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`)
}

/**
 * The snapshot's own rules, in order: the secrets, the project's .amlignore, then what no rule
 * may bring back: the tracked data (each path exactly, see project/tracked-data.ts) and ml's own.
 */
export function snapshotRulesText(amlignore: string, tracked: string[] = []): string {
  return `${SECRET_RULES.map(anyCase).join('\n')}\n${amlignore}\n${trackedRules(tracked)}${BUILTIN_EXCLUDES}`
}

/** The rules that keep tracked data out of snapshots: versioned by manifest instead. */
export function trackedRules(tracked: string[]): string {
  return tracked.length ? `# ml: tracked data (${TRACKED_DATA_FILE})\n${tracked.map(literalIgnoreRule).join('\n')}\n` : ''
}

/** The project's own ignore file for snapshots, at its root. */
export const AMLIGNORE = '.amlignore'

/**
 * The in-memory rules of a snapshot (see snapshotRulesText). libgit2 gives such rules
 * precedence over every .gitignore, so `!.ml/` in a .gitignore re-includes nothing.
 */
export async function snapshotRules(projectDir: string): Promise<string> {
  return snapshotRulesText(await readAmlignore(projectDir), readTrackedPaths(projectDir))
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
