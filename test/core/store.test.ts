import {execFileSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, promises as fs, readdirSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {type ArtifactStore, isStoreTempFile, openStore, parseStoreUrl} from '../../src/store/artifact-store.js'
import {cleanup, tempDir, thrown, thrownAsync, timedSuite} from '../helpers.js'

const test = timedSuite('store')
const mounts: string[] = []
test.after.each(async () => {
  for (const dir of mounts.splice(0)) execFileSync('umount', [dir])
  await cleanup()
})

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** A folder store in a temp dir, and a local folder of files to put. */
async function folderStore(): Promise<{store: ArtifactStore; root: string; local: string}> {
  const base = tempDir()
  const store = await openStore('store', {baseDir: base, home: base, env: {}})
  return {store, root: path.join(base, 'store'), local: tempDir()}
}

/** Writes `data` into `dir` and returns its id, size and path. */
async function localFile(dir: string, data: Buffer): Promise<{id: string; size: number; file: string}> {
  const file = path.join(dir, `f-${randomBytes(4).toString('hex')}`)
  await fs.writeFile(file, data)
  return {id: sha256(data), size: data.length, file}
}

const objectFile = (root: string, id: string) => path.join(root, 'sha256', id.slice(0, 2), id.slice(2))

test('the folder store puts, tells and gets back empty, small and multi-MB files, at sha256/ab/cdef...', async () => {
  const {store, root, local} = await folderStore()
  const files = await Promise.all([Buffer.alloc(0), Buffer.from('hello\n'), randomBytes(5 * 1024 * 1024 + 17)].map((data) => localFile(local, data)))
  const absent = sha256(Buffer.from('never put'))
  assert.equal(await store.has([...files.map((f) => f.id), absent]), new Set(), 'a store whose root does not exist yet holds nothing')
  let sent = 0
  for (const f of files) await store.put(f.id, f.file, f.size, (n) => (sent += n))
  assert.is(sent, files.reduce((sum, f) => sum + f.size, 0))
  for (const f of files) assert.ok(existsSync(objectFile(root, f.id)), 'the object is at its fan-out path')
  assert.equal(await store.has([...files.map((f) => f.id), absent]), new Set(files.map((f) => f.id)))
  const out = tempDir()
  for (const f of files) {
    const dest = path.join(out, f.id)
    await store.get(f.id, dest, f.size)
    assert.ok((await fs.readFile(dest)).equals(await fs.readFile(f.file)))
  }
  assert.equal(readdirSync(out).sort(), files.map((f) => f.id).sort(), 'no temp file is left beside the files got')
  await thrownAsync(() => store.get(absent, path.join(out, 'absent'), 3), 'DATA_MISSING')
  await store.close()
})

test('a get from a folder store whose root does not exist is DATA_MISSING', async () => {
  const {store} = await folderStore()
  await thrownAsync(() => store.get(sha256(Buffer.from('x')), path.join(tempDir(), 'x'), 1), 'DATA_MISSING')
})

test('an object changed, truncated or grown in the store is STORE_CORRUPT and leaves nothing at dest', async () => {
  const {store, root, local} = await folderStore()
  const data = randomBytes(300_000)
  const f = await localFile(local, data)
  await store.put(f.id, f.file, f.size)
  const damages: Array<[string, Buffer]> = [
    ['one byte changed', Buffer.concat([data.subarray(0, 1000), Buffer.from([data[1000] ^ 1]), data.subarray(1001)])],
    ['truncated', data.subarray(0, data.length - 1)],
    ['one byte more', Buffer.concat([data, Buffer.from('x')])],
  ]
  for (const [what, bytes] of damages) {
    await fs.writeFile(objectFile(root, f.id), bytes)
    const out = tempDir()
    const error = await thrownAsync(() => store.get(f.id, path.join(out, 'dest'), f.size), 'STORE_CORRUPT')
    assert.match(error.message, f.id, what)
    assert.equal(readdirSync(out), [], `${what}: nothing at dest, no temp file`)
  }
})

test('a put whose source is not the bytes of its id (changed meanwhile) is DATA_CORRUPT and leaves no object, nor a temp file', async () => {
  const {store, root, local} = await folderStore()
  const f = await localFile(local, randomBytes(3 * 1024 * 1024))
  await fs.writeFile(f.file, randomBytes(f.size)) // the same size, other bytes
  const error = await thrownAsync(() => store.put(f.id, f.file, f.size), 'DATA_CORRUPT')
  assert.match(error.message, f.file)
  await fs.appendFile(f.file, 'more')
  await thrownAsync(() => store.put(f.id, f.file, f.size), 'DATA_CORRUPT')
  assert.equal(await store.has([f.id]), new Set())
  assert.equal(readdirSync(path.dirname(objectFile(root, f.id))), [], 'no object and no temp file in the fan-out folder')
})

test('two puts of one id at once both succeed, and an object already there is not written again', async () => {
  const {store, root, local} = await folderStore()
  const other = await openStore(root, {baseDir: '/', home: '/', env: {}})
  const f = await localFile(local, randomBytes(4 * 1024 * 1024))
  await Promise.all([store.put(f.id, f.file, f.size), other.put(f.id, f.file, f.size)])
  assert.ok((await fs.readFile(objectFile(root, f.id))).equals(await fs.readFile(f.file)))
  assert.equal(readdirSync(path.dirname(objectFile(root, f.id))), [f.id.slice(2)])
  const before = (await fs.stat(objectFile(root, f.id))).mtimeMs
  let sent = 0
  await store.put(f.id, f.file, f.size, (n) => (sent += n))
  assert.is(sent, 0)
  assert.is((await fs.stat(objectFile(root, f.id))).mtimeMs, before)
})

test('has counts only whole objects: a leftover temp file of a killed transfer is not one, and isStoreTempFile tells it', async () => {
  const {store, root, local} = await folderStore()
  const f = await localFile(local, Buffer.from('data'))
  await store.put(f.id, f.file, f.size)
  const g = await localFile(local, Buffer.from('other'))
  const leftover = path.join(path.dirname(objectFile(root, g.id)), `.${g.id.slice(2)}.ml-tmp-0123456789ab`)
  await fs.mkdir(path.dirname(leftover), {recursive: true})
  await fs.writeFile(leftover, 'other')
  assert.equal(await store.has([f.id, g.id]), new Set([f.id]))
  assert.ok(isStoreTempFile(leftover))
  assert.not.ok(isStoreTempFile(objectFile(root, f.id)))
  assert.not.ok(isStoreTempFile('.model.bin'))
})

test('an id that is not 64 lowercase hex is refused before any path is made of it', async () => {
  const {store, local} = await folderStore()
  const f = await localFile(local, Buffer.from('x'))
  for (const id of ['../../etc/passwd', f.id.toUpperCase(), f.id.slice(1), `${f.id}/..`]) {
    await thrownAsync(() => store.put(id, f.file, f.size), 'INVALID_ARGUMENT')
    await thrownAsync(() => store.get(id, path.join(local, 'out'), 1), 'INVALID_ARGUMENT')
    await thrownAsync(() => store.has([id]), 'INVALID_ARGUMENT')
  }
})

test('parseStoreUrl accepts folders, file:, ssh:, scp-like and s3: URLs', () => {
  const cases: Array<[string, ReturnType<typeof parseStoreUrl>]> = [
    ['/mnt/shared/store', {kind: 'folder', path: '/mnt/shared/store'}],
    ['store', {kind: 'folder', path: '/work/p/store'}],
    ['../shared', {kind: 'folder', path: '/work/shared'}],
    ['file:///mnt/a%20b', {kind: 'folder', path: '/mnt/a b'}],
    ['ssh://me@host.example:2222/srv/store', {kind: 'ssh', user: 'me', host: 'host.example', port: 2222, path: '/srv/store'}],
    ['ssh://host/srv/store', {kind: 'ssh', host: 'host', path: '/srv/store'}],
    ['ssh://host/~/store', {kind: 'ssh', host: 'host', path: 'store'}],
    ['me@host:store', {kind: 'ssh', user: 'me', host: 'host', path: 'store'}],
    ['host:/srv/store', {kind: 'ssh', host: 'host', path: '/srv/store'}],
    ['s3://my-bucket/team/data/', {kind: 's3', bucket: 'my-bucket', prefix: 'team/data'}],
    ['s3://my.bucket', {kind: 's3', bucket: 'my.bucket', prefix: ''}],
  ]
  for (const [url, expected] of cases) assert.equal(parseStoreUrl(url, '/work/p'), expected, url)
})

test('parseStoreUrl refuses secrets, queries, fragments, unknown schemes and bad bucket names (INVALID_ARGUMENT)', () => {
  const refused: Array<[string, RegExp]> = [
    ['ssh://u:pw@h/p', /secret/],
    ['s3://KEY:SECRET@bucket/p', /secret/],
    ['s3://AKIAKEY@bucket/p', /access key/],
    ['s3://bucket/p?versionId=1', /query/],
    ['ssh://h/p#frag', /query string or fragment/],
    ['https://example.com/store', /scheme "https"/],
    ['s3://Bad_Bucket/p', /bucket name/],
    ['s3://ab/p', /bucket name/],
    ['s3://192.168.1.1/p', /bucket name/],
    ['s3://bucket/a/../b', /prefix/],
    ['s3://bucket:9000/p', /port/],
    ['ssh://h', /folder/],
    ['', /empty/],
  ]
  for (const [url, reason] of refused) {
    const error = thrown(() => parseStoreUrl(url, '/work/p'), 'INVALID_ARGUMENT')
    assert.match(error.message, reason, url)
    assert.not.match(error.message, /SECRET|pw@/, `${url}: the message does not repeat the secret`)
  }
})

const isRoot = process.getuid?.() === 0
;(isRoot ? test : test.skip)(`a get into a full disk (a 2 MB tmpfs) leaves no file at dest and no temp file${isRoot ? '' : ' (skipped: needs root to mount a tmpfs)'}`, async () => {
  const {store, local} = await folderStore()
  const f = await localFile(local, randomBytes(3 * 1024 * 1024))
  await store.put(f.id, f.file, f.size)
  const small = tempDir()
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small])
  mounts.push(small)
  const error = await store.get(f.id, path.join(small, 'dest'), f.size).then(() => null, (e: NodeJS.ErrnoException) => e)
  assert.is(error?.code, 'ENOSPC')
  assert.equal(readdirSync(small), [])
})

test.run()
