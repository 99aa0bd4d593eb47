import {existsSync, promises as fs, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import * as assert from 'uvu/assert'
import {type Project} from '../../src/core/project/project.js'
import {initProject} from '../../src/core/setup/init.js'
import {type FolderStamp, formatStamp, parseStamp} from '../../src/core/snapshot/folder-stamp.js'
import {stageProject, stampRestored, takeSnapshot} from '../../src/core/snapshot/snapshot.js'
import {cleanup, git, ml, ok, oracleTree, shadowGit, tempDir, timedSuite, write} from '../helpers.js'
import {historyOpener} from '../../src/core/snapshot/open-history.js'

const test = timedSuite('folder-stamp')
test.after.each(cleanup)

const stampFile = (p: Project) => path.join(p.dir, '.ml', 'folder-stamp')
/** The stamp in the project folder `dir`. */
const readStampOf = (dir: string) => parseStamp(readFileSync(path.join(dir, '.ml', 'folder-stamp')))!

/** A snapshot taken once the racy window has passed, so that the stamp is trusted. */
async function settledSnapshot(p: Project) {
  await sleep(150)
  return takeSnapshot(p, historyOpener(p), 'test snapshot')
}

test('every kind of change after a stamped snapshot gives the tree git gives', async () => {
  const {project: p} = await initProject({dir: tempDir(), template: 'iris'})
  await write(p.dir, {'src/a.py': 'a = 1\n', 'src/b.py': 'b = 1\n', 'logs/.gitignore': '*.log\n', 'logs/x.log': 'ignored\n', 'keys/.keep': ''})
  await fs.rm(path.join(p.dir, 'keys/.keep'))
  await fs.writeFile(path.join(p.dir, 'keys', 'old.log'), 'a folder holding only ignored files\n')
  await settledSnapshot(p)
  assert.ok(existsSync(stampFile(p)), 'a stamp is kept after a settled snapshot')
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['nothing', async () => undefined],
    ['edit in place', () => fs.appendFile(path.join(p.dir, 'src/a.py'), 'a = 2\n')],
    ['edit by rename', async () => {
      await fs.writeFile(path.join(p.dir, 'src/b.py.tmp'), 'b = 2\n')
      await fs.rename(path.join(p.dir, 'src/b.py.tmp'), path.join(p.dir, 'src/b.py'))
    }],
    ['an ignored file rewritten', () => fs.writeFile(path.join(p.dir, 'logs/x.log'), 'still ignored\n')],
    ['a new file in a folder of ignored files', () => fs.writeFile(path.join(p.dir, 'logs/new.txt'), 'new\n')],
    ['a new file where nothing is tracked', () => fs.writeFile(path.join(p.dir, 'keys/new.txt'), 'new\n')],
    ['a new folder', () => write(p.dir, {'deep/er/est.txt': 'deep\n'})],
    ['a .gitignore rule', () => fs.appendFile(path.join(p.dir, 'logs/.gitignore'), 'new.txt\n')],
    ['an .amlignore rule', () => fs.appendFile(path.join(p.dir, '.amlignore'), 'deep/\n')],
    ['an exec bit', () => fs.chmod(path.join(p.dir, 'src/a.py'), 0o755)],
    ['a file becomes a symlink', async () => {
      await fs.rm(path.join(p.dir, 'src/b.py'))
      await fs.symlink('a.py', path.join(p.dir, 'src/b.py'))
    }],
    ['a file removed', () => fs.rm(path.join(p.dir, 'src/a.py'))],
    ['a file becomes a folder', async () => {
      await fs.rm(path.join(p.dir, 'src/b.py'))
      await write(p.dir, {'src/b.py/inner.txt': 'inner\n'})
    }],
    ['a global excludes rule', async () => {
      await fs.mkdir(path.join(process.env.XDG_CONFIG_HOME!, 'git'), {recursive: true})
      await fs.writeFile(path.join(process.env.XDG_CONFIG_HOME!, 'git', 'ignore'), 'iris.csv\n')
    }],
  ]
  for (const [what, change] of steps) {
    await change()
    const snapshot = await settledSnapshot(p)
    assert.is(snapshot.tree, oracleTree(p.dir), what)
  }
  await fs.rm(path.join(process.env.XDG_CONFIG_HOME!, 'git', 'ignore'))
})

