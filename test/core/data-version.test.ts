import * as assert from 'uvu/assert'
import {diffManifests, formatManifest, type Manifest, manifestId, manifestTotals, parseManifest} from '../../src/core/data/manifest.js'
import {cleanup, thrown, timedSuite} from '../helpers.js'

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

test.run()
