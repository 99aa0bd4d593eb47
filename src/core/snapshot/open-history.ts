import {ShadowRepo} from '../../git/shadow-repo.js'
import {snapshotRules} from './ignore-rules.js'
import {historyDir, type Project} from '../project/project.js'

/** Opens the project's history repo with the project's ignore rules in force. */
export async function openHistory(project: Project): Promise<ShadowRepo> {
  const repo = await ShadowRepo.open(historyDir(project), project.dir)
  repo.addIgnoreRules(await snapshotRules(project.dir))
  return repo
}

/** Opens the history when first called, and gives the same repo after that. */
export type OpenHistory = () => Promise<ShadowRepo>

/** An OpenHistory for `project`: what needs no git (a snapshot of an unchanged folder) never loads it. */
export function historyOpener(project: Project): OpenHistory {
  let opened: Promise<ShadowRepo> | undefined
  return () => (opened ??= openHistory(project))
}
