import {MlError} from '../shared/errors.js'
import {parseRemoteUrl, redactSecrets} from '../shared/remote-url.js'

/**
 * How a talk with a remote failed, in words: libgit2 reports network, authentication and
 * "no repository" failures all as GIT_ERROR with a message (no class tells them apart), so
 * its message is all there is to go on.
 */
export function explainRemoteError(error: unknown, url: string, tried: string[]): MlError {
  if (error instanceof MlError) return error
  const message = redactSecrets((error as Error)?.message ?? String(error))
  const host = hostOf(url)
  if (/failed to (connect|resolve)|connection refused|could not connect|timed out|no such host|Failed to retrieve list of SSH authentication methods|Failed getting banner/i.test(message)) {
    return new MlError('REMOTE_UNREACHABLE', `The remote ${redactSecrets(url)} cannot be reached (${message}); check the URL and that the server is up.`, {cause: error})
  }
  if (/unpack failed|correct password/i.test(message)) {
    const key = tried.at(-1) ?? 'the SSH key'
    return new MlError('AUTH_FAILED', `The passphrase for ${key} is wrong; check ML_SSH_PASSPHRASE or the passphrase you typed.`, {cause: error})
  }
  if (/authenticat|401|403|unauthorized|credentials/i.test(message)) {
    return new MlError('AUTH_FAILED', `${host} refused the credentials (${message}); check ML_GIT_TOKEN, ML_SSH_KEY or your credential helper.`, {cause: error})
  }
  if (/not found|does not appear to be a git repository|not a git repository|404|could not find repository/i.test(message)) {
    return new MlError('REMOTE_ERROR', `There is no git repository at ${redactSecrets(url)} (${message}); check the URL.`, {cause: error})
  }
  return new MlError('REMOTE_ERROR', `The remote ${redactSecrets(url)} failed: ${message}.`, {cause: error})
}

/** The error once every credential (`tried`, none when there was none to try) was refused. */
export function authFailure(url: string, tried: string[]): MlError {
  const host = hostOf(url)
  const ssh = parseRemoteUrl(url).scheme === 'ssh'
  if (tried.length === 0) {
    return new MlError('AUTH_FAILED', ssh
      ? `${host} asks for an SSH key and none was found; start ssh-agent, create ~/.ssh/id_ed25519, or name a key in ML_SSH_KEY.`
      : `${host} asks for credentials; set ML_GIT_TOKEN (or ML_GIT_USERNAME and ML_GIT_PASSWORD), or configure a git credential helper.`)
  }
  const fix = ssh ? 'add your public key to the server, or name another key in ML_SSH_KEY' : 'check the token or password, or set ML_GIT_TOKEN'
  return new MlError('AUTH_FAILED', `${host} refused every credential tried (${tried.join(', ')}); ${fix}.`)
}

function hostOf(url: string): string {
  return parseRemoteUrl(url).host || url
}
