import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, promises as fs, writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {parseStamp} from '../../src/core/snapshot/folder-stamp.js'
import {cleanup, errorCode, folderState, git, ml, ok, type Result, shadowGit, tempDir, timedSuite, write} from '../helpers.js'
import {bareRepo, type HttpGitServer, selfSignedCert, startHttpGitServer, startSshd} from '../servers.js'

const test = timedSuite('remote')
const servers: Array<{close: () => Promise<void>}> = []
test.after.each(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()))
  await cleanup()
})

/** A machine of its own: a HOME with a git identity and nothing else. */
function machine(name: string): NodeJS.ProcessEnv {
  const home = tempDir(`ml-home-${name}-`)
  writeFileSync(path.join(home, '.gitconfig'), `[user]\n\tname = ${name}\n\temail = ${name}@example.com\n`)
  return {HOME: home, SSH_AUTH_SOCK: '', ML_GIT_TOKEN: '', ML_GIT_USERNAME: '', ML_GIT_PASSWORD: '', ML_SSH_KEY: '', ML_SSL_CA_FILE: ''}
}


async function runs(dir: string, env: NodeJS.ProcessEnv): Promise<Array<Record<string, unknown> & {runId: string; pushed?: boolean}>> {
  return JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'], env)).stdout)
}

function withoutPushed<T extends {pushed?: boolean}>(list: T[]): Array<Omit<T, 'pushed'>> {
  return list.map(({pushed: _pushed, ...rest}) => rest)
}

async function allFiles(dir: string): Promise<string> {
  const out: string[] = []
  for (const entry of await fs.readdir(dir, {recursive: true, withFileTypes: true})) {
    if (entry.isFile()) out.push((await fs.readFile(path.join(entry.parentPath, entry.name))).toString('latin1'))
  }
  return out.join('\n')
}

test('roaming over file://: A pushes 3 runs, B clones, lists, restores, submits; A pulls 4', async () => {
  const root = tempDir()
  const remote = bareRepo(root)
  const url = `file://${remote}`
  const a = machine('alice')
  const b = machine('bob')
  ok(await ml(root, ['project', 'init', 'proj', '--template', 'iris', '-r', url], a))
  const dirA = path.join(root, 'proj')
  const states: Array<Record<string, string>> = []
  for (const lr of ['0.3', '0.2', '0.1']) {
    await write(dirA, {'config.txt': `lr=${lr}\n`})
    ok(await ml(dirA, ['experiment', 'submit', 'train.py', '--epochs', '5', '--lr', lr], a))
    states.push(await folderState(dirA, ['.git', '.ml', 'outputs']))
  }
  const listA = await runs(dirA, a)
  assert.is(listA.length, 3)
  assert.ok(listA.every((r) => r.pushed === true), 'every run reached the remote')
  git(dirA, ['push', '-q', 'origin', 'master'])

  const dirB = path.join(root, 'bob-copy')
  const cloned = ok(await ml(root, ['project', 'clone', url, 'bob-copy'], b))
  assert.match(cloned.stdout, /Runs:\s+3/)
  assert.equal(JSON.parse(await fs.readFile(path.join(dirB, '.ml', 'project.json'), 'utf8')).id, JSON.parse(await fs.readFile(path.join(dirA, '.ml', 'project.json'), 'utf8')).id)
  const listB = await runs(dirB, b)
  assert.equal(withoutPushed(listB), withoutPushed(listA), 'B sees the same runs with the same properties, status and log')
  const second = listA[1]
  assert.is(ok(await ml(dirB, ['history', 'info', '--run-id', second.runId, '-o', 'json'], b)).stdout, ok(await ml(dirA, ['history', 'info', '--run-id', second.runId, '-o', 'json'], a)).stdout)
  assert.is(shadowGit(dirB, ['show', `refs/ml/runs/${second.runId}:output.log`]), shadowGit(dirA, ['show', `refs/ml/runs/${second.runId}:output.log`]))

  ok(await ml(dirB, ['project', 'restore', '--run-id', second.runId, '--yes'], b))
  assert.equal(await folderState(dirB, ['.git', '.ml', 'outputs']), states[1], 'B gets the files of run 2 byte for byte')

  ok(await ml(dirB, ['experiment', 'submit', 'train.py', '--epochs', '3'], b))
  assert.match(ok(await ml(dirA, ['history', 'pull'], a)).stdout, /1 new run,/)
  const after = await runs(dirA, a)
  assert.is(after.length, 4)
  assert.equal(withoutPushed(after.slice(1)), withoutPushed(listA))
  for (const dir of [dirA, dirB]) shadowGit(dir, ['fsck', '--strict'])
  git(remote, ['fsck', '--strict'])
})

