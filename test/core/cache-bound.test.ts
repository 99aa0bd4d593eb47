import {createHash, randomBytes} from 'node:crypto'
import {existsSync, promises as fs, utimesSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {boundCache, cachedObjects, UNNEEDED_GRACE_MS} from '../../src/core/data/cache-bound.js'
import {cachedPath, keepInCache, objectCache, type ObjectCache, usedObject} from '../../src/core/data/object-cache.js'
import {openStore} from '../../src/store/artifact-store.js'
import {parseBytes} from '../../src/shared/format-bytes.js'
import {cleanup, tempDir, timedSuite} from '../helpers.js'

const test = timedSuite('cache-bound')
test.after.each(cleanup)

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** A cache with `count` objects of `size` bytes, written (and so used) a minute apart, oldest first. */
async function filledCache(count: number, size: number): Promise<{cache: ObjectCache; ids: string[]; dir: string}> {
  const dir = tempDir()
  const cache = objectCache(dir)
  const ids: string[] = []
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `f${i}`)
    await fs.writeFile(file, randomBytes(size))
    const id = (await keepInCache(cache, file))!
    const when = new Date(Date.now() - (count - i) * 60_000)
    utimesSync(cachedPath(cache, id), when, when)
    ids.push(id)
  }
  return {cache, ids, dir}
}

test('sizes are read as people write them, in powers of 1024', () => {
  assert.is(parseBytes('0'), 0)
  assert.is(parseBytes('20GB'), 20 * 1024 ** 3)
  assert.is(parseBytes('500 MB'), 500 * 1024 ** 2)
  assert.is(parseBytes('1.5k'), 1536)
  assert.is(parseBytes('7MiB'), 7 * 1024 ** 2)
  assert.is(parseBytes('12'), 12)
  for (const bad of ['', 'GB', '-1GB', '1 PB', '1e3', '1GBs']) assert.is(parseBytes(bad), null, bad)
})

test('a cache over its limit loses what the store holds, least recently used first; what the store lacks stays', async () => {
  const {cache, ids, dir} = await filledCache(5, 1000)
  const store = await openStore('store', {baseDir: dir, home: dir, env: {}})
  // The store holds all but the oldest; the second oldest was used just now.
  for (const id of ids.slice(1)) await store.put(id, cachedPath(cache, id), 1000)
  assert.ok(usedObject(cache, ids[1]))
  // A write under way is not an object.
  await fs.writeFile(path.join(path.dirname(cachedPath(cache, ids[2])), '.partial.ml-tmp-0000'), 'x')

  assert.equal(await boundCache(cache, store, 5000), {removed: 0, bytesRemoved: 0, unneeded: 0, bytesUnneeded: 0, kept: 5, bytesKept: 5000, notInStore: 0, bytesNotInStore: 0}, 'within the limit, nothing goes')
  const dry = await boundCache(cache, store, 2500, {dryRun: true})
  assert.is(dry.removed, 3)
  assert.ok(ids.every((id) => existsSync(cachedPath(cache, id))), 'a dry run removes nothing')

  const result = await boundCache(cache, store, 2500)
  assert.equal(result, {removed: 3, bytesRemoved: 3000, unneeded: 0, bytesUnneeded: 0, kept: 2, bytesKept: 2000, notInStore: 1, bytesNotInStore: 1000})
  assert.equal(ids.map((id) => existsSync(cachedPath(cache, id))), [true, true, false, false, false], 'the oldest stays (only the cache has it), and the one used just now')
  assert.equal((await cachedObjects(cache)).map((o) => o.id).sort(), [ids[0], ids[1]].sort())

  const all = await boundCache(cache, store, 0, {keep: new Set()})
  assert.equal(ids.map((id) => existsSync(cachedPath(cache, id))), [true, false, false, false, false])
  assert.is(all.bytesKept, 1000)
  await store.close()
})

test('what the caller is about to use stays, whatever the limit', async () => {
  const {cache, ids, dir} = await filledCache(3, 100)
  const store = await openStore('store', {baseDir: dir, home: dir, env: {}})
  for (const id of ids) await store.put(id, cachedPath(cache, id), 100)
  const result = await boundCache(cache, store, 0, {keep: new Set([ids[0]])})
  assert.is(result.removed, 2)
  assert.ok(existsSync(cachedPath(cache, ids[0])))
  assert.is(sha256(await fs.readFile(cachedPath(cache, ids[0]))), ids[0])
  await store.close()
})

test('what nothing needs goes first, whatever the store, once unused for the grace period; without a store the rest stays', async () => {
  const {cache, ids} = await filledCache(4, 100)
  // ids[0] and ids[1] are needed; ids[2] and ids[3], used two minutes and one minute ago, are not.
  const now = Date.now()
  const needed = new Set([ids[0], ids[1]])
  const late = await boundCache(cache, null, 0, {needed, now: now + UNNEEDED_GRACE_MS - 90_000, dryRun: true})
  assert.is(late.unneeded, 1, 'only the one unused for longer than the grace period')
  const result = await boundCache(cache, null, 0, {needed, now: now + UNNEEDED_GRACE_MS})
  assert.equal(result, {removed: 2, bytesRemoved: 200, unneeded: 2, bytesUnneeded: 200, kept: 2, bytesKept: 200, notInStore: 2, bytesNotInStore: 200})
  assert.equal(ids.map((id) => existsSync(cachedPath(cache, id))), [true, true, false, false])
})

test.run()