test('a change in the same instant as the snapshot is not hidden by the stamp', async () => {
  const {project: p} = await initProject({dir: tempDir()})
  for (let i = 0; i < 5; i++) {
    await fs.writeFile(path.join(p.dir, 'train.py'), `print(${i})\n`)
    const snapshot = await takeSnapshot(p, historyOpener(p), 'quick')
    await fs.writeFile(path.join(p.dir, 'train.py'), `print(${i}, 'again')\n`) // same size, same clock tick
    assert.is((await settledSnapshot(p)).tree, oracleTree(p.dir))
    assert.is.not(snapshot.tree, oracleTree(p.dir))
  }
})

test('a nested git repository turns the stamp off (its HEAD is part of the snapshot)', async () => {
  const {project: p} = await initProject({dir: tempDir()})
  const nested = path.join(p.dir, 'vendor', 'lib')
  await write(nested, {'x.txt': 'x\n'})
  git(nested, ['init', '-q'])
  git(nested, ['add', '-A'])
  git(nested, ['commit', '-q', '-m', 'one'])
  await settledSnapshot(p)
  assert.not.ok(existsSync(stampFile(p)))
  await fs.writeFile(path.join(nested, 'x.txt'), 'y\n')
  git(nested, ['commit', '-q', '-am', 'two'])
  assert.is((await settledSnapshot(p)).tree, oracleTree(p.dir))
})

/** Each stamped file, 'racy' when poisoned (mode 0 in its stats: 5 float64 a file, base64), else 'stat'. */
function trust(stamp: FolderStamp): Record<string, 'racy' | 'stat'> {
  return Object.fromEntries(stamp.paths.map((file, i) => [file, stamp.stats[i * 5] === 0 ? 'racy' : 'stat']))
}

test('ml project snapshot reuses the stamped snapshot without reading git', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init', '.']))
  await fs.appendFile(path.join(dir, 'train.py'), '# more\n')
  await sleep(150)
  const first = ok(await ml(dir, ['project', 'snapshot', '-q'])).stdout.trim()
  const stamp = readStampOf(dir)
  assert.is(stamp.commit, first)
  // Trusted as it is: a commit id written into the stamp by hand comes back unread.
  writeFileSync(path.join(dir, '.ml', 'folder-stamp'), formatStamp({...stamp, commit: 'f'.repeat(40)}))
  assert.is(ok(await ml(dir, ['project', 'snapshot', '-q'])).stdout.trim(), 'f'.repeat(40))
  writeFileSync(path.join(dir, '.ml', 'folder-stamp'), formatStamp(stamp))
  assert.match(ok(await ml(dir, ['project', 'snapshot'])).stdout, `Nothing changed since snapshot ${first}`)
})

test('a stamp kept by a restore plan learns the commit of the next snapshot', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init', '.']))
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const runId = JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'])).stdout).runId as string
  await fs.appendFile(path.join(dir, 'train.py'), '# changed\n')
  await sleep(150)
  ok(await ml(dir, ['project', 'restore', '--dry-run', '--run-id', runId]))
  const stamp = () => readStampOf(dir)
  assert.is(stamp().commit, '', 'the plan staged the folder but made no commit')
  const commit = ok(await ml(dir, ['project', 'snapshot', '-q'])).stdout.trim()
  assert.is(stamp().commit, commit)
})

test('a restore keeps a stamp, and the snapshots after it are the trees git gives', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init', '.']))
  await write(dir, {'src/a.py': 'a = 1\n', 'src/b.py': 'b = 1\n', 'docs/x.md': 'x\n', 'logs/.gitignore': '*.log\n', 'logs/run.log': 'ignored\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const first = JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'])).stdout)
  await write(dir, {'src/a.py': 'a = 2\n', 'new/deep/n.txt': 'new\n'})
  await fs.rm(path.join(dir, 'docs/x.md'))
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const stampFile = path.join(dir, '.ml', 'folder-stamp')
  const snapshot = async () => ok(await ml(dir, ['project', 'snapshot', '-q'])).stdout.trim()

  ok(await ml(dir, ['project', 'restore', '--yes', '--run-id', first.runId]))
  assert.ok(existsSync(stampFile), 'the restore left a stamp')
  const stamp = readStampOf(dir)
  assert.is(stamp.tree, shadowGit(dir, ['rev-parse', `${first.snapshotId}^{tree}`]))
  // What the restore wrote is not trusted (a write racing it would share its stat); the rest is.
  const files = trust(stamp)
  assert.is(files['src/a.py'], 'racy')
  assert.is(files['docs/x.md'], 'racy')
  assert.is(files['train.py'], 'stat')
  assert.not.ok('logs/run.log' in files, 'ignored files are not in the stamp')
  const restored = await snapshot()
  assert.is(shadowGit(dir, ['rev-parse', `${restored}^{tree}`]), oracleTree(dir), 'right after the restore')

  // Changes at once after a restore, to files it wrote and to ones it left alone.
  const second = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)[0]
  ok(await ml(dir, ['project', 'restore', '--yes', '--run-id', second.runId]))
  await write(dir, {'src/a.py': 'a = 3\n', 'src/b.py': 'b = 3\n', 'src/c.py': 'c\n', 'logs/run.log': 'still ignored\n'})
  const changed = await snapshot()
  assert.is(shadowGit(dir, ['rev-parse', `${changed}^{tree}`]), oracleTree(dir), 'changes made at once after the restore')
  shadowGit(dir, ['fsck', '--strict'])
})

