import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {mergeIndexFiles} from '../../src/git/index-merge.js'
import {cleanup, git, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('index-merge')
test.after.each(cleanup)

/** A repo with files in several folders, and `git add` of `paths` into the index file `name`. */
function indexOf(dir: string, name: string, paths: string[]): string {
  const file = path.join(dir, '.git', name)
  git(dir, ['add', '--', ...paths], {GIT_INDEX_FILE: file})
  return file
}

async function repo(): Promise<string> {
  const dir = tempDir()
  git(dir, ['init', '-q'])
  await write(dir, {'a.txt': 'a\n', 'b/c.txt': 'c\n', 'b/d/e.txt': 'e\n', 'b-x.txt': 'dash sorts before slash\n', 'z/\u00fc.txt': 'u\n', [`long/${'n'.repeat(250)}.txt`]: 'long\n'})
  return dir
}

test('indexes of disjoint paths merge into the index git writes for all of them', async () => {
  const dir = await repo()
  const parts = [indexOf(dir, 'one', ['b', 'long']), indexOf(dir, 'two', ['a.txt', 'b-x.txt', 'z'])]
  const merged = path.join(dir, '.git', 'merged')
  writeFileSync(merged, mergeIndexFiles(parts)!)
  const all = indexOf(dir, 'all', ['.'])
  const list = (file: string) => git(dir, ['ls-files', '-s', '--debug'], {GIT_INDEX_FILE: file})
  assert.is(list(merged), list(all))
  git(dir, ['diff-files', '--quiet'], {GIT_INDEX_FILE: merged})
})

test('an index it cannot read, or two holding the same path, merge to null', async () => {
  const dir = await repo()
  const one = indexOf(dir, 'one', ['a.txt'])
  assert.is(mergeIndexFiles([one, indexOf(dir, 'again', ['a.txt', 'b'])]), null, 'a path in both')
  const v4 = indexOf(dir, 'v4', ['b'])
  git(dir, ['update-index', '--index-version', '4'], {GIT_INDEX_FILE: v4})
  assert.is(mergeIndexFiles([one, v4]), null, 'version 4')
  const conflict = indexOf(dir, 'conflict', ['b'])
  const blob = git(dir, ['hash-object', '-w', 'a.txt'])
  git(dir, ['update-index', '--index-info'], {GIT_INDEX_FILE: conflict}, `100644 ${blob} 1\tz/u.txt\n`)
  assert.is(mergeIndexFiles([one, conflict]), null, 'a conflict stage')
  const damaged = readFileSync(one)
  damaged[20] ^= 1
  writeFileSync(one, damaged)
  assert.is(mergeIndexFiles([one, indexOf(dir, 'ok', ['b'])]), null, 'a bad checksum')
})

test.run()
