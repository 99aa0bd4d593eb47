import {existsSync, promises as fs, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {userInfo} from 'node:os'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, errorCode, git, ml, mlSpawn, ok, tempDir, timedSuite, within, write} from '../helpers.js'
import {bareRepo, freePort, type Relay, type SshServer, startRelay, startSshd} from '../servers.js'

const test = timedSuite('ssh-config', 240_000)
const closers: Array<() => Promise<void> | void> = []
test.after.each(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await cleanup()
})

const me = userInfo().username

async function listener(to?: number): Promise<Relay> {
  const r = await startRelay(to)
  closers.push(r.close)
  return r
}

/** A temp HOME with .ssh/ (its known_hosts file elsewhere, named by UserKnownHostsFile), and an env that gives ml no other key or known_hosts. */
function sshHome(): {home: string; env: NodeJS.ProcessEnv; knownHosts: string; config: (text: string) => void} {
  const home = tempDir('ml-home-')
  const knownHosts = path.join(home, 'hosts-of-the-config')
  writeFileSync(knownHosts, '')
  return {
    home,
    knownHosts,
    env: {HOME: home, SSH_AUTH_SOCK: '', ML_SSH_KEY: '', ML_SSH_KNOWN_HOSTS: ''},
    config: (text) => {
      mkdirSync(path.join(home, '.ssh'), {recursive: true})
      writeFileSync(path.join(home, '.ssh', 'config'), text)
    },
  }
}

/** The lines of known_hosts for sshd's key at each of `ports` on 127.0.0.1. */
function knownAt(sshd: SshServer, ports: number[]): string {
  return ports.map((p) => sshd.knownHostsLine.replace(`]:${sshd.port} `, `]:${p} `)).join('')
}

/** A project in a temp folder, with `env`. */
async function project(env: NodeJS.ProcessEnv): Promise<string> {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p', '-q'], env))
  return path.join(root, 'p')
}

test('a Host alias of ~/.ssh/config: HostName, Port, User, IdentityFile, IdentitiesOnly, UserKnownHostsFile; flags win over the file', async () => {
  const sshd = await startSshd()
  closers.push(() => sshd.close())
  const {env, knownHosts, config} = sshHome()
  writeFileSync(knownHosts, knownAt(sshd, [sshd.port]))
  const refused = await freePort()
  config([
    'Host box',
    '  HostName 127.0.0.1',
    `  Port ${sshd.port}`,
    `  User ${me}`,
    `  IdentityFile ${sshd.userKey}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${knownHosts}`,
    'Host stranger',
    '  HostName 127.0.0.1',
    `  Port ${sshd.port}`,
    '  User nosuchuser-ml',
    `  IdentityFile ${sshd.userKey}`,
    `  UserKnownHostsFile ${knownHosts}`,
    '',
  ].join('\n'))
  const dir = await project(env)
  const workDir = tempDir('ml-host-')
  ok(await ml(dir, ['compute', 'attach', 'box', 'ssh://box', '--work-dir', workDir], env))
  const target = JSON.parse(readFileSync(path.join(dir, '.ml', 'compute', 'box.json'), 'utf8'))
  assert.equal([target.type, target.host, target.port, target.user, target.identity], ['ssh', 'box', undefined, undefined, undefined], 'the alias is kept, resolved at each connection')
  const check = ok(await ml(dir, ['compute', 'check', 'box'], env))
  assert.match(check.stdout, /ok\s+connection/)
  assert.match(check.stdout, /ok\s+work dir/)
  await write(dir, {'train.py': 'import os\nprint("on", os.getcwd())\n'})
  const run = ok(await ml(dir, ['experiment', 'submit', '-c', 'box', 'train.py'], env))
  assert.match(run.stdout, new RegExp(`on ${workDir}/`))

  // The file's User is used: a user sshd does not know is refused, by name.
  ok(await ml(dir, ['compute', 'attach', 'stranger', 'ssh://stranger'], env))
  const strangerCheck = await ml(dir, ['compute', 'check', 'stranger'], env)
  assert.is(errorCode(strangerCheck), 'COMPUTE_ERROR', strangerCheck.stderr)
  assert.match(strangerCheck.stdout, /FAIL\s+connection .*nosuchuser-ml@127\.0\.0\.1/)
  // A port and a user given to attach win over the file's.
  ok(await ml(dir, ['compute', 'attach', 'elsewhere', `ssh://box:${refused}`], env))
  const elsewhere = await ml(dir, ['compute', 'check', 'elsewhere'], env)
  assert.match(elsewhere.stdout, new RegExp(`FAIL\\s+connection .*box \\(${me}@127\\.0\\.0\\.1:${refused}\\) \\(ECONNREFUSED\\)`))
  ok(await ml(dir, ['compute', 'attach', 'asroot', '--type', 'ssh', '--host', 'nosuchuser-flag@box'], env))
  assert.match((await ml(dir, ['compute', 'check', 'asroot'], env)).stdout, /FAIL\s+connection .*nosuchuser-flag@127\.0\.0\.1/)
  // Without the file, the alias is a host name nobody resolves.
  await fs.rm(path.join(env.HOME!, '.ssh', 'config'))
  assert.match((await ml(dir, ['compute', 'check', 'box'], env)).stdout, /FAIL\s+connection .*Could not connect to .*box/)
  assert.is(errorCode(await ml(dir, ['compute', 'attach', 'two', 'ssh://box', '--host', 'other'], env)), 'INVALID_ARGUMENT')
  assert.is(errorCode(await ml(dir, ['compute', 'attach', 'three', 'https://box'], env)), 'INVALID_ARGUMENT')
})

