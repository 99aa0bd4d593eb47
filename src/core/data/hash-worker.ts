/**
 * A thread of the hashing pool (see hash-pool.ts): hashes the files it is sent, one at a time,
 * with one chunk buffer, and posts each hash back.
 */
import {parentPort} from 'node:worker_threads'
import {CHUNK, type HashReply, sha256File} from './hash-pool.js'

const buffer = Buffer.allocUnsafe(CHUNK)
parentPort!.on('message', ({id, file}: {id: number; file: string}) => {
  let reply: HashReply
  try {
    reply = {id, hashed: sha256File(file, buffer)}
  } catch (error) {
    const {message, code} = error as NodeJS.ErrnoException
    reply = {id, error: {message: String(message), ...(code ? {code} : {})}}
  }
  parentPort!.postMessage(reply)
})
