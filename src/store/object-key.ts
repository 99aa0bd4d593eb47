import {MlError} from '../shared/errors.js'

const OBJECT_ID = /^[0-9a-f]{64}$/

/**
 * Where object `id` lives under a store's root, `sha256/ab/cdef...`, for every backend. The id
 * is checked first, so that no id (from a manifest, a teammate's push) names another path.
 */
export function objectKey(id: string): string {
  if (!OBJECT_ID.test(id)) throw new MlError('INVALID_ARGUMENT', `"${id.slice(0, 80)}" is not an object id (64 lowercase hex digits of a sha256); check the manifest that names it.`)
  return `sha256/${id.slice(0, 2)}/${id.slice(2)}`
}