test('ProxyJump: the target is reached through the jump host, and not at all when the jump host is down', async () => {
  const sshd = await startSshd()
  closers.push(() => sshd.close())
  const jump = await listener(sshd.port)
  const hidden = await listener(sshd.port)
  const {env, knownHosts, config} = sshHome()
  writeFileSync(knownHosts, knownAt(sshd, [jump.port, hidden.port]))
  const common = [`  IdentityFile ${sshd.userKey}`, `  UserKnownHostsFile ${knownHosts}`, '  HostName 127.0.0.1']
  config(['Host hidden', `  Port ${hidden.port}`, '  ProxyJump jumper', ...common, 'Host jumper', `  Port ${jump.port}`, ...common, ''].join('\n'))
  const dir = await project(env)
  ok(await ml(dir, ['compute', 'attach', 'far', '--type', 'ssh', '--host', 'hidden', '--work-dir', tempDir('ml-host-')], env))
  await write(dir, {'train.py': 'print("through the jump")\n'})
  const run = ok(await ml(dir, ['experiment', 'submit', '-c', 'far', 'train.py'], env))
  assert.match(run.stdout, /through the jump/)
  assert.ok(jump.connections() >= 1 && hidden.connections() >= 1, `${jump.connections()} to the jump host, ${hidden.connections()} to the target`)
  await jump.close()
  const check = await ml(dir, ['compute', 'check', 'far'], env)
  assert.match(check.stdout, new RegExp(`FAIL\\s+connection .*jumper \\(${me}@127\\.0\\.0\\.1:${jump.port}\\) \\(ECONNREFUSED\\)`), 'the target itself is not tried')
})

