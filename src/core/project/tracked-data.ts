import {readFileSync} from 'node:fs'
import path from 'node:path'
import {MlError} from '../../shared/errors.js'
import {unsafeReason} from '../trust/tree-path.js'
import {OUTPUTS_DIR} from './layout.js'

/**
 * The project's declared data, committed with it (and so in every snapshot and the user's own
 * repo, like a `.dvc` file): one tracked path a line, relative to the project root. Tracked
 * paths never enter a snapshot; each run records their version instead.
 */
export const TRACKED_DATA_FILE = '.mldata'

const HEADER = '# Data tracked by ml (`ml data track PATH`): one path a line, relative to the project folder.\n'

/**
 * A tracked path as typed (`./data/`, `data\\x` on no system) in its one spelling: POSIX,
 * relative, no trailing slash; or why it cannot be one. The same gate as snapshot paths, since a
 * .mldata may come from a teammate's snapshot.
 */
export function trackedPathProblem(rel: string): string | null {
  if (rel === '' || rel === '.') return 'is the whole project (track a folder or file inside it)'
  const reason = unsafeReason(rel)
  if (reason) return reason
  if (rel === OUTPUTS_DIR || rel.startsWith(`${OUTPUTS_DIR}/`)) return 'is in outputs/, which runs write (use --input RUN:outputs/PATH to read another run\'s output)'
  if (rel === TRACKED_DATA_FILE || rel === '.amlignore' || path.posix.basename(rel) === '.gitignore') return 'is one of the files that say what a snapshot holds'
  return null
}

/** The paths a .mldata text declares (DATA_CORRUPT naming the line for one the gate refuses, or one inside another). */
export function parseTrackedPaths(text: string, source = TRACKED_DATA_FILE): string[] {
  const paths: string[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '')
    if (!line.trim() || line.startsWith('#')) return
    const rel = line.replace(/\/+$/, '')
    const problem = trackedPathProblem(rel) ?? (overlapping(paths, rel) ? `overlaps ${overlapping(paths, rel)}, tracked above it` : null)
    if (problem) throw new MlError('DATA_CORRUPT', `${source}:${i + 1}: ${JSON.stringify(line)} ${problem}; fix that line (or remove it with \`ml data untrack\`).`)
    paths.push(rel)
  })
  return paths
}

/** The tracked path of `paths` that is `rel`, holds it or lies inside it, if any. */
export function overlapping(paths: string[], rel: string): string | undefined {
  return paths.find((p) => p === rel || rel.startsWith(`${p}/`) || p.startsWith(`${rel}/`))
}

export function formatTrackedPaths(paths: string[]): string {
  return HEADER + paths.map((p) => `${p}\n`).join('')
}

/**
 * The project's tracked paths, read synchronously (it is on the way of every snapshot, like the
 * folder stamp); none without a .mldata.
 */
export function readTrackedPaths(projectDir: string): string[] {
  let text: string
  try {
    text = readFileSync(path.join(projectDir, TRACKED_DATA_FILE), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  return parseTrackedPaths(text)
}
