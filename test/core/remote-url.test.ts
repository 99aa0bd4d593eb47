import * as assert from 'uvu/assert'
import {parseRemoteUrl, redactSecrets, storableUrl} from '../../src/shared/remote-url.js'
import {timedSuite} from '../helpers.js'

const test = timedSuite('remote-url')

test('parseRemoteUrl takes apart every form of remote git accepts', () => {
  const cases: Array<[string, Partial<ReturnType<typeof parseRemoteUrl>>]> = [
    ['https://user:tok@example.com:8443/org/repo.git', {scheme: 'https', user: 'user', password: 'tok', host: 'example.com', port: 8443, hostPort: 'example.com:8443', path: '/org/repo.git'}],
    ['HTTP://example.com/r', {scheme: 'http', user: undefined, host: 'example.com', port: undefined, path: '/r'}],
    ['ssh://git@127.0.0.1:2222/srv/r.git', {scheme: 'ssh', user: 'git', host: '127.0.0.1', port: 2222, path: '/srv/r.git'}],
    ['ssh://[::1]:22/r', {scheme: 'ssh', host: '::1', port: 22, hostPort: '[::1]:22'}],
    ['git@github.com:me/churn.git', {scheme: 'ssh', user: 'git', host: 'github.com', port: undefined, path: 'me/churn.git'}],
    ['host:repo.git', {scheme: 'ssh', user: undefined, host: 'host', path: 'repo.git'}],
    ['file:///srv/git/r.git', {scheme: 'file', host: '', path: '/srv/git/r.git'}],
    ['/srv/git/r.git', {scheme: 'local', host: '', path: '/srv/git/r.git'}],
    ['./a:b', {scheme: 'local', path: './a:b'}],
  ]
  for (const [url, expected] of cases) {
    const parsed = parseRemoteUrl(url)
    for (const [key, value] of Object.entries(expected)) assert.is(parsed[key as keyof typeof parsed], value, `${url}: ${key}`)
  }
})

test('storableUrl drops an https secret and keeps an ssh user; redactSecrets hides secrets inside a message', () => {
  assert.is(storableUrl('https://user:tok@example.com:8443/r.git'), 'https://example.com:8443/r.git')
  assert.is(storableUrl('https://ghp_x@github.com/a/b'), 'https://github.com/a/b')
  assert.is(storableUrl('ssh://git:pw@host/r'), 'ssh://git@host/r')
  assert.is(storableUrl('git@github.com:a/b.git'), 'git@github.com:a/b.git')
  assert.is(storableUrl('/srv/r.git'), '/srv/r.git')
  assert.is(redactSecrets("failed to fetch 'https://me:s3cret@h/r' and https://tok@h/x"), "failed to fetch 'https://me:***@h/r' and https://***@h/x")
})

test.run()
