import * as assert from 'uvu/assert'
import {timedSuite} from '../helpers.js'
import {protectScriptArgs, splitSubmitArgv} from '../../src/cli/submit-argv.js'

const test = timedSuite('submit-argv')

test('ml flags stop at SCRIPT; everything after belongs to the script', () => {
  assert.equal(splitSubmitArgv(['-c', 'local', 'train.py', '-c', 'x', '--help']), {mine: ['-c', 'local'], script: 'train.py', scriptArgs: ['-c', 'x', '--help']})
  assert.equal(splitSubmitArgv(['--compute=local', 'a.sh']), {mine: ['--compute=local'], script: 'a.sh', scriptArgs: []})
  assert.equal(splitSubmitArgv(['--', '-odd.py', '1']), {mine: [], script: '-odd.py', scriptArgs: ['1']})
  assert.equal(splitSubmitArgv([]), {mine: [], script: undefined, scriptArgs: []})
})

test('protectScriptArgs puts -- before SCRIPT for submit only', () => {
  assert.equal(protectScriptArgs(['experiment', 'submit', 'train.py', '--help']), ['experiment', 'submit', '--', 'train.py', '--help'])
  assert.equal(protectScriptArgs(['experiment', 'submit', '--help']), ['experiment', 'submit', '--help'])
  assert.equal(protectScriptArgs(['history', 'list', '--help']), ['history', 'list', '--help'])
})

test.run()
