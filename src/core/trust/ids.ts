/**
 * What an id read from a run record or a ref may look like before ml uses it in a ref name or a
 * file name. Run ids are `<project-name>_<epoch-ms>_<4 hex>` when ml makes them; any id of
 * letters, digits, `.`, `_` and `-` (not starting with a dot or dash) is accepted from a remote.
 */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/
const SHA256 = /^[0-9a-f]{64}$/
const GIT_OID = /^[0-9a-f]{40}$/

export function isRunId(id: unknown): id is string {
  return typeof id === 'string' && RUN_ID.test(id) && !id.includes('..') && !id.endsWith('.lock')
}

export function isSha256(hash: unknown): hash is string {
  return typeof hash === 'string' && SHA256.test(hash)
}

export function isGitOid(id: unknown): id is string {
  return typeof id === 'string' && GIT_OID.test(id)
}

/** A sweep's id, `sweep_<epoch-ms>_<4 hex>` when ml makes one; shown and matched, never used in a path. */
export function isSweepId(id: unknown): id is string {
  return isRunId(id)
}

/** The name of a run's input (`--input NAME=...`): it becomes ML_INPUT_<NAME> and a folder name. */
const INPUT_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

export function isInputName(name: unknown): name is string {
  return typeof name === 'string' && INPUT_NAME.test(name)
}
