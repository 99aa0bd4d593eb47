import {readUserRepo} from '../../git/user-repo.js'
import {redactUrl} from '../../shared/remote-url.js'

/**
 * The git properties of a run, under the names Azure ML and MLflow use, read from the user's
 * repo that holds `dir`. Empty when `dir` is in no repo; a property whose value does not
 * exist (no origin, detached HEAD, no commit yet) is left out rather than faked.
 */
export async function gitProperties(dir: string): Promise<Record<string, string>> {
  const state = await readUserRepo(dir)
  if (!state) return {}
  const props: Record<string, string> = {}
  if (state.originUrl) {
    props['azureml.git.repository_uri'] = redactUrl(state.originUrl)
    props['mlflow.source.git.repoURL'] = redactUrl(state.originUrl)
  }
  if (state.branch) {
    props['azureml.git.branch'] = state.branch
    props['mlflow.source.git.branch'] = state.branch
  }
  if (state.commit) {
    props['azureml.git.commit'] = state.commit
    props['mlflow.source.git.commit'] = state.commit
  }
  props['azureml.git.dirty'] = state.dirty ? 'True' : 'False'
  return props
}
