import {createHash, randomBytes} from 'node:crypto'
import {promises as fs, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {type ArtifactStore, openStore, type StoreOptions} from '../../src/store/artifact-store.js'
import {cleanup, tempDir, thrownAsync, timedSuite} from '../helpers.js'
import {startS3Server} from '../s3-server.js'
import {freePort, startSshd} from '../servers.js'

const test = timedSuite('store-servers')
const closers: Array<() => Promise<void> | void> = []
test.after.each(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await cleanup()
})

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

async function localFiles(datas: Buffer[]): Promise<Array<{id: string; size: number; file: string}>> {
  const dir = tempDir()
  return Promise.all(datas.map(async (data, i) => {
    const file = path.join(dir, `f${i}`)
    await fs.writeFile(file, data)
    return {id: sha256(data), size: data.length, file}
  }))
}

/** Puts `files`, checks has, gets each back into a fresh folder and compares. */
async function roundTrip(store: ArtifactStore, files: Array<{id: string; size: number; file: string}>): Promise<void> {
  const absent = sha256(Buffer.from('never put'))
  assert.equal(await store.has([...files.map((f) => f.id), absent]), new Set())
  await Promise.all(files.map((f) => store.put(f.id, f.file, f.size)))
  assert.equal(await store.has([...files.map((f) => f.id), absent]), new Set(files.map((f) => f.id)))
  const out = tempDir()
  await Promise.all(files.map((f) => store.get(f.id, path.join(out, f.id), f.size)))
  for (const f of files) assert.ok((await fs.readFile(path.join(out, f.id))).equals(await fs.readFile(f.file)), `${f.size} bytes back`)
  assert.is(readdirSync(out).length, files.length, 'no temp file left')
  await thrownAsync(() => store.get(absent, path.join(out, 'absent'), 1), 'DATA_MISSING')
}

/** sshd and a temp HOME whose known_hosts has its key; the store's folder on the "host". */
async function sshSetup(): Promise<{options: StoreOptions; url: string; root: string; port: number}> {
  const sshd = await startSshd()
  closers.push(() => sshd.close())
  const home = tempDir('ml-home-')
  await fs.mkdir(path.join(home, '.ssh'))
  writeFileSync(path.join(home, '.ssh', 'known_hosts'), sshd.knownHostsLine)
  const root = path.join(tempDir('ml-host-'), 'store')
  return {options: {baseDir: home, home, env: {SSH_AUTH_SOCK: '', ML_SSH_KEY: sshd.userKey}}, url: sshd.url(root), root, port: sshd.port}
}

async function openSsh(): Promise<{store: ArtifactStore; root: string; url: string; options: StoreOptions}> {
  const setup = await sshSetup()
  const store = await openStore(setup.url, setup.options)
  closers.push(() => store.close())
  return {store, ...setup}
}

const objectPath = (root: string, id: string) => path.join(root, 'sha256', id.slice(0, 2), id.slice(2))

test('ssh: round trip of empty, small and multi-MB files; has of many ids by listing', async () => {
  const {store, root} = await openSsh()
  const files = await localFiles([Buffer.alloc(0), Buffer.from('hello\n'), randomBytes(6 * 1024 * 1024 + 3), ...Array.from({length: 40}, (_, i) => Buffer.from(`small ${i}`))])
  await roundTrip(store, files)
  assert.ok((await fs.readFile(objectPath(root, files[2].id))).equals(await fs.readFile(files[2].file)), 'at sha256/ab/cdef... on the host')
  // A leftover temp file on the host is not an object, by stat or by listing.
  const g = sha256(Buffer.from('leftover'))
  await fs.mkdir(path.dirname(objectPath(root, g)), {recursive: true})
  await fs.writeFile(path.join(path.dirname(objectPath(root, g)), `.${g.slice(2)}.ml-tmp-0123456789ab`), 'leftover')
  assert.equal(await store.has([g]), new Set())
  assert.equal((await store.has([g, ...files.map((f) => f.id)])).has(g), false)
})

