import {chmodSync, readFileSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {findDamagedLooseObject} from '../../src/git/loose-objects.js'
import {cleanup, git, tempDir, timedSuite} from '../helpers.js'

const test = timedSuite('loose-objects')
test.after.each(cleanup)

/** A bare repo with one whole loose object and one cut to 10 bytes; gives the damaged one's file. */
function repoWithTruncatedObject(): {gitdir: string; file: string; id: string} {
  const gitdir = path.join(tempDir(), 'r.git')
  git(path.dirname(gitdir), ['init', '-q', '--bare', gitdir])
  git(gitdir, ['hash-object', '-w', '--stdin'], {}, 'whole\n')
  const id = git(gitdir, ['hash-object', '-w', '--stdin'], {}, 'x'.repeat(5000))
  const file = path.join(gitdir, 'objects', id.slice(0, 2), id.slice(2))
  chmodSync(file, 0o644)
  writeFileSync(file, readFileSync(file).subarray(0, 10))
  return {gitdir, file, id}
}

test('a truncated loose object is found, by its id and why', async () => {
  const {gitdir, id} = repoWithTruncatedObject()
  const damaged = await findDamagedLooseObject(gitdir)
  assert.is(damaged?.id, id)
  assert.is(damaged?.reason, 'it is truncated')
})

test('objects born since a time are passed over (libgit2 wrote them whole), by birth time: a touched old one is still checked', async () => {
  const {gitdir, file, id} = repoWithTruncatedObject()
  const born = statSync(file).birthtimeMs
  assert.ok(born > 0, 'this file system records birth times')
  assert.is(await findDamagedLooseObject(gitdir, born), null, 'born at the time given: passed over')
  // libgit2 sets the modified time of an object it finds already written: that must not hide it.
  const later = new Date(Date.now() + 3_600_000)
  utimesSync(file, later, later)
  assert.is((await findDamagedLooseObject(gitdir, born + 1))?.id, id)
})

test.run()