test('two machines snapshot different changes: the history branch stays linear and both pushes land', async () => {
  const root = tempDir()
  const remote = bareRepo(root)
  const url = `file://${remote}`
  const a = machine('alice')
  const b = machine('bob')
  ok(await ml(root, ['project', 'init', 'proj', '-r', url], a))
  const dirA = path.join(root, 'proj')
  git(dirA, ['push', '-q', 'origin', 'master'])
  ok(await ml(root, ['project', 'clone', url, 'b'], b))
  const dirB = path.join(root, 'b')
  await write(dirA, {'a.txt': 'from a\n'})
  await write(dirB, {'b.txt': 'from b\n'})
  ok(await ml(dirA, ['experiment', 'submit', 'train.py'], a))
  const r = ok(await ml(dirB, ['experiment', 'submit', 'train.py'], b))
  assert.not.match(r.stderr, /Warning/, r.stderr)
  const branch = `AzureMLHistory/${JSON.parse(await fs.readFile(path.join(dirA, '.ml', 'project.json'), 'utf8')).id}`
  const parents = git(remote, ['rev-list', '--parents', branch]).split('\n').map((l) => l.split(' ').length)
  assert.ok(parents.slice(0, -1).every((n) => n === 2), 'linear')
  assert.ok(git(remote, ['ls-tree', '--name-only', branch]).includes('b.txt'))
  ok(await ml(dirA, ['history', 'pull'], a))
  assert.is((await runs(dirA, a)).length, 2)
  ok(await ml(dirA, ['project', 'restore', '--run-id', (await runs(dirA, a))[0].runId, '--yes'], a))
  assert.ok(existsSync(path.join(dirA, 'b.txt')), "A restores B's run with B's files")
})

test('a clone of a branch holding the latest snapshot keeps a folder stamp of it: its first snapshot hashes nothing', async () => {
  const root = tempDir()
  const env = machine('alice')
  const remote = bareRepo(root)
  ok(await ml(root, ['project', 'init', 'proj', '--template', 'iris', '-r', `file://${remote}`], env))
  const dir = path.join(root, 'proj')
  git(dir, ['add', '-A'], env)
  git(dir, ['commit', '-q', '--allow-empty', '-m', 'the project'], env)
  git(dir, ['push', '-q', 'origin', 'HEAD:refs/heads/main'], env)
  git(remote, ['symbolic-ref', 'HEAD', 'refs/heads/main'])
  const copy = path.join(root, 'copy')
  assert.not.match(ok(await ml(root, ['project', 'clone', `file://${remote}`, 'copy'], env)).stdout, /no branch of your repo/)
  const stamp = parseStamp(await fs.readFile(path.join(copy, '.ml', 'folder-stamp')))!
  assert.is(stamp.commit, shadowGit(copy, ['rev-parse', 'HEAD']))
  assert.match(ok(await ml(copy, ['project', 'snapshot'], env)).stdout, /Nothing changed since snapshot/)
})

