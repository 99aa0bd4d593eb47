import {MlError} from '../shared/errors.js'

/** DATA_MISSING for an object the store does not hold. */
export function objectMissing(where: string, id: string): MlError {
  return new MlError('DATA_MISSING', `The store ${where} does not hold ${id}; push it from a machine that has the file, or check the store URL.`)
}

/** STORE_CORRUPT for an object whose bytes from the store are not the ones its id names. */
export function otherBytes(where: string, id: string): (what: string) => MlError {
  return (what) => new MlError('STORE_CORRUPT', `The store ${where} returned other bytes for ${id} (${what}); the object there is damaged: remove it from the store and push the file again from a machine that has it.`)
}

/** STORE_ERROR with what the store said, for a failure that is neither ml's own error nor a missing object. */
export function storeError(where: string, error: unknown, fix = 'check the store\'s permissions and free space'): unknown {
  if (error instanceof MlError) return error
  return new MlError('STORE_ERROR', `The store ${where} failed (${(error as Error).message}); ${fix}.`, {cause: error})
}
