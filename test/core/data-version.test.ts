import {execFileSync} from 'node:child_process'
import {chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, writeSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {dataVersions} from '../../src/core/data/data-version.js'
import {diffManifests, formatManifest, type Manifest, manifestId, manifestTotals, parseManifest} from '../../src/core/data/manifest.js'
import {mlPath} from '../../src/core/project/layout.js'
import {cleanup, tempDir, thrown, thrownAsync, timedSuite} from '../helpers.js'

const test = timedSuite('data-version')
test.after.each(cleanup)

const SHA = (c: string) => c.repeat(64)

const sample: Manifest = {
  root: 'data',
  entries: [
    {path: 'data/a.csv', size: 3, mode: 0o100644, sha256: SHA('a')},
    {path: 'data/b/run.sh', size: 10, mode: 0o100755, sha256: SHA('b')},
    {path: 'data/c', link: '../elsewhere'},
  ],
}

test('a manifest is one header line and one canonical line per entry, and parses back to itself', () => {
  const text = formatManifest(sample)
  assert.is(text, [
    '{"schema":1,"root":"data"}',
    `{"path":"data/a.csv","size":3,"mode":33188,"sha256":"${SHA('a')}"}`,
    `{"path":"data/b/run.sh","size":10,"mode":33261,"sha256":"${SHA('b')}"}`,
    '{"path":"data/c","link":"../elsewhere"}',
    '',
  ].join('\n'))
  assert.equal(parseManifest(text, 'test', manifestId(text)), sample)
  assert.equal(parseManifest(formatManifest({root: 'x.bin', entries: []}), 'test'), {root: 'x.bin', entries: []})
  assert.equal(manifestTotals(sample), {files: 3, bytes: 13})
})

test('parseManifest refuses crafted manifests', () => {
  const file = (path: string, extra: Record<string, unknown> = {}) => JSON.stringify({path, size: 1, mode: 0o100644, sha256: SHA('0'), ...extra})
  const text = (root: string, ...lines: string[]) => `${JSON.stringify({schema: 1, root})}\n${lines.map((l) => `${l}\n`).join('')}`
  const crafted: Record<string, string> = {
    'a .. part': text('data', file('data/../etc/passwd')),
    'an absolute path': text('data', file('/data/x')),
    'an absolute root': text('/data', file('/data/x')),
    'a .git folder': text('data', file('data/.git/config')),
    'a .git root': text('.git', file('.git/config')),
    'a .ML folder in another case': text('data', file('data/.ML/x')),
    'a path outside the root': text('data', file('other/x')),
    'a path that only starts like the root': text('data', file('database')),
    'unsorted paths': text('data', file('data/b'), file('data/a')),
    'paths unsorted as UTF-8 bytes': text('data', file('data/\u{1f600}'), file('data/\uffee')),
    'a duplicate path': text('data', file('data/a'), file('data/a')),
    'a file inside a file': text('data', file('data/a'), file('data/a-b'), file('data/a/b')),
    'a file inside a link': text('data', JSON.stringify({path: 'data/l', link: 'x'}), file('data/l/b')),
    'a file below a tracked file': text('data', file('data'), file('data/x')),
    'a negative size': text('data', file('data/a', {size: -1})),
    'a fractional size': text('data', file('data/a', {size: 1.5})),
    'a size as a string': text('data', file('data/a', {size: '1'})),
    'an unsafe size': text('data', file('data/a', {size: 2 ** 53})),
    'a bad sha256': text('data', file('data/a', {sha256: SHA('A')})),
    'a short sha256': text('data', file('data/a', {sha256: 'ab'})),
    'a bad mode': text('data', file('data/a', {mode: 0o100600})),
    'a link with a NUL': text('data', JSON.stringify({path: 'data/l', link: 'a\0b'})),
    'a link too long': text('data', JSON.stringify({path: 'data/l', link: 'a'.repeat(4096)})),
    'an extra key': text('data', file('data/a', {owner: 'me'})),
    'keys in another order': text('data', JSON.stringify({size: 1, path: 'data/a', mode: 0o100644, sha256: SHA('0')})),
    'non-canonical spacing': text('data', file('data/a').replace(',', ', ')),
    'a header with spacing': text('data').replace(',', ', '),
    'another schema': '{"schema":2,"root":"data"}\n',
    'a blank line': `${text('data', file('data/a'))}\n`,
    'no final newline': text('data', file('data/a')).slice(0, -1),
    'a line that is not JSON': text('data', '{"path":'),
    'an empty text': '',
  }
  for (const [what, crafty] of Object.entries(crafted)) {
    const error = thrown(() => parseManifest(crafty, 'M'), 'DATA_CORRUPT')
    assert.match(error.message, /^The data manifest M /, what)
  }
  const good = formatManifest(sample)
  thrown(() => parseManifest(good, 'M', manifestId(`${good} `)), 'DATA_CORRUPT')
  thrown(() => parseManifest(good, 'M', 'a'.repeat(64)), 'DATA_CORRUPT')
})

test('diffManifests tells what was added, removed and changed, with their bytes', () => {
  const after: Manifest = {
    root: 'data',
    entries: [
      {path: 'data/a.csv', size: 5, mode: 0o100644, sha256: SHA('c')},
      {path: 'data/b/run.sh', size: 10, mode: 0o100755, sha256: SHA('b')},
      {path: 'data/d', size: 7, mode: 0o100644, sha256: SHA('d')},
    ],
  }
  const diff = diffManifests(sample, after)
  assert.equal(diff.added, [after.entries[2]])
  assert.equal(diff.removed, [sample.entries[2]])
  assert.equal(diff.changed, [{before: sample.entries[0], after: after.entries[0]}])
  assert.is(diff.bytesAdded, 12)
  assert.is(diff.bytesRemoved, 0)
  const modeOnly = diffManifests(after, {...after, entries: [after.entries[0], {...after.entries[1], mode: 0o100644} as const, after.entries[2]]})
  assert.equal(modeOnly.changed.map((c) => c.after.path), ['data/b/run.sh'])
  const first = diffManifests(null, sample)
  assert.equal(first.added, sample.entries)
  assert.is(first.bytesAdded, 13)
  assert.equal(diffManifests(sample, sample), {added: [], removed: [], changed: [], bytesAdded: 0, bytesRemoved: 0})
})

/** A project folder (with .ml/, where the stat cache goes) holding `files` under it. */
function project(files: Record<string, string | Buffer> = {}): string {
  const dir = tempDir('ml-data-')
  mkdirSync(path.join(dir, '.ml'))
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), {recursive: true})
    writeFileSync(path.join(dir, rel), content)
  }
  return dir
}