test('a stamp kept after a restore holds what the restore staged: a file changed while it ran is staged by the next snapshot', async () => {
  const {project: p} = await initProject({dir: tempDir()})
  await write(p.dir, {'a.txt': 'a\n', 'b.txt': 'b\n'})
  await settledSnapshot(p)
  const open = historyOpener(p)
  const staged = await stageProject(p, open)
  await sleep(20)
  await fs.appendFile(path.join(p.dir, 'a.txt'), 'changed while the restore ran\n')
  await sleep(300) // far outside the racy window of a plain snapshot
  await stampRestored(p, await open(), staged.tree, staged, [], new Map())
  const files = trust(readStampOf(p.dir))
  assert.is(files['a.txt'], 'stat', 'as staged')
  const commit = ok(await ml(p.dir, ['project', 'snapshot', '-q'])).stdout.trim()
  assert.is(shadowGit(p.dir, ['rev-parse', `${commit}^{tree}`]), oracleTree(p.dir))
})

test('a restore that writes a folder the rules now ignore keeps no stamp, and the next snapshot is the tree it restored', async () => {
  const dir = tempDir()
  const home = tempDir('ml-test-home-')
  const env = {HOME: home, XDG_CONFIG_HOME: path.join(home, '.config')}
  ok(await ml(dir, ['project', 'init', '.'], env))
  await write(dir, {'data/a.csv': '1\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.py'], env))
  const first = JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'], env)).stdout)
  await fs.rm(path.join(dir, 'data'), {recursive: true})
  ok(await ml(dir, ['project', 'snapshot', '-q'], env))
  // The user's own excludes (outside the project) now ignore data/.
  await write(home, {'.config/git/ignore': 'data/\n'})
  ok(await ml(dir, ['project', 'snapshot', '-q'], env))
  ok(await ml(dir, ['project', 'restore', '--yes', '--run-id', first.runId], env))
  assert.ok(existsSync(path.join(dir, 'data', 'a.csv')), 'the restore wrote the folder')
  assert.not.ok(existsSync(path.join(dir, '.ml', 'folder-stamp')))
  // As after git's checkout of a commit with an ignored file: restored, it is tracked.
  const after = ok(await ml(dir, ['project', 'snapshot', '-q'], env)).stdout.trim()
  assert.is(shadowGit(dir, ['rev-parse', `${after}^{tree}`]), shadowGit(dir, ['rev-parse', `${first.snapshotId}^{tree}`]))
})

test('a restore that changes ignore rules keeps no stamp, and the next snapshot is the tree git gives', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init', '.']))
  await write(dir, {'data/a.csv': '1\n', 'data/b.tmp': 'scratch\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const first = JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'])).stdout)
  await write(dir, {'data/.gitignore': '*.tmp\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  ok(await ml(dir, ['project', 'restore', '--yes', '--run-id', first.runId]))
  assert.not.ok(existsSync(path.join(dir, '.ml', 'folder-stamp')))
  const commit = ok(await ml(dir, ['project', 'snapshot', '-q'])).stdout.trim()
  assert.is(shadowGit(dir, ['rev-parse', `${commit}^{tree}`]), oracleTree(dir))
})

/** The stat of the history's index: staging anything with git rewrites it. */
const indexStat = (dir: string) => {
  const st = statSync(path.join(dir, '.ml', 'history.git', 'index'))
  return `${st.ino} ${st.mtimeMs} ${st.size}`
}