test('ssh: a damaged object is STORE_CORRUPT and leaves nothing at dest; a changed source is DATA_CORRUPT and leaves no object', async () => {
  const {store, root} = await openSsh()
  const [f] = await localFiles([randomBytes(500_000)])
  await store.put(f.id, f.file, f.size)
  const data = await fs.readFile(f.file)
  for (const bytes of [Buffer.concat([Buffer.from([data[0] ^ 1]), data.subarray(1)]), data.subarray(1), Buffer.concat([data, Buffer.from('x')])]) {
    await fs.writeFile(objectPath(root, f.id), bytes)
    const out = tempDir()
    await thrownAsync(() => store.get(f.id, path.join(out, 'dest'), f.size), 'STORE_CORRUPT')
    assert.equal(readdirSync(out), [])
  }
  const [g] = await localFiles([randomBytes(2 * 1024 * 1024)])
  await fs.writeFile(g.file, randomBytes(g.size))
  await thrownAsync(() => store.put(g.id, g.file, g.size), 'DATA_CORRUPT')
  assert.equal(await store.has([g.id]), new Set())
  assert.equal(readdirSync(path.dirname(objectPath(root, g.id))), [], 'no object and no temp file on the host')
})

test('ssh: two puts of one id at once (two connections) both succeed', async () => {
  const {store, root, url, options} = await openSsh()
  const other = await openStore(url, options)
  closers.push(() => other.close())
  const [f] = await localFiles([randomBytes(3 * 1024 * 1024)])
  await Promise.all([store.put(f.id, f.file, f.size), other.put(f.id, f.file, f.size)])
  assert.ok((await fs.readFile(objectPath(root, f.id))).equals(await fs.readFile(f.file)))
  assert.equal(readdirSync(path.dirname(objectPath(root, f.id))), [f.id.slice(2)])
})

test('ssh: an unknown host key is HOST_KEY_UNKNOWN; a port nobody listens on is STORE_UNREACHABLE, fast', async () => {
  const {options, url} = await sshSetup()
  await fs.writeFile(path.join(options.home, '.ssh', 'known_hosts'), '')
  await thrownAsync(() => openStore(url, options), 'HOST_KEY_UNKNOWN')
  const nobody = await freePort()
  const started = Date.now()
  const error = await thrownAsync(() => openStore(`ssh://127.0.0.1:${nobody}/srv/store`, options), 'STORE_UNREACHABLE')
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`)
  assert.match(error.message, '127.0.0.1')
})

test('ssh: a Host alias of ~/.ssh/config names the store, as ssh://ALIAS/path and ALIAS:path', async () => {
  const sshd = await startSshd()
  closers.push(() => sshd.close())
  const home = tempDir('ml-home-')
  await fs.mkdir(path.join(home, '.ssh'))
  const knownHosts = path.join(home, 'store-hosts')
  writeFileSync(knownHosts, sshd.knownHostsLine)
  writeFileSync(path.join(home, '.ssh', 'config'), `Host team-store\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  IdentityFile ${sshd.userKey}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${knownHosts}\n`)
  const options: StoreOptions = {baseDir: home, home, env: {SSH_AUTH_SOCK: '', ML_SSH_KEY: ''}}
  const root = path.join(tempDir('ml-host-'), 'store')
  const store = await openStore(`ssh://team-store${root}`, options)
  closers.push(() => store.close())
  const files = await localFiles([Buffer.from('by alias\n')])
  await roundTrip(store, files)
  const scpLike = await openStore(`team-store:${root}`, options)
  closers.push(() => scpLike.close())
  assert.equal(await scpLike.has(files.map((f) => f.id)), new Set(files.map((f) => f.id)))
})

/** s3rver with a bucket, and a store on it under `prefix`. */
async function openS3(prefix = 'team/data', env?: NodeJS.ProcessEnv) {
  const s3 = await startS3Server()
  closers.push(() => s3.close())
  const home = tempDir('ml-home-')
  const store = await openStore(`s3://${s3.bucket}/${prefix}`, {baseDir: home, home, env: env ?? s3.env, endpoint: s3.endpoint})
  closers.push(() => store.close())
  return {s3, store, home}
}

