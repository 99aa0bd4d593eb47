import {randomBytes} from 'node:crypto'
import path from 'node:path'

const TEMP_NAME = /^\..+\.ml-tmp-[0-9a-f]{12}$/

/** A new temporary name beside `file`: `.<basename>.ml-tmp-<random>`, hidden and unique per transfer. */
export function tempFileFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.ml-tmp-${randomBytes(6).toString('hex')}`)
}

/** True for a name tempFileFor makes: what a killed transfer may leave, for callers to sweep. */
export function isStoreTempFile(name: string): boolean {
  return TEMP_NAME.test(path.basename(name))
}