test('update -r refuses a remote that is not empty and changes nothing', async () => {
  const root = tempDir()
  const env = machine('alice')
  const used = bareRepo(root, 'used.git')
  const other = path.join(root, 'other')
  ok(await ml(root, ['project', 'init', 'other', '-r', `file://${used}`], env))
  git(other, ['push', '-q', 'origin', 'master'])
  const withHistoryOnly = bareRepo(root, 'history-only.git')
  shadowGit(other, ['push', '-q', withHistoryOnly, 'refs/heads/AzureMLHistory/*:refs/heads/AzureMLHistory/*'])

  ok(await ml(root, ['project', 'init', 'mine'], env))
  const dir = path.join(root, 'mine')
  const before = await fs.readFile(path.join(dir, '.ml', 'project.json'), 'utf8')
  for (const remote of [used, withHistoryOnly]) {
    const r = await ml(dir, ['project', 'update', '-r', `file://${remote}`], env)
    assert.is(errorCode(r), 'REMOTE_NOT_EMPTY', r.stderr)
  }
  assert.is(await fs.readFile(path.join(dir, '.ml', 'project.json'), 'utf8'), before)
  assert.is(execFileSync('git', ['remote'], {cwd: dir, encoding: 'utf8'}).trim(), '')
  const r = await ml(root, ['project', 'init', 'third', '-r', `file://${used}`], env)
  assert.is(errorCode(r), 'REMOTE_NOT_EMPTY')
  assert.not.ok(existsSync(path.join(root, 'third')), 'init checks the remote before creating anything')
})

async function httpRemote(options: {user?: string; password?: string; tls?: boolean} = {}): Promise<{server: HttpGitServer; root: string; caFile?: string}> {
  const root = tempDir()
  bareRepo(root)
  const tls = options.tls ? selfSignedCert(root) : undefined
  const server = await startHttpGitServer({root, user: options.user, password: options.password, tls: tls && {key: tls.key, cert: tls.cert}})
  servers.push(server)
  return {server, root, caFile: tls?.certFile}
}

test('a push refused by a pre-receive hook never loses the run; ml history push sends it later', async () => {
  // Over http, because git's local (file://) transport runs no hooks.
  const root = tempDir()
  const block = path.join(root, 'block')
  const remote = bareRepo(root, 'project.git', block)
  const server = await startHttpGitServer({root})
  servers.push(server)
  const env = machine('alice')
  ok(await ml(root, ['project', 'init', 'p', '-r', server.url('project.git')], env))
  const dir = path.join(root, 'p')
  writeFileSync(block, '')
  await write(dir, {'job.sh': 'echo working; exit 3\n'})
  const r = await ml(dir, ['experiment', 'submit', 'job.sh'], env)
  assert.is(r.code, 3, 'the exit code is the script\'s, not the push\'s')
  assert.match(r.stdout, /working/)
  assert.match(r.stderr, /Warning: .*refused.*ml history push/)
  const [run] = await runs(dir, env)
  assert.is(run.status, 'Failed')
  assert.is(run.pushed, false)
  assert.match(ok(await ml(dir, ['history', 'list'], env)).stdout, /PUSHED[\s\S]*\sno\n/)

  await write(dir, {'later.txt': 'x'})
  const quiet = ok(await ml(dir, ['experiment', 'submit', '--no-push', 'train.py'], env))
  assert.not.match(quiet.stderr, /Warning/, '--no-push does not even try')

  const again = await ml(dir, ['history', 'push'], env)
  assert.is(again.code, 1)
  assert.match(again.stderr, /refused/)
  await fs.rm(block)
  ok(await ml(dir, ['history', 'push'], env))
  assert.is((await runs(dir, env))[0].pushed, true)
  assert.ok(git(remote, ['for-each-ref']).includes(`refs/ml/runs/${run.runId}`))
})

