import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, git, ml, ok, tempDir, timedSuite} from '../helpers.js'

/** What ml remembers of a remote belongs to that remote's URL: a new URL starts from nothing. */
const test = timedSuite('remote-switch')
test.after.each(cleanup)

function bare(root: string, name: string): string {
  const dir = path.join(root, name)
  git(root, ['init', '-q', '--bare', dir])
  return dir
}

const refsOf = (remote: string) => git(remote, ['for-each-ref', '--format=%(refname) %(objectname)']).split('\n').filter(Boolean).sort()

test('update -r to a new, empty remote pushes the whole history there, PUSHED is about it, and it clones', async () => {
  const root = tempDir()
  const first = bare(root, 'first.git')
  const second = bare(root, 'second.git')
  ok(await ml(root, ['project', 'init', 'p', '-q', '-r', first]))
  const dir = path.join(root, 'p')
  ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py']))
  ok(await ml(dir, ['experiment', 'submit', '-q', '--no-push', 'train.py']))

  const switched = ok(await ml(dir, ['project', 'update', '-r', second]))
  assert.not.match(switched.stdout + switched.stderr, /already/i, 'it does not claim the new remote had everything')
  const local = git(dir, ['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads/', 'refs/ml/runs/', 'refs/ml/project'], {GIT_DIR: path.join(dir, '.ml', 'history.git')}).split('\n').sort()
  assert.equal(refsOf(second), local, 'the new remote has every ref of the history')
  const runs = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.is(runs.length, 2)
  assert.ok(runs.every((r: {pushed: boolean}) => r.pushed), 'PUSHED is about the new remote')
  const clone = ok(await ml(root, ['project', 'clone', second, 'copy']))
  assert.match(clone.stdout, /^Runs:\s+2$/m)
})

test('update -r to a mirror that already holds this project is accepted', async () => {
  const root = tempDir()
  const first = bare(root, 'first.git')
  ok(await ml(root, ['project', 'init', 'p', '-q', '-r', first]))
  const dir = path.join(root, 'p')
  ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py']))
  git(root, ['clone', '-q', '--mirror', first, 'mirror.git'])
  git(dir, ['push', '-q', path.join(root, 'mirror.git'), 'HEAD:refs/heads/master'])
  ok(await ml(dir, ['project', 'update', '-r', path.join(root, 'mirror.git')]))
  ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py']))
  assert.is(refsOf(path.join(root, 'mirror.git')).filter((r) => r.startsWith('refs/ml/runs/')).length, 2)
})

test.run()