test('a restore keeps the blobs it wrote: the next snapshot hashes them instead of staging them, and still sees any change to them', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init', '.']))
  await write(dir, {'src/a.py': 'a = 1\n', 'run.sh': 'echo 1\n'})
  await fs.chmod(path.join(dir, 'run.sh'), 0o755)
  await fs.symlink('src/a.py', path.join(dir, 'link'))
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const first = JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'])).stdout)
  const firstTree = shadowGit(dir, ['rev-parse', `${first.snapshotId}^{tree}`])
  await write(dir, {'src/a.py': 'a = 2\n', 'run.sh': 'echo 2\n'})
  await fs.rm(path.join(dir, 'link'))
  await fs.symlink('run.sh', path.join(dir, 'link'))
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const second = JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'])).stdout)
  const snapshotTree = async () => shadowGit(dir, ['rev-parse', `${ok(await ml(dir, ['project', 'snapshot', '-q'])).stdout.trim()}^{tree}`])
  const backAndForth = async () => {
    ok(await ml(dir, ['project', 'restore', '--yes', '--run-id', second.runId]))
    ok(await ml(dir, ['project', 'restore', '--yes', '--run-id', first.runId]))
  }

  ok(await ml(dir, ['project', 'restore', '--yes', '--run-id', first.runId]))
  const blob = (file: string) => {
    const [mode, , oid] = shadowGit(dir, ['ls-tree', first.snapshotId, file]).split(/\s+/)
    return [Number.parseInt(mode, 8), oid]
  }
  assert.equal(readStampOf(dir).written, {'src/a.py': blob('src/a.py'), 'run.sh': blob('run.sh'), link: blob('link')})
  const index = indexStat(dir)
  await sleep(150)
  assert.is(await snapshotTree(), firstTree)
  assert.is(indexStat(dir), index, 'git staged nothing')
  const stamp = readStampOf(dir)
  assert.is(stamp.written, undefined, 'settled: the stat is trusted again')
  assert.equal([trust(stamp)['src/a.py'], trust(stamp)['run.sh'], trust(stamp).link], ['stat', 'stat', 'stat'])

  // Changes to what the restore had just written, each one made right after it.
  const changes: Array<[string, () => Promise<void>]> = [
    ['same size and mtime', async () => {
      const file = path.join(dir, 'src/a.py')
      const st = await fs.stat(file)
      await fs.writeFile(file, 'a = 3\n')
      await fs.utimes(file, st.atime, st.mtime)
    }],
    ['an exec bit given', () => fs.chmod(path.join(dir, 'src/a.py'), 0o755)],
    ['an exec bit taken', () => fs.chmod(path.join(dir, 'run.sh'), 0o644)],
    ['a symlink pointed elsewhere', async () => {
      await fs.rm(path.join(dir, 'link'))
      await fs.symlink('src/b.py', path.join(dir, 'link'))
    }],
    ['a symlink made a file', async () => {
      await fs.rm(path.join(dir, 'link'))
      await fs.writeFile(path.join(dir, 'link'), 'src/a.py')
    }],
  ]
  for (const [what, change] of changes) {
    await backAndForth()
    assert.ok(readStampOf(dir).written, what)
    await change()
    const tree = await snapshotTree()
    assert.is(tree, oracleTree(dir), what)
    assert.is.not(tree, firstTree, what)
  }
})

test('a restore keeps no blob that a filter changes, and after a .gitattributes change the next snapshot stages what it wrote', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init', '.']))
  await write(dir, {'.gitattributes': '*.txt eol=crlf\n', 'crlf.txt': 'one\r\ntwo\r\n', 'plain.csv': 'a,b\r\n1,2\r\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const first = JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'])).stdout)
  await write(dir, {'crlf.txt': 'three\r\n', 'plain.csv': 'c,d\r\n'})
  ok(await ml(dir, ['project', 'snapshot', '-q']))
  ok(await ml(dir, ['project', 'restore', '--yes', '--run-id', first.runId]))
  assert.equal(Object.keys(readStampOf(dir).written ?? {}), ['plain.csv'])
  // plain.csv still holds the blob the restore wrote, but git now stores it with LF endings.
  await fs.appendFile(path.join(dir, '.gitattributes'), '*.csv text\n')
  const commit = ok(await ml(dir, ['project', 'snapshot', '-q'])).stdout.trim()
  assert.is(shadowGit(dir, ['rev-parse', `${commit}^{tree}`]), oracleTree(dir))
  assert.is(shadowGit(dir, ['show', `${commit}:plain.csv`]), 'a,b\n1,2')
})

test.run()
