import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {unsafeReason} from '../../src/core/trust/tree-path.js'
import {craftRun, type Entry} from '../crafted.js'
import {cleanup, errorCode, folderState, git, ml, ok, oracleTree, shadowGit, shadowRefs, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('safety')
test.after.each(cleanup)


const cases: Array<[string, (outside: string) => Entry[]]> = [
  ['a ".." folder', () => [{name: '..', children: [{name: 'pwned.txt', content: 'x'}]}]],
  ['a name with "../" in it', () => [{name: '../pwned.txt', content: 'x'}]],
  ['an absolute name', (outside) => [{name: `${outside}/pwned.txt`, content: 'x'}]],
  ['.git', () => [{name: '.git', children: [{name: 'config', content: '[core]\n\tbare = true\n'}]}]],
  ['.GIT', () => [{name: '.GIT', children: [{name: 'config', content: 'x'}]}]],
  ['.git.', () => [{name: '.git.', children: [{name: 'config', content: 'x'}]}]],
  ['git~1', () => [{name: 'git~1', children: [{name: 'config', content: 'x'}]}]],
  ['.g\u200bit', () => [{name: '.g\u200bit', children: [{name: 'config', content: 'x'}]}]],
  ['a symlink of the snapshot with files under it', (outside) => [{name: 'link', link: outside}, {name: 'link', children: [{name: 'pwned.txt', content: 'x'}]}]],
]

async function project(): Promise<{dir: string; outside: string}> {
  const root = tempDir()
  const dir = path.join(root, 'project')
  const outside = path.join(root, 'outside')
  await fs.mkdir(outside)
  await fs.writeFile(path.join(root, 'tell-tale.txt'), 'untouched\n')
  ok(await ml(root, ['project', 'init', 'project']))
  return {dir, outside}
}

async function assertRefused(dir: string, outside: string, runId: string): Promise<void> {
  const before = await folderState(dir, ['.ml'])
  const refs = shadowRefs(dir)
  const r = await ml(dir, ['project', 'restore', '--run-id', runId, '--yes'])
  assert.is(errorCode(r), 'UNSAFE_PATH', r.stdout + r.stderr)
  assert.is(r.code, 1)
  assert.equal(await fs.readdir(outside), [], 'nothing was written outside the project')
  assert.is(await fs.readFile(path.join(dir, '..', 'tell-tale.txt'), 'utf8'), 'untouched\n')
  assert.not.ok(existsSync(path.join(dir, '..', 'pwned.txt')))
  assert.equal(await folderState(dir, ['.ml']), before, 'the folder is as it was')
  assert.is(shadowRefs(dir), refs, 'not even a backup was taken')
}

for (const [name, entries] of cases) {
  test(`a snapshot with ${name} is refused before anything is written`, async () => {
    const {dir, outside} = await project()
    await assertRefused(dir, outside, craftRun(dir, entries(outside)))
  })
}

test('writing through a symlink the folder holds is refused', async () => {
  const {dir, outside} = await project()
  await fs.symlink(outside, path.join(dir, 'out'))
  await fs.appendFile(path.join(dir, '.amlignore'), 'out\n')
  await assertRefused(dir, outside, craftRun(dir, [{name: 'out', children: [{name: 'pwned.txt', content: 'x'}]}]))
})

test('a file/folder swap over ignored files is refused', async () => {
  const {dir, outside} = await project()
  await write(dir, {'cache/data.bin': 'precious, ignored', models: 'an ignored file'})
  await fs.appendFile(path.join(dir, '.amlignore'), 'cache/\nmodels\n')
  await assertRefused(dir, outside, craftRun(dir, [{name: 'cache', content: 'a file now'}]))
  await assertRefused(dir, outside, craftRun(dir, [{name: 'models', children: [{name: 'a.txt', content: 'x'}]}]))
})

test('symlinks inside the project and the executable bit round-trip', async () => {
  const {dir} = await project()
  await write(dir, {'src/lib.py': 'x = 1\n'})
  await fs.symlink('src/lib.py', path.join(dir, 'lib-link'))
  await fs.symlink('src', path.join(dir, 'src-link'))
  await fs.writeFile(path.join(dir, 'run.sh'), 'echo hi\n', {mode: 0o755})
  ok(await ml(dir, ['experiment', 'submit', 'run.sh']))
  const saved = await folderState(dir, ['.git', '.ml', 'outputs'])
  await fs.rm(path.join(dir, 'lib-link'))
  await fs.rm(path.join(dir, 'src-link'))
  await fs.chmod(path.join(dir, 'run.sh'), 0o644)
  const [run] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  ok(await ml(dir, ['project', 'restore', '--run-id', run.runId, '--yes']))
  assert.equal(await folderState(dir, ['.git', '.ml', 'outputs']), saved)
  assert.is(await fs.readlink(path.join(dir, 'src-link')), 'src')
})

test('restore --dry-run lists the changes and writes nothing; --backups lists each restore and --undo walks back', async () => {
  const {dir} = await project()
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const [first] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  await write(dir, {'new.txt': 'new\n', 'train.py': 'print("changed")\n'})
  const before = await folderState(dir, ['.ml'])
  const refs = shadowRefs(dir)
  const dry = ok(await ml(dir, ['project', 'restore', '--run-id', first.runId, '--dry-run']))
  assert.match(dry.stdout, /^remove  new\.txt$/m)
  assert.match(dry.stdout, /^change  train\.py$/m)
  assert.match(dry.stdout, /nothing was written/)
  assert.equal(await folderState(dir, ['.ml']), before)
  assert.is(shadowRefs(dir), refs)

  ok(await ml(dir, ['project', 'restore', '--run-id', first.runId, '--yes']))
  await write(dir, {'second.txt': 'x\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  ok(await ml(dir, ['project', 'restore', '--run-id', first.runId, '--yes']))
  const backups = JSON.parse(ok(await ml(dir, ['history', 'list', '--backups', '-o', 'json'])).stdout)
  assert.is(backups.length, 2)
  assert.ok(backups.every((b: {before: string}) => b.before === `run ${first.runId}`))
  assert.match(ok(await ml(dir, ['history', 'list', '--backups'])).stdout, /^BACKUP\s+TAKEN\s+BEFORE RESTORING\s+SNAPSHOT/)
  ok(await ml(dir, ['project', 'restore', '--undo', '--yes']))
  assert.ok(existsSync(path.join(dir, 'second.txt')))
  ok(await ml(dir, ['project', 'restore', '--undo', '--yes']))
  assert.equal(await folderState(dir, ['.ml', 'second.txt']), before)
})

test('size limits: a warning over the soft limit, SNAPSHOT_TOO_LARGE over the hard one with nothing recorded or run', async () => {
  const {dir} = await project()
  const config = JSON.parse(await fs.readFile(path.join(dir, '.ml', 'project.json'), 'utf8'))
  config.limits = {warnFiles: 5, maxFiles: 12, maxBytes: 50_000}
  await fs.writeFile(path.join(dir, '.ml', 'project.json'), JSON.stringify(config))
  await write(dir, Object.fromEntries(Array.from({length: 4}, (_, i) => [`d/f${i}.txt`, 'x'])))
  await write(dir, {'run.sh': 'touch ran.marker\n'})
  const warned = ok(await ml(dir, ['experiment', 'submit', 'run.sh']))
  assert.match(warned.stderr, /Warning: The snapshot holds \d+ files/)
  await fs.rm(path.join(dir, 'ran.marker'))
  await write(dir, {'big/data.bin': 'y'.repeat(60_000), 'big/other.bin': 'z'.repeat(3000)})
  const refs = shadowRefs(dir)
  const r = await ml(dir, ['experiment', 'submit', 'run.sh'])
  assert.is(errorCode(r), 'SNAPSHOT_TOO_LARGE', r.stderr)
  assert.match(r.stderr, /big\/data\.bin \(0\.1 MB\), big\/other\.bin/)
  assert.match(r.stderr, /\.amlignore/)
  assert.is(shadowRefs(dir), refs, 'nothing was recorded')
  assert.not.ok(existsSync(path.join(dir, 'ran.marker')), 'nothing was run')
})

test('init in a folder too large to snapshot fails and leaves the folder as it was', async () => {
  const dir = tempDir()
  await write(dir, Object.fromEntries(Array.from({length: 30}, (_, i) => [`data/${i}.bin`, 'x'.repeat(11_000_000)]).slice(0, 30)))
  const before = await folderState(dir)
  const r = await ml(dir, ['project', 'init', '.'])
  assert.is(errorCode(r), 'SNAPSHOT_TOO_LARGE', r.stderr)
  assert.equal(await fs.readdir(dir), ['data'])
  assert.equal(await folderState(dir), before)
})

test('project files lists what the next snapshot holds; --explain names the rule for each file', async () => {
  const {dir} = await project()
  await write(dir, {'.env': 'S=1', 'data/x.csv': '1,2', 'sub/.gitignore': '*.log\n', 'sub/a.log': 'log', 'sub/keep.txt': 'k', 'model.pem': 'p'})
  await fs.appendFile(path.join(dir, '.amlignore'), 'data/\n!model.pem\n')
  const files = JSON.parse(ok(await ml(dir, ['project', 'files', '-o', 'json'])).stdout)
  const tree = shadowGit(dir, ['ls-files'], {GIT_INDEX_FILE: path.join(dir, '.ml', 'history.git', 'index')}).split('\n')
  assert.equal(files.map((f: {path: string}) => f.path).sort(), tree.sort(), 'the same files as the index the next snapshot is written from')
  assert.ok(files.find((f: {path: string; size: number}) => f.path === 'sub/keep.txt').size === 1)
  const explained = JSON.parse(ok(await ml(dir, ['project', 'files', '--explain', '-o', 'json'])).stdout)
  const rule = (p: string) => explained.find((f: {path: string}) => f.path === p)
  assert.is(rule('.env').rule, 'likely secret: .env')
  assert.is(rule('.env').included, false)
  assert.is(rule('data/').rule, '.amlignore:6: data/')
  assert.is(rule('sub/a.log').rule, 'sub/.gitignore:1: *.log')
  assert.is(rule('model.pem').rule, 're-included by a ! rule')
  assert.is(rule('model.pem').included, true)
  assert.is(rule('outputs/'), undefined)
})

test('a nested git repository is recorded as a gitlink, like git add -A, and a restore never touches it', async () => {
  const {dir} = await project()
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const [before] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  const nested = path.join(dir, 'vendor', 'lib')
  await write(nested, {'a.txt': 'nested\n'})
  git(nested, ['init', '-q'])
  git(nested, ['add', '-A'])
  git(nested, ['commit', '-qm', 'one'])
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const [withRepo] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.is(shadowGit(dir, ['rev-parse', `${withRepo.snapshotId}^{tree}`]), oracleTree(dir))
  assert.is(shadowGit(dir, ['ls-tree', withRepo.snapshotId, 'vendor/lib']).split(/\s/).slice(0, 3).join(' '), `160000 commit ${git(nested, ['rev-parse', 'HEAD'])}`)

  await write(nested, {'b.txt': 'more\n'})
  git(nested, ['add', '-A'])
  git(nested, ['commit', '-qm', 'two'])
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const [moved] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.match(shadowGit(dir, ['ls-tree', moved.snapshotId, 'vendor/lib']), new RegExp(git(nested, ['rev-parse', 'HEAD'])))

  const nestedBefore = await folderState(nested, [])
  const head = git(nested, ['rev-parse', 'HEAD'])
  for (const run of [before, withRepo]) {
    ok(await ml(dir, ['project', 'restore', '--run-id', run.runId, '--yes']))
    assert.equal(await folderState(nested, []), nestedBefore, 'the nested repository is never modified')
    assert.is(git(nested, ['rev-parse', 'HEAD']), head)
  }
})

/** Whether this process may mount a file system (root, as in CI): decided before the suite runs, so a skip is reported as one. */
function canMount(): boolean {
  const probe = tempDir('ml-mount-probe-')
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], {stdio: 'ignore'})
    execFileSync('umount', [probe], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

const rootTest = canMount() ? test : test.skip

rootTest('a full disk and a read-only folder give one clear error, and nothing corrupt is left', async () => {
  const mnt = tempDir('ml-disk-')
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], {stdio: 'ignore'})
  try {
    ok(await ml(mnt, ['project', 'init', 'p']))
    const dir = path.join(mnt, 'p')
    await write(dir, {'n.txt': 'x\n'})
    await fs.writeFile(path.join(dir, 'big.bin'), randomBytes(1_700_000))
    const full = await ml(dir, ['experiment', 'submit', 'train.py'])
    assert.is(errorCode(full), 'WRITE_FAILED', full.stderr)
    assert.match(full.stderr, /the disk is full/)
    assert.is(full.stderr.trim().split('\n').length, 1)
    await fs.rm(path.join(dir, 'big.bin'))
    ok(await ml(dir, ['experiment', 'submit', 'train.py']))
    shadowGit(dir, ['fsck', '--strict'])
    execFileSync('mount', ['-o', 'remount,ro', mnt])
    const readOnly = await ml(dir, ['experiment', 'submit', 'train.py'])
    assert.is(errorCode(readOnly), 'WRITE_FAILED', readOnly.stderr)
    assert.match(readOnly.stderr, /read-only/)
  } finally {
    execFileSync('umount', [mnt])
  }
})

test('unsafeReason names what is wrong and lets normal paths through', () => {
  for (const good of ['a.txt', 'src/.gitignore', 'docs/.github/x', 'gitx', '.gitkeep', 'a/b/c.d']) assert.is(unsafeReason(good), null, good)
  for (const bad of ['..', 'a/../b', '/etc/passwd', 'a//b', '.git/config', 'x/.GIT/y', '.git ./x', 'GIT~1', '.g\u200cit', 'a\\b']) assert.ok(unsafeReason(bad), bad)
})

test.run()