test('https-style basic auth: a good token works, a wrong one fails fast and clearly', async () => {
  const {server} = await httpRemote({user: 'alice', password: 'tok-good-123'})
  const work = tempDir()
  const env = {...machine('alice'), ML_GIT_USERNAME: 'alice', ML_GIT_TOKEN: 'tok-good-123'}
  ok(await ml(work, ['project', 'init', 'p', '-r', server.url('project.git')], env))
  const dir = path.join(work, 'p')
  ok(await ml(dir, ['experiment', 'submit', 'train.py'], env))
  assert.is((await runs(dir, env))[0].pushed, true)

  const started = Date.now()
  const before = server.unauthorized
  const r = await ml(dir, ['history', 'push'], {...env, ML_GIT_TOKEN: 'tok-wrong'})
  assert.is(r.code, 0, 'nothing to push is not an error')
  await write(dir, {'new.txt': 'x'})
  const bad = await ml(dir, ['experiment', 'submit', 'train.py'], {...env, ML_GIT_TOKEN: 'tok-wrong'})
  assert.is(bad.code, 0)
  assert.match(bad.stderr, /Warning: Could not push .*refused every credential tried \(the token in ML_GIT_TOKEN/)
  assert.ok(Date.now() - started < 15_000)
  assert.ok(server.unauthorized - before <= 10, `bounded tries, not a loop (${server.unauthorized - before})`)
  const push = await ml(dir, ['history', 'push'], {...env, ML_GIT_TOKEN: 'tok-wrong'})
  assert.is(errorCode(push), 'AUTH_FAILED')
  ok(await ml(dir, ['history', 'push'], env))
})

test('a token in the URL works but is never stored under .ml/ nor printed', async () => {
  const secret = 'ghp_S3CRETtoken987'
  const {server} = await httpRemote({user: 'alice', password: secret})
  const work = tempDir()
  const env = machine('alice')
  const url = server.url('project.git').replace('http://', `http://alice:${secret}@`)
  const outputs: Result[] = []
  outputs.push(ok(await ml(work, ['project', 'init', 'p', '-r', url, '--template', 'iris'], env)))
  const dir = path.join(work, 'p')
  outputs.push(ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '3'], env)))
  outputs.push(ok(await ml(dir, ['history', 'list', '-o', 'json'], env)))
  outputs.push(ok(await ml(dir, ['history', 'info', '--run-id', (await runs(dir, env))[0].runId], env)))
  outputs.push(ok(await ml(dir, ['history', 'push'], env)))
  outputs.push(await ml(dir, ['project', 'update', '-r', url.replace(secret, 'wrong-secret')], env))
  const [run] = await runs(dir, env)
  assert.is(run.pushed, true)
  assert.is((run.properties as Record<string, string>)['azureml.git.repository_uri'], url.replace(secret, '***'))
  assert.not.ok((await allFiles(path.join(dir, '.ml'))).includes(secret), 'no file under .ml/ holds the secret')
  for (const o of outputs) assert.not.ok(o.stdout.includes(secret) || o.stderr.includes(secret), o.stdout + o.stderr)
  const clone = ok(await ml(tempDir(), ['project', 'clone', url, 'c'], machine('bob')))
  assert.not.ok(clone.stdout.includes(secret) || clone.stderr.includes(secret))
})

test('https with a self-signed certificate works only with ML_SSL_CA_FILE', async () => {
  const {server, caFile} = await httpRemote({tls: true})
  const work = tempDir()
  const env = machine('alice')
  const r = await ml(work, ['project', 'init', 'p', '-r', server.url('project.git')], env)
  assert.is(errorCode(r), 'TLS_CERT_INVALID', r.stderr)
  assert.not.ok(existsSync(path.join(work, 'p')))
  ok(await ml(work, ['project', 'init', 'p', '-r', server.url('project.git')], {...env, ML_SSL_CA_FILE: caFile}))
})

test("git's credential helper is used when nothing else gives credentials", async () => {
  const {server} = await httpRemote({user: 'carol', password: 'from-helper'})
  const env = machine('carol')
  await fs.writeFile(path.join(env.HOME!, '.git-credentials'), `http://carol:from-helper@127.0.0.1:${new URL(server.url('x')).port}\n`)
  await fs.appendFile(path.join(env.HOME!, '.gitconfig'), '[credential]\n\thelper = store\n')
  const work = tempDir()
  ok(await ml(work, ['project', 'init', 'p', '-r', server.url('project.git')], env))
})

