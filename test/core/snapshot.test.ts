import {execFileSync, spawnSync} from 'node:child_process'
import {promises as fs, writeFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {type Project} from '../../src/core/project/project.js'
import {initProject} from '../../src/core/setup/init.js'
import {type FolderStamp, formatStamp, parseStamp} from '../../src/core/snapshot/folder-stamp.js'
import {historyRef, stageProject, takeSnapshot} from '../../src/core/snapshot/snapshot.js'
import {beginStampCheck} from '../../src/core/snapshot/early-stamp-check.js'
import {withProjectLock} from '../../src/core/project/lock.js'
import {cleanup, git, ml, ok, oracleTree, shadowGit, tempDir, timedSuite, write} from '../helpers.js'
import {otherGroupsRules} from '../../src/git/staging.js'
import {ShadowRepo} from '../../src/git/shadow-repo.js'
import {historyOpener} from '../../src/core/snapshot/open-history.js'

const test = timedSuite('snapshot')
test.after.each(cleanup)

async function project(): Promise<Project> {
  const dir = tempDir()
  return (await initProject({dir, template: 'iris'})).project
}

async function snapshot(p: Project) {
  return takeSnapshot(p, historyOpener(p), 'test snapshot')
}

/** Files that test the rules of `git add -A`: ignore rules at several levels, modes, symlinks, names, special files. */
async function writeTrickyFolder(dir: string): Promise<void> {
  await write(dir, {
    'src/model.py': 'x = 1\n',
    'src/deep/er/file.txt': 'deep\n',
    'data/big.bin': 'ignored by .amlignore\n',
    'logs/run.log': 'ignored by a nested .gitignore\n',
    'logs/keep.txt': 'kept\n',
    'logs/.gitignore': '*.log\n',
    'only-ignored/a.log': 'a folder whose files are all ignored\n',
    'only-ignored/.gitignore': '*.log\n.gitignore\n',
    'outputs/model.json': '{}\n',
    '__pycache__/x.pyc': 'junk',
    'notes/.hidden': 'dotfiles are kept\n',
    'unicode/données é.txt': 'utf-8 names\n',
    'crlf.txt': 'kept as it is\r\n',
  })
  await fs.appendFile(path.join(dir, '.amlignore'), 'data/\n')
  await fs.writeFile(path.join(dir, 'run.sh'), 'echo hi\n', {mode: 0o755})
  await fs.writeFile(path.join(dir, 'group-x.sh'), 'echo hi\n', {mode: 0o640 | 0o010})
  await fs.writeFile(path.join(dir, 'big.bin'), Buffer.alloc(9 << 20, 7))
  await fs.symlink('src/model.py', path.join(dir, 'link-to-model'))
  await fs.symlink('nowhere', path.join(dir, 'dangling'))
  await fs.symlink('src', path.join(dir, 'link-to-dir'))
  await fs.mkdir(path.join(dir, 'empty-dir'))
  execFileSync('mkfifo', [path.join(dir, 'a-fifo')])
}

test('the snapshot tree equals git add -A && git write-tree under the same rules', async () => {
  const p = await project()
  await writeTrickyFolder(p.dir)
  const s = await snapshot(p)
  assert.ok(s.created)
  assert.is(s.tree, oracleTree(p.dir))
  const files = shadowGit(p.dir, ['ls-tree', '-r', '--name-only', s.commit]).split('\n')
  assert.ok(files.includes('logs/keep.txt') && files.includes('link-to-model'))
  for (const gone of ['data/big.bin', 'logs/run.log', 'outputs/model.json', '__pycache__/x.pyc', 'only-ignored/a.log', 'a-fifo']) assert.not.ok(files.includes(gone), gone)
  assert.match(shadowGit(p.dir, ['ls-tree', s.commit, 'run.sh']), /^100755 /)
  assert.match(shadowGit(p.dir, ['ls-tree', s.commit, 'link-to-model']), /^120000 /)
  shadowGit(p.dir, ['fsck', '--strict'])
})

/** Snapshots as if for the first time: no index, no folder stamp (so the folder is staged whole, into an empty index). */
async function firstSnapshot(p: Project) {
  await fs.rm(path.join(p.dir, '.ml', 'history.git', 'index'), {force: true})
  await fs.rm(path.join(p.dir, '.ml', 'stamp'), {force: true})
  return snapshot(p)
}

test('a first snapshot, staged in groups on every core, equals git add -A', async () => {
  const p = await project()
  await writeTrickyFolder(p.dir)
  for (let i = 0; i < 50; i++) await write(p.dir, {[`many/d${i % 7}/f${i}.txt`]: `${i}\n`})
  // On two cores, "b*" is in one group and big.bin in the other, whose handle is told to ignore
  // "b*": by a rule that must not read it as a pattern, nor "b?x" as a pathspec.
  await write(p.dir, {'b*/one.bin': Buffer.alloc(5 << 20, 1), 'b*/two.bin': Buffer.alloc(5 << 20, 2), 'z-heavy.bin': Buffer.alloc(3 << 20, 3)})
  await write(p.dir, {'bz/x.txt': 'x\n', 'b?x/y.txt': 'y\n', 'b[z]/z.txt': 'z\n'})
  const gitdir = path.join(p.dir, '.ml', 'history.git')
  await fs.writeFile(path.join(gitdir, `index.part-${2 ** 22 + 12345}-0`), 'left by an ml killed while it staged')
  await fs.writeFile(path.join(gitdir, 'index.part-1-0'), 'of a process that still runs')
  const s = await firstSnapshot(p)
  assert.is(s.tree, oracleTree(p.dir))
  shadowGit(p.dir, ['fsck', '--strict'])
  assert.is(shadowGit(p.dir, ['cat-file', '-s', `${s.tree}:crlf.txt`]), '15', 'stored byte for byte, CR included')
  // The index the handles' indexes were merged into is git's: its entries, and stats that match the folder.
  const scratch = tempDir('ml-index-')
  const oracleIndex = {GIT_WORK_TREE: p.dir, GIT_INDEX_FILE: path.join(scratch, 'index')}
  shadowGit(p.dir, ['read-tree', s.tree], oracleIndex)
  assert.is(shadowGit(p.dir, ['ls-files', '-s']), shadowGit(p.dir, ['ls-files', '-s'], oracleIndex))
  shadowGit(p.dir, ['diff-files', '--quiet'], {GIT_WORK_TREE: p.dir})
  assert.equal((await fs.readdir(gitdir)).filter((f) => f.startsWith('index.')), ['index.part-1-0'], 'no part left but that of a living process')
})

test('a first snapshot of a folder split into more paths than ignore rules take equals git add -A', async () => {
  const p = await project()
  // 600 files outweigh the rest, so the folder is split into them: too many paths for rules,
  // so each handle takes its group as a pathspec, which would lose "b?x" and "#notes".
  await write(p.dir, Object.fromEntries(Array.from({length: 600}, (_, i) => [`flat/f${i}.csv`, `${i}`.repeat(400)])))
  await write(p.dir, {'b?x/y.txt': 'y\n', '#notes/n.txt': 'n\n'})
  const s = await firstSnapshot(p)
  assert.is(s.tree, oracleTree(p.dir))
})

test("a staging handle's rules ignore the other groups' paths, as literal paths, and nothing else", async () => {
  const tricky = ['b*', 'b?x', 'b[z]', 'sp ace ', '#hash', '!bang', 'back\\slash', 'dir/sub*']
  const groups = [tricky, ['bz', 'bxx', 'bz/deeper', 'sp ace', 'hash', 'bang', 'dir/sub', 'dir/subx', 'back\\slashx']]
  const dir = tempDir()
  git(dir, ['init', '-q'])
  await write(dir, Object.fromEntries(groups.flat().map((p) => [`${p}/inside.txt`, 'x\n'])))
  const rules = otherGroupsRules(groups, 1)!
  writeFileSync(path.join(dir, '.git', 'info', 'exclude'), `${rules}\n`)
  const shadow = await ShadowRepo.create(path.join(tempDir(), 'history.git'), dir, 'b', '')
  shadow.addIgnoreRules(rules)
  // Both git and libgit2 (which stages) read the rules so.
  const ignored = async (p: string) => [spawnSync('git', ['check-ignore', '-q', '--no-index', p], {cwd: dir}).status === 0, await shadow.isIgnored(p)]
  for (const p of tricky) for (const each of [p, `${p}/inside.txt`]) assert.equal(await ignored(each), [true, true], each)
  for (const p of groups[1]) assert.equal(await ignored(`${p}/inside.txt`), [false, false], p)
  assert.is(otherGroupsRules([['a\nb'], ['c']], 1), null, 'a line break fits no rule')
  assert.is(otherGroupsRules([Array.from({length: 300}, (_, i) => `f${i}`), ['c']], 1), null, 'too many to match cheaply')
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Stages the folder holding the lock, as a restore does (which claims any early check begun). */
async function stageLocked(p: Project) {
  return withProjectLock(p, () => stageProject(p, historyOpener(p)))
}

/** The early check runs only with a second core (see beginStampCheck); on one, its tests are skipped. */
const withTwoCores = availableParallelism() > 1 ? test : test.skip

withTwoCores('an early stamp check of a stamp saved over since is not used', async () => {
  const p = await project()
  await write(p.dir, {'a.txt': 'a\n', 'b.txt': 'b\n'})
  await sleep(150) // so that the stamp trusts their stats (a file written just before is re-read every time)
  await snapshot(p)
  await write(p.dir, {'a.txt': 'a2\n'})
  beginStampCheck(p.dir)
  await sleep(400) // it has seen a.txt edited
  ok(await ml(p.dir, ['project', 'snapshot', '-q'])) // another ml process saves a new stamp, with a.txt in it
  await write(p.dir, {'b.txt': 'b2\n'})
  assert.is((await stageLocked(p)).tree, oracleTree(p.dir), 'b.txt, edited after that check, is staged')
})

withTwoCores('an early stamp check more than a second old is not used', async () => {
  const p = await project()
  await write(p.dir, {'a.txt': 'a\n'})
  await sleep(150)
  await snapshot(p)
  beginStampCheck(p.dir)
  await sleep(1100)
  await write(p.dir, {'a.txt': 'a2\n'})
  assert.is((await stageLocked(p)).tree, oracleTree(p.dir))
})

const CRLF_TEXT = '*.txt text\n'
const fallbacks: Array<[string, (p: Project) => Promise<void>]> = [
  ['a .gitattributes in the folder', (p) => write(p.dir, {'sub/.gitattributes': CRLF_TEXT})],
  ['info/attributes in the history', (p) => fs.writeFile(path.join(p.dir, '.ml', 'history.git', 'info', 'attributes'), CRLF_TEXT)],
  ['core.attributesFile', async (p) => {
    const file = path.join(tempDir(), 'attributes')
    await fs.writeFile(file, CRLF_TEXT)
    shadowGit(p.dir, ['config', 'core.attributesFile', file])
  }],
  ['core.autocrlf', async (p) => void shadowGit(p.dir, ['config', 'core.autocrlf', 'true'])],
]
for (const [what, arrange] of fallbacks) {
  test(`with ${what}, a first snapshot converts line endings as git does`, async () => {
    const p = await project()
    await write(p.dir, {'sub/crlf.txt': 'one\r\ntwo\r\n'})
    await arrange(p)
    const s = await firstSnapshot(p)
    assert.is(s.tree, oracleTree(p.dir))
    assert.is(shadowGit(p.dir, ['cat-file', '-s', `${s.tree}:sub/crlf.txt`]), '8', 'stored with LF endings')
  })
}

test('an unchanged folder reuses the tip; a change makes one new commit on a linear branch', async () => {
  const p = await project()
  const first = await snapshot(p)
  assert.not.ok(first.created, 'init already snapshotted the template')
  await write(p.dir, {'train.py': 'print("changed")\n'})
  const second = await snapshot(p)
  assert.ok(second.created)
  assert.is((await snapshot(p)).commit, second.commit)
  await fs.rm(path.join(p.dir, 'iris.csv'))
  const third = await snapshot(p)
  assert.is(third.tree, oracleTree(p.dir), 'a deleted file leaves the tree')
  const chain = shadowGit(p.dir, ['rev-list', '--parents', historyRef(p)]).split('\n').map((l) => l.split(' '))
  assert.is(chain.length, 3)
  assert.ok(chain.every((c, i) => c.length === (i === chain.length - 1 ? 1 : 2)), 'every commit has one parent but the root')
  assert.is(chain[0][0], third.commit)
})

test('a file that a new ignore rule covers leaves the next snapshot', async () => {
  const p = await project()
  await write(p.dir, {'cache/a.bin': 'a', 'sub/x.tmp': 'x'})
  const before = await snapshot(p)
  assert.match(shadowGit(p.dir, ['ls-tree', '-r', '--name-only', before.commit]), /cache\/a\.bin/)
  await fs.appendFile(path.join(p.dir, '.amlignore'), 'cache/\n')
  await write(p.dir, {'sub/.gitignore': '*.tmp\n'})
  const after = await snapshot(p)
  assert.is(after.tree, oracleTree(p.dir))
  assert.not.match(shadowGit(p.dir, ['ls-tree', '-r', '--name-only', after.commit]), /cache\/a\.bin|x\.tmp/)
  await fs.writeFile(path.join(p.dir, '.amlignore'), '')
  assert.is((await snapshot(p)).tree, oracleTree(p.dir), 'and comes back when the rule goes')
})

test('a file changed within the same second as the last snapshot is still seen', async () => {
  const p = await project()
  for (let i = 0; i < 5; i++) {
    await write(p.dir, {'train.py': `print(${i})\n`})
    const s = await snapshot(p)
    assert.is(shadowGit(p.dir, ['show', `${s.commit}:train.py`]), `print(${i})`)
  }
})

test('files named like an object\'s own properties (__proto__, constructor) are stamped and their edits seen', async () => {
  const p = await project()
  const names = ['__proto__', 'constructor', 'toString', 'sub/__proto__', 'sub/hasOwnProperty']
  await write(p.dir, Object.fromEntries(names.map((n) => [n, 'one\n'])))
  const first = await snapshot(p)
  assert.is(first.tree, oracleTree(p.dir))
  const stamped = parseStamp(await fs.readFile(path.join(p.dir, '.ml', 'folder-stamp')))!.paths
  assert.equal([...stamped].sort(), shadowGit(p.dir, ['ls-tree', '-r', '--name-only', first.commit]).split('\n').sort(), 'the stamp holds the tracked files, by name')
  for (const name of names) {
    await new Promise((resolve) => setTimeout(resolve, 150)) // past the stamp's racy window
    await write(p.dir, {[name]: 'two\n'})
    const s = await snapshot(p)
    assert.is(s.tree, oracleTree(p.dir), `an edit of ${name} is seen`)
  }
})

test('a stamp file reads back as it was written, and a damaged or older one is no stamp', () => {
  const stamp: FolderStamp = {
    tree: 'a'.repeat(40), commit: '', context: 'c'.repeat(40), secrets: ['.env'],
    dirs: {'': [[16877, 4096, 1.5, 2.5, 7], 'f'.repeat(40)], 'n\u00e4me\nwith newline': [[16877, 4096, 3, 4, 8], 'e'.repeat(40)]},
    paths: ['a.txt', 'n\u00e4me\nwith newline/b.txt', '__proto__'],
    stats: Float64Array.from({length: 15}, (_, i) => i * 1.25),
    written: {'a.txt': [0o100644, 'b'.repeat(40)]},
  }
  const bytes = formatStamp(stamp)
  assert.equal(parseStamp(bytes), stamp)
  const empty = {...stamp, paths: [], stats: new Float64Array(0)}
  assert.equal(parseStamp(formatStamp(empty)), empty)
  assert.is(parseStamp(bytes.subarray(0, bytes.length - 1)), null, 'cut short')
  assert.is(parseStamp(Buffer.concat([bytes, Buffer.alloc(8)])), null, 'too long')
  assert.is(parseStamp(Buffer.alloc(0)), null, 'empty')
  assert.is(parseStamp(Buffer.from(JSON.stringify({version: 3, ...stamp, stats: ''}))), null, 'the JSON stamp of version 3')
  const header = bytes.subarray(0, bytes.indexOf(10)).toString()
  assert.is(parseStamp(Buffer.concat([Buffer.from(header.replace('"files":3', '"files":2')), bytes.subarray(header.length)])), null, 'a count that disagrees')
})

test('likely secrets stay out by default, and a ! rule in .amlignore brings one back', async () => {
  const p = await project()
  await write(p.dir, {'.env': 'TOKEN=1', '.env.prod': 'x', 'keys/server.pem': 'pem', 'keys/server.key': 'key', '.aws/credentials': 'aws', 'home/.ssh/id_ed25519': 'k', 'id_rsa.pub': 'pub', '.netrc': 'n', 'conf/credentials.json': '{}', 'keys/readme.txt': 'kept'})
  const s = await snapshot(p)
  assert.is(s.tree, oracleTree(p.dir))
  assert.equal(shadowGit(p.dir, ['ls-tree', '-r', '--name-only', s.commit]).split('\n').filter((f) => !['.amlignore', '.gitignore', 'iris.csv', 'run_logger.py', 'train.py'].includes(f)), ['keys/readme.txt'])
  await fs.appendFile(path.join(p.dir, '.amlignore'), '!keys/server.pem\n')
  const again = await snapshot(p)
  assert.is(again.tree, oracleTree(p.dir))
  assert.match(shadowGit(p.dir, ['ls-tree', '-r', '--name-only', again.commit]), /keys\/server\.pem/)
  assert.equal(again.secrets, ['.aws/', '.env', '.env.prod', '.netrc', 'conf/credentials.json', 'home/.ssh/', 'id_rsa.pub', 'keys/server.key'])
})

test.run()
