import {existsSync, promises as fs, writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, errorCode, git, ml, ok, tempDir, timedSuite, write} from '../helpers.js'

/** What a new user meets first (issue 12, item 11): each message says what is true. */
const test = timedSuite('first-user')
test.after.each(cleanup)

test('an unknown template is UNKNOWN_TEMPLATE, as the README says', async () => {
  const root = tempDir()
  const r = await ml(root, ['project', 'init', 'p', '--template', 'nope'])
  assert.is(errorCode(r), 'UNKNOWN_TEMPLATE', r.stderr)
  assert.match(r.stderr, /blank, iris/)
  assert.not.ok(existsSync(path.join(root, 'p')))
})

test('init . says what to run next without a `cd .`', async () => {
  const root = tempDir()
  const here = ok(await ml(root, ['project', 'init', '.', '--name', 'here']))
  assert.match(here.stdout, /^Next: ml experiment submit <script>$/m)
  const there = ok(await ml(tempDir(), ['project', 'init', 'sub']))
  assert.match(there.stdout, /^Next: cd sub && ml experiment submit <script>$/m)
})

test('init without a git identity says which one it used and how to set yours', async () => {
  const root = tempDir()
  const home = tempDir('ml-home-')
  writeFileSync(path.join(home, '.gitconfig'), '[init]\n\tdefaultBranch = main\n')
  const r = ok(await ml(root, ['project', 'init', 'p'], {HOME: home, GIT_AUTHOR_NAME: '', GIT_COMMITTER_NAME: '', EMAIL: ''}))
  assert.match(r.stderr, /ml <ml@localhost>/)
  assert.match(r.stderr, /git config --global user\.name/)
  const withIdentity = ok(await ml(root, ['project', 'init', 'q']))
  assert.not.match(withIdentity.stderr, /ml@localhost/)
})

test('a clone without DIR is named after the project, not the URL; a busy folder is DESTINATION_EXISTS', async () => {
  const root = tempDir()
  git(root, ['init', '-q', '--bare', 'remote.git'])
  ok(await ml(root, ['project', 'init', 'churn-model', '-q', '-r', path.join(root, 'remote.git')]))
  const elsewhere = tempDir()
  const r = ok(await ml(elsewhere, ['project', 'clone', path.join(root, 'remote.git')]))
  assert.match(r.stdout, new RegExp(`into ${path.join(elsewhere, 'churn-model')}`))
  assert.ok(existsSync(path.join(elsewhere, 'churn-model', '.ml', 'project.json')))
  assert.equal((await fs.readdir(elsewhere)).sort(), ['churn-model'], 'no hidden clone folder is left')
  const again = await ml(elsewhere, ['project', 'clone', path.join(root, 'remote.git')])
  assert.is(errorCode(again), 'DESTINATION_EXISTS', again.stderr)
  assert.equal((await fs.readdir(elsewhere)).sort(), ['churn-model'])
})

test('a restore of one file says "1 file", not "1 files"', async () => {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p', '-q']))
  const dir = path.join(root, 'p')
  await write(dir, {'one.txt': 'one\n'})
  ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py']))
  const [run] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  await fs.rm(path.join(dir, 'one.txt'))
  const r = ok(await ml(dir, ['project', 'restore', '--run-id', run.runId, '--yes']))
  assert.match(r.stdout, /: 1 file written, 0 changed, 0 removed\./)
})

test('a likely secret left out of snapshots is named once, not at every submit', async () => {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p', '-q']))
  const dir = path.join(root, 'p')
  await write(dir, {'.env': 'TOKEN=1\n'})
  assert.match(ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py'])).stderr, /likely secrets: \.env;/)
  assert.not.match(ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py'])).stderr, /likely secrets/)
  await write(dir, {'id_rsa': 'key\n'})
  const third = ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py'])).stderr
  assert.match(third, /likely secrets: id_rsa;/, 'only the new one is named')
})

test.run()