test('ssh: push and clone with a key; unknown or changed host keys and wrong keys are refused clearly', async () => {
  const sshd = await startSshd()
  servers.push(sshd)
  const root = tempDir()
  const remote = bareRepo(root)
  const url = sshd.url(remote)
  const env = machine('alice')
  mkdirSync(path.join(env.HOME!, '.ssh'))
  const knownHosts = path.join(env.HOME!, '.ssh', 'known_hosts')
  const withKey = {...env, ML_SSH_KEY: sshd.userKey}
  const fingerprint = execFileSync('ssh-keygen', ['-lf', '-'], {input: sshd.knownHostsLine, encoding: 'utf8'}).split(' ')[1]

  let r = await ml(root, ['project', 'init', 'p', '-r', url], withKey)
  assert.is(errorCode(r), 'HOST_KEY_UNKNOWN', r.stderr)
  assert.ok(r.stderr.includes(fingerprint), `the message names ${fingerprint}: ${r.stderr}`)

  writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq7ePhNQ3lW4aXBq4i1EWQ2v7F0Mh2T9VbQe\n`)
  r = await ml(root, ['project', 'init', 'p', '-r', url], withKey)
  assert.is(errorCode(r), 'HOST_KEY_CHANGED', r.stderr)

  const extra = path.join(root, 'extra_known_hosts')
  writeFileSync(extra, sshd.knownHostsLine)
  writeFileSync(knownHosts, '')
  ok(await ml(root, ['project', 'init', 'p', '-r', url], {...withKey, ML_SSH_KNOWN_HOSTS: extra}))
  writeFileSync(knownHosts, sshd.knownHostsLine)
  const dir = path.join(root, 'p')
  ok(await ml(dir, ['experiment', 'submit', 'train.py'], withKey))
  assert.is((await runs(dir, withKey))[0].pushed, true)
  git(dir, ['push', '-q', `file://${remote}`, 'master'])

  const wrongKey = path.join(root, 'wrong_key')
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey])
  const started = Date.now()
  r = await ml(dir, ['history', 'pull'], {...env, ML_SSH_KEY: wrongKey})
  assert.is(errorCode(r), 'AUTH_FAILED', r.stderr)
  assert.ok(r.stderr.includes(wrongKey))
  assert.ok(Date.now() - started < 10_000, 'a wrong key fails within seconds')

  const locked = path.join(root, 'locked_key')
  await fs.copyFile(sshd.userKey, locked)
  execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'open sesame', '-f', locked])
  ok(await ml(dir, ['history', 'pull'], {...env, ML_SSH_KEY: locked, ML_SSH_PASSPHRASE: 'open sesame'}))
  r = await ml(dir, ['history', 'pull'], {...env, ML_SSH_KEY: locked, ML_SSH_PASSPHRASE: 'wrong'})
  assert.is(errorCode(r), 'AUTH_FAILED', r.stderr)

  const bob = machine('bob')
  mkdirSync(path.join(bob.HOME!, '.ssh'))
  await fs.copyFile(sshd.userKey, path.join(bob.HOME!, '.ssh', 'id_ed25519'), 0)
  await fs.chmod(path.join(bob.HOME!, '.ssh', 'id_ed25519'), 0o600)
  writeFileSync(path.join(bob.HOME!, '.ssh', 'known_hosts'), sshd.knownHostsLine)
  ok(await ml(root, ['project', 'clone', url, 'b'], bob))
  assert.is((await runs(path.join(root, 'b'), bob)).length, 1)
})

test('a remote that is down: the run is recorded, the push waits for the next submit', async () => {
  const {server, root} = await httpRemote()
  const work = tempDir()
  const env = machine('alice')
  ok(await ml(work, ['project', 'init', 'p', '-r', server.url('project.git')], env))
  const dir = path.join(work, 'p')
  await server.close()
  const r = await ml(dir, ['experiment', 'submit', 'train.py'], env)
  assert.is(r.code, 0)
  assert.match(r.stderr, /Warning: Could not push/)
  assert.is(r.stderr.split('\n').filter((l) => l.startsWith('Warning')).length, 2, 'one line before the script, one after')
  assert.is((await runs(dir, env))[0].pushed, false)
  assert.is(errorCode(await ml(dir, ['history', 'push'], env)), 'REMOTE_UNREACHABLE')
  const again = await startHttpGitServer({root})
  servers.push(again)
  ok(await ml(dir, ['project', 'update', '-r', again.url('project.git')], env))
  assert.is((await runs(dir, env))[0].pushed, true)
})

test.run()
