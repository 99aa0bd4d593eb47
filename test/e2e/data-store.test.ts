import {createHash, randomBytes} from 'node:crypto'
import {promises as fs, readFileSync} from 'node:fs'
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

test.run()