test('s3: round trip with a prefix, a large file through multipart, objects at <prefix>/sha256/ab/cdef...', async () => {
  const {s3, store} = await openS3()
  const files = await localFiles([Buffer.alloc(0), Buffer.from('hello\n'), randomBytes(21 * 1024 * 1024 + 5), ...Array.from({length: 20}, (_, i) => Buffer.from(`small ${i}`))])
  await roundTrip(store, files)
  const large = `team/data/sha256/${files[2].id.slice(0, 2)}/${files[2].id.slice(2)}`
  assert.ok((await fs.readFile(s3.objectFile(large))).equals(await fs.readFile(files[2].file)))
  assert.equal(s3.created.filter((c) => c.key === large).map((c) => c.how), ['ObjectCreated:Post'], 'the large file went as a multipart upload')
  assert.is(s3.created.filter((c) => c.how === 'ObjectCreated:Put').length, files.length - 1, 'the others each in one PUT')
})

test('s3: a damaged, truncated or grown object is STORE_CORRUPT; a changed source is DATA_CORRUPT and uploads nothing', async () => {
  const {s3, store} = await openS3('')
  const [f] = await localFiles([randomBytes(400_000)])
  await store.put(f.id, f.file, f.size)
  const data = await fs.readFile(f.file)
  const file = s3.objectFile(`sha256/${f.id.slice(0, 2)}/${f.id.slice(2)}`)
  for (const bytes of [Buffer.concat([Buffer.from([data[0] ^ 1]), data.subarray(1)]), data.subarray(1), Buffer.concat([data, Buffer.from('x')])]) {
    await fs.writeFile(file, bytes)
    const out = tempDir()
    await thrownAsync(() => store.get(f.id, path.join(out, 'dest'), f.size), 'STORE_CORRUPT')
    assert.equal(readdirSync(out), [])
  }
  for (const size of [1024, 12 * 1024 * 1024]) {
    const [g] = await localFiles([randomBytes(size)])
    await fs.writeFile(g.file, randomBytes(g.size))
    await thrownAsync(() => store.put(g.id, g.file, g.size), 'DATA_CORRUPT')
    assert.equal(await store.has([g.id]), new Set(), `${size} bytes: nothing visible`)
  }
})

test('s3: two puts of one id at once both succeed', async () => {
  const {store} = await openS3()
  const [f] = await localFiles([randomBytes(2 * 1024 * 1024)])
  await Promise.all([store.put(f.id, f.file, f.size), store.put(f.id, f.file, f.size)])
  assert.equal(await store.has([f.id]), new Set([f.id]))
})

test('s3: credentials come from options.env or the AWS files under options.home, never process.env', async () => {
  const {s3, home} = await openS3()
  await fs.mkdir(path.join(home, '.aws'))
  await fs.writeFile(path.join(home, '.aws', 'credentials'), '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n')
  const store = await openStore(`s3://${s3.bucket}/p`, {baseDir: home, home, env: {}, endpoint: s3.endpoint})
  closers.push(() => store.close())
  assert.equal(await store.has([sha256(Buffer.from('x'))]), new Set())
  const none = await openStore(`s3://${s3.bucket}/p`, {baseDir: home, home: tempDir(), env: {}, endpoint: s3.endpoint})
  const error = await thrownAsync(() => none.has([sha256(Buffer.from('x'))]), 'AUTH_FAILED')
  assert.match(error.message, 'AWS_ACCESS_KEY_ID')
})

// s3rver checks the access key id but not a SigV4 signature: a wrong secret alone passes there.
test('s3: an access key the service does not know is AUTH_FAILED, on HEAD, list and GET, without the secret in the message', async () => {
  const {store} = await openS3('p', {AWS_ACCESS_KEY_ID: 'UNKNOWNKEY', AWS_SECRET_ACCESS_KEY: 'secret-123'})
  const ids = Array.from({length: 20}, (_, i) => sha256(Buffer.from(String(i))))
  for (const attempt of [() => store.has(ids.slice(0, 1)), () => store.has(ids), () => store.get(ids[0], path.join(tempDir(), 'x'), 1)]) {
    const error = await thrownAsync(attempt, 'AUTH_FAILED')
    assert.not.match(error.message, 'secret-123')
  }
})

test('s3: an endpoint nobody listens on is STORE_UNREACHABLE, fast', async () => {
  const home = tempDir('ml-home-')
  const store = await openStore('s3://bucket/p', {baseDir: home, home, env: {AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b'}, endpoint: `http://127.0.0.1:${await freePort()}`})
  const started = Date.now()
  await thrownAsync(() => store.has([sha256(Buffer.from('x'))]), 'STORE_UNREACHABLE')
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`)
  await store.close()
})

test.run()
