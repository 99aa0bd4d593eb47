/**
 * The thread of an early stamp check (see early-stamp-check.ts): reads the stamp file, checks
 * the folder against it, and posts both back, or null when there is no stamp to check.
 */
import {parentPort, workerData} from 'node:worker_threads'
import {checkStamp, parseStamp, readStampBytes, type StampCheck} from './folder-stamp.js'

const {dir} = workerData as {dir: string}
let result: {bytes: Buffer; check: StampCheck} | null = null
try {
  const bytes = readStampBytes(dir)
  const stamp = bytes && parseStamp(bytes)
  if (stamp) result = {bytes, check: checkStamp(dir, stamp)}
} catch {
  result = null // no stamp, or the folder could not be read: the snapshot checks for itself
}
parentPort!.postMessage(result)
