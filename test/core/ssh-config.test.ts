import {existsSync} from 'node:fs'
import * as assert from 'uvu/assert'
import {resolveSshConfig} from '../../src/shared/ssh-config-resolve.js'
import {thrown, timedSuite} from '../helpers.js'

const test = timedSuite('ssh-config')
const local = {home: '/home/me', localUser: 'me'}

const CONFIG = `
# a comment
Host gpu gpu-*
  HostName 10.0.0.%h-ignored
  User alice

Host gpu
  Port 2222

Host box
  HostName box.example.com
  User bob
  Port 2200
  IdentityFile ~/.ssh/box_key
  IdentityFile "/keys/with space"
  IdentitiesOnly yes
  UserKnownHostsFile ~/.ssh/known_%h /etc/ssh/extra
  ProxyJump jump@bastion.example.com:2022
  HostKeyAlias boxkey

Host inner
  HostName inner.lan
  ProxyJump bastion,ssh://carol@[fd00::1]:2200

Host !box *.example.com
  User dave

Host *
  User everyone
  Port 2022
  IdentityFile ~/.ssh/id_%u_%r
  CanonicalizeHostName yes
  CanonicalDomains example.org
`

test('a Host alias gets HostName, User, Port, IdentityFile, IdentitiesOnly, UserKnownHostsFile, ProxyJump; the first value obtained wins', () => {
  const box = resolveSshConfig(CONFIG, 'box', {}, local)
  assert.equal(box, {
    alias: 'box',
    host: 'box.example.com',
    port: 2200,
    user: 'bob',
    identityFiles: ['/home/me/.ssh/box_key', '/keys/with space', '/home/me/.ssh/id_me_bob'],
    defaultKeys: false,
    identitiesOnly: true,
    knownHostsFiles: ['/home/me/.ssh/known_box.example.com', '/etc/ssh/extra'],
    hostKeyAlias: 'boxkey',
    proxyJump: [{host: 'bastion.example.com', port: 2022, user: 'jump'}],
  })
  // Two Host blocks match gpu: the first one's User, the second one's Port (before Host *'s).
  const gpu = resolveSshConfig(CONFIG, 'gpu', {}, local)
  assert.equal([gpu.host, gpu.user, gpu.port], ['10.0.0.gpu-ignored', 'alice', 2222])
  assert.equal(resolveSshConfig(CONFIG, 'gpu-7', {}, local).port, 2022, 'a pattern; Port from Host *')
  const inner = resolveSshConfig(CONFIG, 'inner', {}, local)
  assert.equal(inner.proxyJump, [{host: 'bastion'}, {host: 'fd00::1', port: 2200, user: 'carol'}], 'a list of hops, in order')
  assert.equal(resolveSshConfig(CONFIG, 'www.example.com', {}, local).user, 'dave', 'a negated pattern excludes only its name')
})

test('flags win over the file; a host the file does not name gets ssh\'s defaults', () => {
  const box = resolveSshConfig(CONFIG, 'box', {port: 22, user: 'root', identity: '/keys/flag'}, local)
  assert.equal([box.port, box.user, box.identityFiles[0]], [22, 'root', '/keys/flag'])
  const plain = resolveSshConfig('', '127.0.0.1', {port: 4022}, local)
  assert.equal(plain, {alias: '127.0.0.1', host: '127.0.0.1', port: 4022, user: 'me', identityFiles: [], defaultKeys: true, identitiesOnly: false, knownHostsFiles: null, proxyJump: []})
  const none = resolveSshConfig('Host x\n  ProxyJump none\n  UserKnownHostsFile none\n', 'x', {}, local)
  assert.equal([none.proxyJump, none.knownHostsFiles], [[], []])
})

test('a config value ml cannot use is INVALID_ARGUMENT naming it; Match exec is never run', () => {
  assert.match(thrown(() => resolveSshConfig('Host x\n  Port 99999\n', 'x', {}, local), 'INVALID_ARGUMENT').message, /Port 99999/)
  assert.match(thrown(() => resolveSshConfig('Host x\n  ProxyJump -oProxyCommand=evil\n', 'x', {}, local), 'INVALID_ARGUMENT').message, /ProxyJump/)
  const marker = `/tmp/ml-match-exec-${process.pid}`
  const resolved = resolveSshConfig(`Match exec "touch ${marker}"\n  User matched\n`, 'x', {}, local)
  assert.is(resolved.user, 'me')
  assert.not.ok(existsSync(marker), 'Match exec ran a command')
})

test.run()
