import {createHash, randomBytes} from 'node:crypto'
import {promises as fs, readFileSync, utimesSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, errorCode, git, ml, ok, tempDir, timedSuite, write} from '../helpers.js'

/**
 * Two machines (two HOMEs) on one bare remote and one folder store: data tracked on A, a large
 * model made on A, and B getting both back byte for byte with `history download` and
 * `restore --with-data`; then a changed data file gives a new input version that diff names.
 */
const test = timedSuite('data-store', 240_000)
test.after.each(cleanup)

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')
const json = async <T>(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> => JSON.parse(ok(await ml(cwd, [...args, '-o', 'json'], env)).stdout) as T
type Run = {runId: string; inputs?: Array<{kind: string; path: string; version: string; files: number}>; outputs: Array<{path: string; sha256?: string}>}

test('a teammate gets the model and the data a run used, byte for byte, from the store', async () => {
  const root = tempDir()
  const a = path.join(root, 'a')
  const homeA = path.join(root, 'homeA')
  const homeB = path.join(root, 'homeB')
  const bare = path.join(root, 'remote.git')
  const store = path.join(root, 'store')
  await Promise.all([fs.mkdir(homeA), fs.mkdir(homeB)])
  git(root, ['init', '-q', '--bare', bare])
  const files: Record<string, Uint8Array | string> = {'train.py': 'import os\nos.makedirs("outputs", exist_ok=True)\nopen("outputs/model.bin", "wb").write(os.urandom(60 * 1024 * 1024))\nprint(len(open("data/part-0.bin", "rb").read()))\n'}
  for (let i = 0; i < 20; i++) files[`data/part-${i}.bin`] = randomBytes(256 * 1024)
  files['data/sub/labels.csv'] = 'a,b\n1,2\n'
  await write(a, files)
  git(a, ['init', '-q'])
  const envA = {HOME: homeA}
  ok(await ml(a, ['project', 'init', '.', '--name', 'teams'], envA))
  ok(await ml(a, ['data', 'track', 'data'], envA))
  ok(await ml(a, ['project', 'update', '-r', bare, '--store', store], envA))
  ok(await ml(a, ['experiment', 'submit', 'train.py'], envA))
  const [first] = await json<Run[]>(a, ['history', 'list'], envA)
  const data = first.inputs!.find((i) => i.kind === 'data')!
  assert.is(data.path, 'data')
  assert.is(data.files, 21)
  const model = first.outputs.find((o) => o.path === 'model.bin')!
  assert.ok(model.sha256, 'the 60 MB model is kept by its sha256, outside the history')
  // submit pushed the store's objects before the history: every one of them is in the store.
  const stored = await fs.readdir(path.join(store, 'sha256'))
  assert.ok(stored.length > 0)

  const envB = {HOME: homeB}
  ok(await ml(root, ['project', 'clone', bare, 'b'], envB))
  const b = path.join(root, 'b')
  const dl = path.join(root, 'download')
  ok(await ml(b, ['history', 'download', first.runId, '--dir', dl], envB))
  assert.is(sha(path.join(dl, 'outputs', 'model.bin')), model.sha256)
  ok(await ml(b, ['project', 'restore', first.runId, '--with-data', '--yes'], envB))
  for (const rel of Object.keys(files).filter((f) => f.startsWith('data/'))) assert.is(sha(path.join(b, rel)), sha(path.join(a, rel)), rel)

  // A changes one data file: the next run reads a new version, and diff names that file.
  await fs.writeFile(path.join(a, 'data', 'part-3.bin'), randomBytes(1000))
  ok(await ml(a, ['experiment', 'submit', 'train.py'], envA))
  const [second] = await json<Run[]>(a, ['history', 'list'], envA)
  const next = second.inputs!.find((i) => i.kind === 'data')!
  assert.is.not(next.version, data.version)
  const diff = ok(await ml(a, ['history', 'diff', first.runId, second.runId], envA)).stdout
  assert.match(diff, 'data/part-3.bin')
  assert.not.match(diff, 'data/part-4.bin')
  const used = await json<Run[]>(a, ['history', 'list', '--input-version', data.version], envA)
  assert.equal(used.map((r) => r.runId), [first.runId])

  // B's undo puts back what its folder held before the restore: no data files.
  ok(await ml(b, ['project', 'restore', '--undo', '--yes'], envB))
  assert.is(await fs.stat(path.join(b, 'data', 'part-0.bin')).catch(() => null), null)
})

test('a restore with data whose files are nowhere to be had changes nothing and says why', async () => {
  const a = tempDir()
  await write(a, {'train.py': 'print(1)\n', 'data/x.csv': 'one\n'})
  ok(await ml(a, ['project', 'init', '.', '--name', 'lonely']))
  ok(await ml(a, ['data', 'track', 'data']))
  ok(await ml(a, ['experiment', 'submit', 'train.py']))
  const [run] = await json<Run[]>(a, ['history', 'list'])
  await fs.writeFile(path.join(a, 'data', 'x.csv'), 'two\n')
  // The only copy of "one" was the file itself: with no store and no cache, it cannot come back.
  await fs.rm(path.join(a, '.ml', 'objects'), {recursive: true, force: true})
  const r = await ml(a, ['project', 'restore', run.runId, '--with-data', '--yes'])
  assert.is(errorCode(r), 'DATA_MISSING')
  assert.is(readFileSync(path.join(a, 'data', 'x.csv'), 'utf8'), 'two\n')
})

/** The ids of the objects in a project's cache. */
async function cachedIds(dir: string): Promise<string[]> {
  const root = path.join(dir, '.ml', 'objects', 'sha256')
  const ids: string[] = []
  for (const prefix of await fs.readdir(root).catch(() => [] as string[])) {
    for (const rest of await fs.readdir(path.join(root, prefix))) ids.push(prefix + rest)
  }
  return ids.sort()
}

test('the object cache keeps under its limit what the store holds, and gc removes only that', async () => {
  const root = tempDir()
  const a = path.join(root, 'a')
  const bare = path.join(root, 'remote.git')
  const store = path.join(root, 'store')
  git(root, ['init', '-q', '--bare', bare])
  const files: Record<string, Uint8Array | string> = {'train.py': 'print(1)\n'}
  for (let i = 0; i < 10; i++) files[`data/f${i}.bin`] = randomBytes(100 * 1024)
  await write(a, files)
  ok(await ml(a, ['project', 'init', '.', '--name', 'bounded']))
  ok(await ml(a, ['data', 'track', 'data']))
  ok(await ml(a, ['project', 'update', '-r', bare, '--store', store]))
  ok(await ml(a, ['experiment', 'submit', 'train.py']))
  for (let i = 0; i < 5; i++) await fs.writeFile(path.join(a, 'data', `f${i}.bin`), randomBytes(100 * 1024))
  ok(await ml(a, ['experiment', 'submit', 'train.py']))
  const [second, first] = await json<Run[]>(a, ['history', 'list'])
  const version = (dir: string) => Array.from({length: 10}, (_, i) => sha(path.join(dir, 'data', `f${i}.bin`))).sort()
  const v2 = version(a)

  ok(await ml(root, ['project', 'clone', bare, 'b']))
  const b = path.join(root, 'b')
  const small = {ML_DATA_CACHE_LIMIT: '300KB'}
  ok(await ml(b, ['project', 'restore', first.runId, '--with-data', '--yes'], small))
  const v1 = version(b)
  assert.equal(await cachedIds(b), v1, 'what a restore needs is fetched whatever the limit')
  ok(await ml(b, ['project', 'restore', second.runId, '--with-data', '--yes'], small))
  assert.equal(version(b), v2)
  // Room was made before the second version's five new files came: the first version's went
  // (the store holds them), and the restore's backup then kept the five it replaced from the folder.
  const either = [...v1.filter((id) => !v2.includes(id)), ...v2.filter((id) => !v1.includes(id))].sort()
  assert.is(either.length, 10)
  assert.equal(await cachedIds(b), either)

  const dry = ok(await ml(b, ['data', 'gc', '--max-size', '0', '--dry-run']))
  assert.match(dry.stdout, /Would remove 10 objects/)
  assert.equal(await cachedIds(b), either, 'a dry run removes nothing')
  // One object the store loses: gc keeps the cache's copy, the only one left, and says so.
  const lost = v2.find((id) => !v1.includes(id))!
  await fs.rm(path.join(store, 'sha256', lost.slice(0, 2), lost.slice(2)))
  const gc = ok(await ml(b, ['data', 'gc', '--max-size', '0']))
  assert.match(gc.stdout, /Removed 9 objects/)
  assert.match(gc.stderr, /1 object .* stay over the limit because the store lacks them/)
  assert.equal(await cachedIds(b), [lost])

  // What gc removed comes back from the store when it is needed.
  ok(await ml(b, ['project', 'restore', first.runId, '--with-data', '--yes']))
  assert.equal(version(b), v1)

  assert.is(errorCode(await ml(b, ['data', 'gc'], {ML_DATA_CACHE_LIMIT: 'lots'})), 'INVALID_ARGUMENT')
  assert.is(errorCode(await ml(b, ['data', 'gc', '--max-size', '1PB'])), 'INVALID_ARGUMENT')
  assert.match(ok(await ml(a, ['data', 'gc'])).stdout, /nothing to remove/)
})

test('without a store, gc removes what no run or backup names, and keeps the data of a backup', async () => {
  const a = tempDir()
  await write(a, {'train.py': 'print(1)\n', 'data/x.csv': 'one\n'})
  ok(await ml(a, ['project', 'init', '.', '--name', 'alone']))
  ok(await ml(a, ['data', 'track', 'data']))
  ok(await ml(a, ['experiment', 'submit', 'train.py']))
  await fs.writeFile(path.join(a, 'data', 'y.csv'), 'only here\n')
  ok(await ml(a, ['experiment', 'submit', 'train.py']))
  const [, first] = await json<Run[]>(a, ['history', 'list'])
  // The restore removes y.csv and keeps it in the cache for its backup: the only copy left.
  ok(await ml(a, ['project', 'restore', first.runId, '--with-data', '--yes']))
  const y = createHash('sha256').update('only here\n').digest('hex')
  assert.equal(await cachedIds(a), [y])
  // An object nothing names, unused for two hours (a run deleted by hand, say), and one just written.
  const stray = createHash('sha256').update('stray\n').digest('hex')
  const fresh = createHash('sha256').update('fresh\n').digest('hex')
  for (const [id, text] of [[stray, 'stray\n'], [fresh, 'fresh\n']]) {
    const file = path.join(a, '.ml', 'objects', 'sha256', id.slice(0, 2), id.slice(2))
    await fs.mkdir(path.dirname(file), {recursive: true})
    await fs.writeFile(file, text)
  }
  const old = new Date(Date.now() - 2 * 3600_000)
  utimesSync(path.join(a, '.ml', 'objects', 'sha256', stray.slice(0, 2), stray.slice(2)), old, old)

  const gc = ok(await ml(a, ['data', 'gc', '--max-size', '0']))
  assert.match(gc.stdout, /Removed 1 object \(6 B\) that no run or backup names; 2 objects/)
  assert.match(gc.stderr, /2 objects .* stay over the limit: the project has no artifact store/)
  assert.equal(await cachedIds(a), [fresh, y].sort(), 'what was written a moment ago may be a run ending: it stays')
  ok(await ml(a, ['project', 'restore', '--undo', '--yes']))
  assert.is(readFileSync(path.join(a, 'data', 'y.csv'), 'utf8'), 'only here\n')
})

/** Every object in a folder store, checked to hash to its name. */
async function storeObjects(store: string): Promise<string[]> {
  const ids: string[] = []
  for (const prefix of await fs.readdir(path.join(store, 'sha256'))) {
    for (const rest of await fs.readdir(path.join(store, 'sha256', prefix))) {
      assert.is(sha(path.join(store, 'sha256', prefix, rest)), prefix + rest, 'an object holds the bytes of its id')
      ids.push(prefix + rest)
    }
  }
  return ids.sort()
}

test('data push sends only the bytes runs read; data pull writes what the folder lacks and leaves the rest', async () => {
  const root = tempDir()
  const a = path.join(root, 'a')
  const bare = path.join(root, 'remote.git')
  const store = path.join(root, 'store')
  git(root, ['init', '-q', '--bare', bare])
  await write(a, {'train.py': 'print(1)\n', 'data/run.sh': '#!/bin/sh\necho hi\n', 'data/x.csv': 'x1\n', 'data/deep/y.csv': 'y1\n', 'data/deep/z.bin': 'z1\n'})
  await fs.chmod(path.join(a, 'data', 'run.sh'), 0o755)
  ok(await ml(a, ['project', 'init', '.', '--name', 'pulls']))
  ok(await ml(a, ['data', 'track', 'data']))
  ok(await ml(a, ['project', 'update', '-r', bare]))
  ok(await ml(a, ['experiment', 'submit', 'train.py']))
  // x.csv changes after the run read it, to bytes of the same size: it cannot be sent as what the run read.
  await fs.writeFile(path.join(a, 'data', 'x.csv'), 'x2\n')
  ok(await ml(a, ['project', 'update', '--store', store]))
  const push = ok(await ml(a, ['data', 'push']))
  assert.match(push.stdout, /Sent 3 files/)
  assert.match(push.stderr, /1 file the runs read changed/)
  const sums = ['#!/bin/sh\necho hi\n', 'y1\n', 'z1\n'].map((t) => createHash('sha256').update(t).digest('hex')).sort()
  assert.equal(await storeObjects(store), sums)
  ok(await ml(a, ['history', 'push']))

  ok(await ml(root, ['project', 'clone', bare, 'b']))
  const b = path.join(root, 'b')
  await write(b, {'data/deep/y.csv': 'mine\n'})
  // The store lacks x1: the pull says so before it writes anything.
  const lacking = await ml(b, ['data', 'pull'])
  assert.is(errorCode(lacking), 'DATA_MISSING')
  assert.is(await fs.stat(path.join(b, 'data', 'run.sh')).catch(() => null), null, 'nothing written')

  await fs.writeFile(path.join(a, 'data', 'x.csv'), 'x1\n')
  ok(await ml(a, ['data', 'push']))
  const pull = ok(await ml(b, ['data', 'pull']))
  assert.match(pull.stdout, /wrote 3 data files/)
  assert.match(pull.stderr, /1 file of the folder differ.*data\/deep\/y\.csv/)
  for (const rel of ['data/run.sh', 'data/x.csv', 'data/deep/z.bin']) assert.is(sha(path.join(b, rel)), sha(path.join(a, rel)), rel)
  assert.is((await fs.stat(path.join(b, 'data', 'run.sh'))).mode & 0o777, 0o755)
  assert.is(readFileSync(path.join(b, 'data', 'deep', 'y.csv'), 'utf8'), 'mine\n', 'a file the folder has is left as it is')
  const y1 = createHash('sha256').update('y1\n').digest('hex')
  assert.equal(await cachedIds(b), [y1], 'what the folder lacked came straight into it; what it has other bytes of is kept for a restore')

  // A store that gives other bytes: nothing in place, no temporary file left.
  const z = createHash('sha256').update('z1\n').digest('hex')
  await fs.writeFile(path.join(store, 'sha256', z.slice(0, 2), z.slice(2)), 'z2\n')
  await fs.rm(path.join(b, 'data', 'deep', 'z.bin'))
  assert.is(errorCode(await ml(b, ['data', 'pull'])), 'STORE_CORRUPT')
  assert.equal(await fs.readdir(path.join(b, 'data', 'deep')), ['y.csv'])

  // A link where a data folder must go is not followed out of the project.
  const outside = tempDir()
  await fs.rm(path.join(b, 'data', 'deep'), {recursive: true})
  await fs.symlink(outside, path.join(b, 'data', 'deep'))
  assert.is(errorCode(await ml(b, ['data', 'pull'])), 'UNSAFE_PATH')
  assert.equal(await fs.readdir(outside), [])
})

test.run()