/** Waits out the racy window, so that the files written so far are trusted from the stat cache. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 250))

async function version(dir: string, root = 'data') {
  const [v] = await dataVersions(dir, [root])
  return v
}

test('the manifest of a tree is what sha256sum, stat and readlink say, and parses back', async () => {
  const files: Record<string, string | Buffer> = {'data/run.sh': '#!/bin/sh\n', 'data/ünï cødé/ä.txt': 'ü', 'data/empty': ''}
  for (let i = 0; i < 100; i++) files[`data/d${i % 7}/f${i}.bin`] = Buffer.alloc(i * 997, i)
  const dir = project(files)
  chmodSync(path.join(dir, 'data/run.sh'), 0o755)
  symlinkSync('d0/f0.bin', path.join(dir, 'data/link'))
  const v = await version(dir)
  const oracle = execFileSync('sh', ['-c', 'find data -type f -print0 | xargs -0 sh -c \'for f; do printf "%s %s %s\\n" "$(stat -c "%s %a" "$f")" "$(sha256sum "$f" | cut -c1-64)" "$f"; done\' sh'], {cwd: dir, encoding: 'utf8'})
  const expected = oracle.trim().split('\n').map((line) => {
    const [size, perm, sha256, ...rest] = line.split(' ')
    return {path: rest.join(' '), size: Number(size), mode: Number.parseInt(perm, 8) & 0o100 ? 0o100755 : 0o100644, sha256}
  })
  const entries = [...expected, {path: 'data/link', link: execFileSync('readlink', ['data/link'], {cwd: dir, encoding: 'utf8'}).trim()}]
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
  assert.equal(v.manifest, {root: 'data', entries})
  assert.is(v.files, 104)
  assert.is(v.bytes, expected.reduce((n, e) => n + e.size, 0))
  assert.is(v.hashed, 103)
  assert.equal(v.skipped, [])
  assert.is(v.text, formatManifest(v.manifest))
  assert.is(v.id, execFileSync('sha256sum', {input: v.text, encoding: 'utf8'}).slice(0, 64))
  assert.equal(parseManifest(v.text, 'test', v.id), v.manifest)
})

test('the id changes with a byte, an added, removed or renamed file, a mode; not with an mtime alone', async () => {
  const dir = project({'data/a.txt': 'hello', 'data/b.txt': 'world'})
  const ids = new Set<string>()
  const step = async (change: () => void) => {
    change()
    const v = await version(dir)
    assert.not.ok(ids.has(v.id), 'a version id came back')
    ids.add(v.id)
  }
  await step(() => undefined)
  await step(() => writeFileSync(path.join(dir, 'data/a.txt'), 'hellp'))
  await step(() => writeFileSync(path.join(dir, 'data/c.txt'), ''))
  await step(() => unlinkSync(path.join(dir, 'data/b.txt')))
  await step(() => renameSync(path.join(dir, 'data/c.txt'), path.join(dir, 'data/C.txt')))
  await step(() => chmodSync(path.join(dir, 'data/a.txt'), 0o755))
  await settle()
  const before = await version(dir)
  await settle()
  assert.is((await version(dir)).hashed, 0, 'an unchanged folder is not read')
  utimesSync(path.join(dir, 'data/a.txt'), new Date(2020, 1, 1), new Date(2020, 1, 1))
  const touched = await version(dir)
  assert.is(touched.id, before.id)
  assert.is(touched.hashed, 1, 'only the file whose stat changed is read again')
})

test('the stat cache notices a change that keeps size and mtime (by its ctime), and never trusts a racy file', async () => {
  const dir = project({'data/a.txt': 'aaaa', 'data/b.txt': 'bbbb'})
  const a = path.join(dir, 'data/a.txt')
  // A whole second: a Date put back by utimes is then the same mtime to the nanosecond.
  const mtime = new Date(2020, 1, 1)
  utimesSync(a, mtime, mtime)
  await version(dir)
  // Written just now: racy when the cache was saved, so read again.
  assert.is((await version(dir)).hashed, 2)
  await settle()
  await version(dir)
  const before = await version(dir)
  assert.is(before.hashed, 0)
  writeFileSync(a, 'AAAA')
  utimesSync(a, mtime, mtime)
  const after = await version(dir)
  assert.is(after.hashed, 1)
  assert.is.not(after.id, before.id)
  await settle()
  // Replaced by another file (a new inode) with the same size and mtime.
  writeFileSync(`${a}.new`, 'aaaa')
  utimesSync(`${a}.new`, mtime, mtime)
  renameSync(`${a}.new`, a)
  const replaced = await version(dir)
  assert.is(replaced.hashed, 1)
  assert.is(replaced.id, before.id)
})

test('a link to a folder outside the project is recorded as a link and not followed; a fifo and a nested .git are skipped', async () => {
  const outside = tempDir('ml-outside-')
  writeFileSync(path.join(outside, 'secret'), 'x')
  const dir = project({'data/a': 'a', 'data/.git/config': '[core]', 'data/sub/.ML/x': 'x'})
  symlinkSync(outside, path.join(dir, 'data/out'))
  execFileSync('mkfifo', [path.join(dir, 'data/pipe')])
  const v = await version(dir)
  assert.equal(v.manifest.entries, [{path: 'data/a', size: 1, mode: 0o100644, sha256: execFileSync('sha256sum', {input: 'a', encoding: 'utf8'}).slice(0, 64)}, {path: 'data/out', link: outside}])
  assert.equal(v.skipped, [
    {path: 'data/.git', reason: 'names a git folder (".git")'},
    {path: 'data/pipe', reason: 'a fifo'},
    {path: 'data/sub/.ML', reason: 'names ml\'s own folder (".ML")'},
  ])
  // The tracked path itself a link: a link too.
  const [link] = await dataVersions(dir, ['data/out'])
  assert.equal(link.manifest.entries, [{path: 'data/out', link: outside}])
})

test('a name that is not valid UTF-8 is UNSUPPORTED_NAME, naming it', async () => {
  const dir = project({'data/ok': 'x'})
  writeFileSync(Buffer.concat([Buffer.from(`${dir}/data/bad`), Buffer.from([0xff, 0xfe])]), 'x')
  const error = await thrownAsync(() => dataVersions(dir, ['data']), 'UNSUPPORTED_NAME')
  assert.match(error.message, /data\/bad/)
})

test('a 64 MB file is hashed in chunks: the process grows far less than the file', async () => {
  const dir = project()
  mkdirSync(path.join(dir, 'data'))
  const file = path.join(dir, 'data/big.bin')
  const fd = openSync(file, 'w')
  const chunk = Buffer.alloc(1 << 20)
  for (let i = 0; i < 64; i++) writeSync(fd, chunk.fill(i))
  closeSync(fd)
  globalThis.gc?.()
  const start = process.memoryUsage.rss()
  let peak = start
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2)
  const v = await version(dir).finally(() => clearInterval(sampler))
  peak = Math.max(peak, process.memoryUsage.rss())
  assert.is(v.manifest.entries[0].path, 'data/big.bin')
  assert.is((v.manifest.entries[0] as {sha256: string}).sha256, execFileSync('sha256sum', [file], {encoding: 'utf8'}).slice(0, 64))
  assert.ok(peak - start < 32 << 20, `RSS grew ${((peak - start) / 2 ** 20).toFixed(1)} MB`)
})

test('a tracked file, a missing path, and progress only when there is something to hash', async () => {
  const dir = project({'model.bin': 'weights'})
  const progress: number[] = []
  const [file, missing] = await dataVersions(dir, ['model.bin', 'gone'], {onProgress: (p) => progress.push(p.done)})
  assert.equal(file.manifest, {root: 'model.bin', entries: [{path: 'model.bin', size: 7, mode: 0o100644, sha256: execFileSync('sha256sum', {input: 'weights', encoding: 'utf8'}).slice(0, 64)}]})
  assert.equal(missing.manifest, {root: 'gone', entries: []})
  assert.is(missing.text, '{"schema":1,"root":"gone"}\n')
  assert.equal(progress, [1])
  await settle()
  await dataVersions(dir, ['model.bin'])
  progress.length = 0
  assert.is((await dataVersions(dir, ['model.bin'], {onProgress: (p) => progress.push(p.done)}))[0].hashed, 0)
  assert.equal(progress, [])
})

test('a corrupt or hostile stat cache is ignored', async () => {
  const dir = project({'data/a': 'a', 'data/b': 'b'})
  await settle()
  const good = await version(dir)
  assert.is((await version(dir)).hashed, 0)
  const cacheFile = mlPath(dir, 'dataStatCache')
  const bytes = readFileSync(cacheFile)
  const newline = bytes.indexOf(10)
  const hostile = [
    bytes.subarray(0, -1),
    Buffer.concat([bytes, Buffer.from([0])]),
    Buffer.from('{"version":1,"files":1e300,"pathBytes":-5}\n'),
    Buffer.from('{"version":1,"files":3,"pathBytes":4}\nabcd'),
    Buffer.concat([Buffer.from('{"version":2'), bytes.subarray(bytes.indexOf(','))]),
    Buffer.concat([Buffer.from('null\n'), bytes.subarray(newline + 1)]),
    Buffer.from('not a cache'),
  ]
  for (const [i, content] of hostile.entries()) {
    writeFileSync(cacheFile, content)
    const v = await version(dir)
    assert.is(v.id, good.id)
    assert.is(v.hashed, 2, `cache ${i}`)
  }
  rmSync(cacheFile)
  // A cache that cannot be saved (here .ml is a file) never fails the call.
  rmSync(path.join(dir, '.ml'), {recursive: true})
  writeFileSync(path.join(dir, '.ml'), '')
  assert.is((await version(dir)).id, good.id)
})

test.run()
