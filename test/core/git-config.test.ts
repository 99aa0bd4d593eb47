import {writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {globalGitConfigValue} from '../../src/git/nodegit.js'
import {git, tempDir, timedSuite} from '../helpers.js'

/** ml reads a few global git settings before libgit2 loads: it must read them as git does. */
const test = timedSuite('git-config', 30_000)

const CONFIG = `[http "https://internal.example"]
\tsslCAInfo = /etc/ssl/internal-only.pem
[core]
\texcludesFile = "~/my #ignores"   # the file of ignore rules
[http]
\tsslCAInfo = /etc/ssl/"everyone".pem ; for all hosts
`

test('a URL-scoped value is not the global one, and # or ; inside quotes does not start a comment (as git reads them)', () => {
  const home = tempDir('ml-git-config-')
  writeFileSync(path.join(home, '.gitconfig'), CONFIG)
  const env = {HOME: home, XDG_CONFIG_HOME: path.join(home, '.config')}
  const file = path.join(home, '.gitconfig')
  for (const [section, key] of [['http', 'sslcainfo'], ['core', 'excludesfile']]) {
    assert.is(globalGitConfigValue(env, section, key), git(home, ['config', '--file', file, '--get', `${section}.${key}`]), `${section}.${key}`)
  }
  assert.is(globalGitConfigValue(env, 'http', 'sslcainfo'), '/etc/ssl/everyone.pem')
  assert.is(globalGitConfigValue(env, 'core', 'excludesfile'), '~/my #ignores')
})

test.run()
