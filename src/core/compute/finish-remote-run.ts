import {promises as fs} from 'node:fs'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {mlPath} from '../project/layout.js'
import type {Project} from '../project/project.js'
import type {QuietPushOptions} from '../remote/push-quietly.js'
import {recordEnding, type RunEnding} from '../runs/record-ending.js'
import type {RunRecord} from '../runs/runs.js'
import {DEFAULT_LIMITS} from '../snapshot/limits.js'
import {collectRun} from './collect-run.js'
import {forgetRemoteRun} from './remote-runs.js'
import {CTL, type RunPlace} from './run-folder.js'
import {quote, type Shell} from '../../ssh/shell.js'

export interface FinishOptions extends QuietPushOptions {
  mlVersion?: string
  onWarning?: (message: string) => void
}

/**
 * Records how a run on a target ended (over the record's commit `commit`), with what it left
 * there brought back; then removes its folders on the target (objects/ stays for the next runs)
 * and forgets it here (the caller pushes). `ending` says how it ended; a cancel asked by `ml experiment cancel` (its
 * mark in the control folder) makes it Canceled.
 */
export async function finishRemoteRun(project: Project, repo: ShadowRepo, shell: Shell, place: RunPlace, record: RunRecord, commit: string, ending: Pick<RunEnding, 'started' | 'ended' | 'exitCode' | 'canceled' | 'error'>, options: FinishOptions): Promise<RunRecord> {
  const localDir = mlPath(project.dir, 'runs', record.runId)
  try {
    const collected = await collectRun(shell, place, localDir, {runId: record.runId, mlVersion: options.mlVersion ?? 'unknown', maxArtifactBytes: project.config.limits?.maxBytes ?? DEFAULT_LIMITS.maxBytes, onWarning: options.onWarning})
    const canceled = ending.canceled || (await shell.readFile(`${place.ctl}/${CTL.canceled}`, 0, 1)) !== null
    await recordEnding(project, repo, commit, record, {...ending, ...collected, canceled, onWarning: options.onWarning})
    await shell.run(`rm -rf ${quote(place.runDir)} ${quote(place.ctl)}`)
    await forgetRemoteRun(project, record.runId)
  } finally {
    await fs.rm(localDir, {recursive: true, force: true})
  }
  return record
}