test('git remotes over ssh read ~/.ssh/config too: a Host alias in a scp-like or ssh:// URL, its key, known_hosts and HostKeyAlias, ProxyJump', async () => {
  const sshd = await startSshd()
  closers.push(() => sshd.close())
  const {home, env, knownHosts, config} = sshHome()
  writeFileSync(path.join(home, '.gitconfig'), '[user]\n\tname = a\n\temail = a@example.com\n')
  const keyLine = sshd.knownHostsLine.split(' ').slice(1).join(' ')
  writeFileSync(knownHosts, `${sshd.knownHostsLine}gitserver ${keyLine}`)
  const common = ['  HostName 127.0.0.1', `  Port ${sshd.port}`, `  IdentityFile ${sshd.userKey}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${knownHosts}`]
  config(['Host gitbox', ...common, 'Host renamed', ...common, '  HostKeyAlias gitserver', ''].join('\n'))
  const root = tempDir()
  const remote = bareRepo(root)
  ok(await ml(root, ['project', 'init', 'p', '-q', '-r', `gitbox:${remote}`], env))
  const dir = path.join(root, 'p')
  const submit = ok(await ml(dir, ['experiment', 'submit', 'train.py'], env))
  assert.not.match(submit.stderr, /Warning/, submit.stderr)
  assert.match(git(root, ['--git-dir', remote, 'for-each-ref', '--format=%(refname)']), /refs\/heads\/AzureMLHistory\//, 'the run reached the remote')
  // A clone through another alias, whose host key is known only by its HostKeyAlias, keeps the URL as written.
  ok(await ml(root, ['project', 'clone', `ssh://renamed${remote}`, 'b'], env))
  assert.is(JSON.parse(ok(await ml(path.join(root, 'b'), ['history', 'list', '-o', 'json'], env)).stdout).length, 1)
  assert.is(git(path.join(root, 'b'), ['remote', 'get-url', 'origin']).trim(), `ssh://renamed${remote}`)
  // The config's key is the one used: without it (IdentitiesOnly, no other), the server refuses by name.
  config(['Host gitbox', ...common.filter((l) => !l.includes('IdentityFile')), ''].join('\n'))
  const refused = await ml(dir, ['history', 'pull'], env)
  assert.is(errorCode(refused), 'AUTH_FAILED', refused.stderr)
  // Through a ProxyJump host: libgit2 goes through ml's tunnel, and not at all when the jump host is down.
  const jump = await listener(sshd.port)
  const hidden = await listener(sshd.port)
  writeFileSync(knownHosts, knownAt(sshd, [jump.port, hidden.port]))
  const reach = (port: number) => ['  HostName 127.0.0.1', `  Port ${port}`, `  IdentityFile ${sshd.userKey}`, '  IdentitiesOnly yes', `  UserKnownHostsFile ${knownHosts}`]
  config(['Host jumped', ...reach(hidden.port), '  ProxyJump gitjump', 'Host gitjump', ...reach(jump.port), ''].join('\n'))
  ok(await ml(root, ['project', 'clone', `jumped:${remote}`, 'c'], env))
  assert.is(JSON.parse(ok(await ml(path.join(root, 'c'), ['history', 'list', '-o', 'json'], env)).stdout).length, 1)
  assert.ok(jump.connections() >= 1 && hidden.connections() >= 1, `${jump.connections()} to the jump host, ${hidden.connections()} to the remote`)
  await jump.close()
  const down = await within(20_000, ml(root, ['project', 'clone', `jumped:${remote}`, 'd'], env))
  assert.is(errorCode(down), 'REMOTE_UNREACHABLE', down.stderr)
  assert.match(down.stderr, /gitjump|127\.0\.0\.1/)
  assert.not.ok(existsSync(path.join(root, 'd')), 'nothing is left of the failed clone')
})

test('a target that does not answer: one warning, remembered in .ml/, skipped by the next list; history sync tries it and says so per target', async () => {
  const sshd = await startSshd()
  closers.push(() => sshd.close())
  const {env, knownHosts, config} = sshHome()
  const silent = await listener()
  const refused = await freePort()
  writeFileSync(knownHosts, knownAt(sshd, [sshd.port, silent.port, refused]))
  const at = (port: number) => config(['Host box', '  HostName 127.0.0.1', `  Port ${port}`, `  IdentityFile ${sshd.userKey}`, `  UserKnownHostsFile ${knownHosts}`, ''].join('\n'))
  at(sshd.port)
  const dir = await project(env)
  ok(await ml(dir, ['compute', 'attach', 'box', 'ssh://box', '--work-dir', tempDir('ml-host-')], env))
  // A run left out on the target: its submit is killed while it runs there.
  await write(dir, {'wait.sh': 'echo waiting\nsleep 120\n'})
  const child = mlSpawn(dir, ['experiment', 'submit', '-c', 'box', 'wait.sh'], env)
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  await within(30_000, new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('waiting') && resolve())))
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('close', resolve))
  const health = path.join(dir, '.ml', 'target-health.json')
  const stamp = path.join(dir, '.ml', 'compute-runs', 'synced')
  const list = async () => {
    if (existsSync(stamp)) await fs.utimes(stamp, 0, 0) // past the 5 s between listings' syncs
    const r = ok(await ml(dir, ['history', 'list'], env))
    return r.stderr.split('\n').filter((l) => l.startsWith('Warning:'))
  }

  at(silent.port)
  const first = await list()
  assert.is(first.length, 1, first.join('\n'))
  assert.match(first[0], /Warning: 1 run on box could not be looked at: Could not connect to box .*no answer within 1 s.* It is not tried again for 60 s \(`ml history sync` tries it now\)\./)
  assert.is(silent.connections(), 1)
  const remembered = JSON.parse(readFileSync(health, 'utf8'))
  assert.equal(Object.keys(remembered), ['box'])
  assert.ok(remembered.box.downUntil > Date.now() && remembered.box.downUntil - remembered.box.since === 60_000, JSON.stringify(remembered))
  const second = await list()
  assert.is(second.length, 1, second.join('\n'))
  assert.match(second[0], /Warning: 1 run on box was not looked at: box did not answer \d+ s ago; it is tried again in \d+ s, or now by `ml history sync`\./)
  assert.is(silent.connections(), 1, 'the second list did not try it')

  const synced = ok(await ml(dir, ['history', 'sync'], env))
  assert.match(synced.stdout, /^box: unreachable: Could not connect to box .*no answer within 5 s/m)
  assert.is(silent.connections(), 2, 'history sync tries it despite the back-off')
  at(refused)
  assert.match(ok(await ml(dir, ['history', 'sync'], env)).stdout, /^box: unreachable: Could not connect to box .*ECONNREFUSED/m)
  at(sshd.port)
  const back = ok(await ml(dir, ['history', 'sync'], env))
  assert.match(back.stdout, /^box: synced 1 run \(0 changed\)$/m)
  assert.not.ok(existsSync(health), 'a target that answered is forgotten as down')
  assert.equal(await list(), [])
  const [{runId}] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'], env)).stdout)
  ok(await ml(dir, ['experiment', 'cancel', runId], env))
})

test.run()
