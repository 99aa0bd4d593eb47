import {createRequire} from 'node:module'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {tempDir} from './helpers.js'

/** s3rver has no types of its own: the part of it the tests use. */
interface S3rverInstance {
  run(): Promise<AddressInfo>
  close(): Promise<void>
  on(event: 'event', listener: (event: {Records: Array<{eventName: string; s3: {object: {key: string}}}>}) => void): void
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance

export interface S3Server {
  /** `http://127.0.0.1:PORT`, for StoreOptions.endpoint. */
  endpoint: string
  /** The bucket it serves. */
  bucket: string
  /** The folder s3rver keeps its objects in, as files (an object's bytes at objectFile(key)). */
  directory: string
  /** The file holding the bytes of `key` in the bucket. */
  objectFile: (key: string) => string
  /** The objects made so far, in order: `ObjectCreated:Put` for a PUT, `ObjectCreated:Post` for a completed multipart upload. */
  created: Array<{key: string; how: string}>
  /** The environment of credentials s3rver accepts (its defaults, S3RVER/S3RVER). */
  env: NodeJS.ProcessEnv
  close: () => Promise<void>
}

/** s3rver (an S3 emulator on the filesystem) on a free loopback port, with one bucket. */
export async function startS3Server(bucket = 'bucket'): Promise<S3Server> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass
  const directory = tempDir('ml-s3rver-')
  const server = new S3rver({port: 0, address: '127.0.0.1', directory, silent: true, configureBuckets: [{name: bucket}]})
  const created: S3Server['created'] = []
  server.on('event', (event) => created.push(...event.Records.map((r) => ({key: r.s3.object.key, how: r.eventName}))))
  const {port} = await server.run()
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    directory,
    created,
    objectFile: (key) => path.join(directory, bucket, `${key}._S3rver_object`),
    env: {AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1'},
    close: () => server.close(),
  }
}
