import {promises as fs} from 'node:fs'
import {writeAtomically} from '../../shared/write-atomically.js'
import {mlPath} from '../project/layout.js'
import type {Project} from '../project/project.js'

/** A target that did not answer: when, why, and until when `history list` does not try it again. */
export interface TargetDown {
  /** When it failed to answer (ms since the epoch). */
  since: number
  downUntil: number
  reason: string
}

/** How long a target that did not answer is left alone by `history list` (`history sync` always tries). */
export const DOWN_FOR_MS = 60_000

/**
 * `.ml/target-health.json`: `{name: TargetDown}` for the targets that did not answer lately, so
 * that a listing does not wait on a dead host each time. A cache: a lost or unreadable file only
 * means a target is tried again. Two processes writing at once may drop each other's entry, with
 * the same effect.
 */
export async function targetsDown(project: Project): Promise<Record<string, TargetDown>> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await fs.readFile(healthFile(project), 'utf8'))
  } catch {
    return {}
  }
  const down: Record<string, TargetDown> = {}
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return down
  for (const [name, entry] of Object.entries(parsed as Record<string, Partial<TargetDown>>)) {
    if (entry && Number.isFinite(entry.since) && Number.isFinite(entry.downUntil) && typeof entry.reason === 'string') {
      down[name] = {since: entry.since!, downUntil: entry.downUntil!, reason: entry.reason}
    }
  }
  return down
}

/** Remembers that `name` did not answer at `now`, until `now + forMs`. */
export async function markDown(project: Project, name: string, reason: string, now: number, forMs = DOWN_FOR_MS): Promise<void> {
  const down = await targetsDown(project)
  down[name] = {since: now, downUntil: now + forMs, reason}
  await save(project, down)
}

/** Forgets that `name` was down (it answered). */
export async function markUp(project: Project, name: string): Promise<void> {
  const down = await targetsDown(project)
  if (!(name in down)) return
  delete down[name]
  await save(project, down)
}

async function save(project: Project, down: Record<string, TargetDown>): Promise<void> {
  if (Object.keys(down).length === 0) await fs.rm(healthFile(project), {force: true})
  else await writeAtomically(healthFile(project), `${JSON.stringify(down)}\n`)
}

function healthFile(project: Project): string {
  return mlPath(project.dir, 'targetHealth')
}
