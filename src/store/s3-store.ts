import {promises as fs} from 'node:fs'
import path from 'node:path'
import {Readable} from 'node:stream'
import type {S3Client} from '@aws-sdk/client-s3'
import {isMlError, MlError} from '../shared/errors.js'
import {redactUrl} from '../shared/remote-url.js'
import {runPool} from '../shared/run-pool.js'
import {objectKey} from './object-key.js'
import {objectMissing, otherBytes, storeError} from './store-errors.js'
import type {ArtifactStore, StoreOptions} from './store-interface.js'
import {checkedChunks, localFileChunks, writeThrough} from './verified-transfer.js'

/** Up to this many ids, `has` asks for each object; past it, it lists the fan-out prefixes the ids fall in. */
const HEAD_EACH_UP_TO = 16
/** Requests at once, for has's HEADs and listings. */
const REQUESTS = 16
/** lib-storage's part size (S3's minimum is 5 MiB): a file up to this size goes in one PUT; it buffers PART_SIZE * PARTS_AT_ONCE. */
const PART_SIZE = 8 << 20
const PARTS_AT_ONCE = 4

type S3Sdk = typeof import('@aws-sdk/client-s3')

/**
 * A store in an S3 bucket (or an S3-compatible service: MinIO, Ceph...), under a prefix. A PUT
 * or a multipart upload makes an object visible only once complete, so nothing here needs a
 * temporary key; the bytes sent are checked before the last of them goes, so a file that
 * changed meanwhile never completes an upload.
 */
export class S3Store implements ArtifactStore {
  readonly where: string
  private connection?: Promise<{sdk: S3Sdk; client: S3Client}>

  constructor(private readonly bucket: string, private readonly prefix: string, private readonly options: StoreOptions) {
    this.where = `s3://${bucket}/${prefix}`
  }

  async has(ids: string[]): Promise<Set<string>> {
    const {sdk, client} = await this.connect()
    const held = new Set<string>()
    if (ids.length <= HEAD_EACH_UP_TO) {
      await runPool(ids, REQUESTS, async (id) => {
        const key = this.key(id)
        try {
          await this.send(() => client.send(new sdk.HeadObjectCommand({Bucket: this.bucket, Key: key})), id)
          held.add(id)
        } catch (error) {
          if (!isMlError(error, 'DATA_MISSING')) throw error
        }
      })
      return held
    }
    for (const id of ids) objectKey(id) // checks each id
    const wanted = new Set(ids)
    const fanOuts = [...new Set(ids.map((id) => id.slice(0, 2)))]
    await runPool(fanOuts, REQUESTS, async (fanOut) => {
      const listed = this.key(fanOut.padEnd(64, '0')).slice(0, -62)
      let ContinuationToken: string | undefined
      do {
        const page = await this.send(() => client.send(new sdk.ListObjectsV2Command({Bucket: this.bucket, Prefix: listed, ContinuationToken})))
        for (const {Key} of page.Contents ?? []) {
          const id = fanOut + (Key ?? '').slice(listed.length)
          if (wanted.has(id)) held.add(id)
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (ContinuationToken)
    })
    return held
  }

  async put(id: string, file: string, size: number, onBytes?: (bytes: number) => void): Promise<void> {
    if ((await this.has([id])).has(id)) return
    const {client} = await this.connect()
    const {Upload} = await import('@aws-sdk/lib-storage')
    const counted = async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        yield chunk
        onBytes?.(chunk.length)
      }
    }
    // The object's bytes come from a checked stream: a changed file ends it with DATA_CORRUPT before its last byte.
    const body = Readable.from(counted(localFileChunks(file, id, size, this.where)), {objectMode: false})
    const upload = new Upload({client, params: {Bucket: this.bucket, Key: this.key(id), Body: body, ContentLength: size}, partSize: PART_SIZE, queueSize: PARTS_AT_ONCE, leavePartsOnError: false})
    let bodyError: unknown = null
    body.once('error', (error) => (bodyError = error))
    try {
      await this.send(() => upload.done())
    } catch (error) {
      throw bodyError ?? error
    }
  }

  async get(id: string, dest: string, size: number, onBytes?: (bytes: number) => void): Promise<void> {
    const {sdk, client} = await this.connect()
    const response = await this.send(() => client.send(new sdk.GetObjectCommand({Bucket: this.bucket, Key: this.key(id)})), id)
    const body = response.Body as Readable | undefined
    const wrong = otherBytes(this.where, id)
    if (response.ContentLength !== undefined && response.ContentLength !== size) {
      body?.destroy()
      throw wrong(`${response.ContentLength} bytes instead of ${size}`)
    }
    // A failure of the stream from S3 is the store's; one of this machine's disk (a full disk) stays as it is.
    const fromStore = async function* (stream: AsyncIterable<Buffer>, where: string) {
      try {
        yield* stream
      } catch (error) {
        throw storeError(where, error)
      }
    }
    await writeThrough(checkedChunks(fromStore(body ?? Readable.from([]), this.where), id, size, wrong), dest, onBytes)
  }

  async close(): Promise<void> {
    if (!this.connection) return
    const connection = this.connection
    this.connection = undefined
    ;(await connection.catch(() => null))?.client.destroy()
  }

  private key(id: string): string {
    return this.prefix ? `${this.prefix}/${objectKey(id)}` : objectKey(id)
  }

  /** The client, made once at first use: region, credentials and endpoint from the options alone (never process.env, never the real home). */
  private connect(): Promise<{sdk: S3Sdk; client: S3Client}> {
    this.connection ??= (async () => {
      const {env, home} = this.options
      const profile = env.AWS_PROFILE || env.AWS_DEFAULT_PROFILE || 'default'
      const credentialsFile = await iniSection(env.AWS_SHARED_CREDENTIALS_FILE || path.join(home, '.aws', 'credentials'), profile)
      const configFile = await iniSection(env.AWS_CONFIG_FILE || path.join(home, '.aws', 'config'), profile === 'default' ? 'default' : `profile ${profile}`)
      const fromFiles = credentialsFile.aws_access_key_id ? credentialsFile : configFile
      const accessKeyId = env.AWS_ACCESS_KEY_ID || fromFiles.aws_access_key_id
      const secretAccessKey = env.AWS_ACCESS_KEY_ID ? env.AWS_SECRET_ACCESS_KEY : fromFiles.aws_secret_access_key
      const sessionToken = env.AWS_ACCESS_KEY_ID ? env.AWS_SESSION_TOKEN : fromFiles.aws_session_token
      if (!accessKeyId || !secretAccessKey) {
        throw new MlError('AUTH_FAILED', `ml found no AWS credentials for the store ${this.where}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the profile "${profile}" an aws_access_key_id and aws_secret_access_key in ~/.aws/credentials.`)
      }
      const endpoint = this.options.endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || configFile.endpoint_url
      const sdk = await import('@aws-sdk/client-s3') // loaded only when an s3 store is used
      const client = new sdk.S3Client({
        region: env.AWS_REGION || env.AWS_DEFAULT_REGION || configFile.region || 'us-east-1',
        credentials: {accessKeyId, secretAccessKey, ...sessionToken && {sessionToken}},
        ...endpoint && {endpoint, forcePathStyle: true},
        // Every setting the SDK would otherwise read from process.env or the real ~/.aws is given here.
        ignoreConfiguredEndpointUrls: true,
        defaultsMode: 'standard',
        maxAttempts: 3, // the SDK's backoff is short: a refused connection fails within a second
        retryMode: 'standard',
        // An S3-compatible service may not know the newer checksum headers; ml checks sha256 itself.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        useArnRegion: false,
        useDualstackEndpoint: false,
        useFipsEndpoint: false,
        disableS3ExpressSessionAuth: true,
        authSchemePreference: [],
        sigv4aSigningRegionSet: [],
        userAgentAppId: 'ml',
        requestHandler: {connectionTimeout: this.options.connectTimeoutMs ?? 10_000},
      })
      return {sdk, client}
    })()
    return this.connection
  }

  /** `request`, with what S3 answered as ml's codes; its messages name the store, never a credential. */
  private async send<T>(request: () => Promise<T>, id?: string): Promise<T> {
    try {
      return await request()
    } catch (error) {
      if (error instanceof MlError) throw error
      const e = error as Error & {code?: string; Code?: string; $metadata?: {httpStatusCode?: number}; $fault?: string}
      const name = e.Code ?? e.name
      const status = e.$metadata?.httpStatusCode
      // A HEAD's answer has no body: then the status is all S3 said.
      const said = name === 'Unknown' || !e.message || e.message === 'UnknownError' ? `HTTP ${status}` : `${name}: ${e.message}`
      if (id && (['NoSuchKey', 'NotFound'].includes(name) || status === 404 && name !== 'NoSuchBucket')) throw objectMissing(this.where, id)
      if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AccessDenied', 'Forbidden'].includes(name) || status === 403) {
        throw new MlError('AUTH_FAILED', `The store ${this.where} refused ml's AWS credentials (${said}); check AWS_ACCESS_KEY_ID / AWS_PROFILE and that they may read and write the bucket.`, {cause: error})
      }
      if (isUnreachable(e)) {
        const endpoint = this.options.endpoint || this.options.env.AWS_ENDPOINT_URL_S3 || this.options.env.AWS_ENDPOINT_URL
        throw new MlError('STORE_UNREACHABLE', `Could not reach the store ${this.where}${endpoint ? ` at ${redactUrl(endpoint)}` : ''} (${e.code ?? e.name}); check the network, the endpoint and the region.`, {cause: error})
      }
      throw new MlError('STORE_ERROR', `The store ${this.where} failed (${said}); check the bucket's name and permissions.`, {cause: error})
    }
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE'])

function isUnreachable(error: Error & {code?: string; $metadata?: {httpStatusCode?: number}}): boolean {
  if (error.$metadata?.httpStatusCode) return false
  return NETWORK_CODES.has(error.code ?? '') || error.name === 'TimeoutError' || (error as {errors?: Array<{code?: string}>}).errors?.some((e) => NETWORK_CODES.has(e.code ?? '')) === true
}

/** The keys of section `[name]` of the AWS ini file `file` (none when there is no such file or section). */
async function iniSection(file: string, name: string): Promise<Record<string, string>> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new MlError('AUTH_FAILED', `ml could not read the AWS file ${file} (${(error as Error).message}); fix its permissions or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`)
  }
  const values: Record<string, string> = {}
  let inSection = false
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+|\s+$/g, '')
    if (!line || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[\s*(.+?)\s*\]$/.exec(line)
    if (header) inSection = header[1] === name
    else if (inSection) {
      const eq = line.indexOf('=')
      if (eq > 0) values[line.slice(0, eq).trim().toLowerCase()] = line.slice(eq + 1).trim()
    }
  }
  return values
}
