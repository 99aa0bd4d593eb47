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

test('a sweep\'s value flags take the next word, so SCRIPT is found after them', () => {
  assert.equal(splitSubmitArgv(['-j', '3', '--grid', 'lr=0.1,0.2', '--range', 'x=1:2', '--random', '4', '--seed', '7', 'train.py', '--epochs', '3']),
    {mine: ['-j', '3', '--grid', 'lr=0.1,0.2', '--range', 'x=1:2', '--random', '4', '--seed', '7'], script: 'train.py', scriptArgs: ['--epochs', '3']})
  assert.equal(protectScriptArgs(['experiment', 'sweep', '--grid', 'a=1,2', 't.py', '--help']), ['experiment', 'sweep', '--grid', 'a=1,2', '--', 't.py', '--help'])
})

test('protectScriptArgs puts -- before SCRIPT for submit and sweep only', () => {
  assert.equal(protectScriptArgs(['experiment', 'submit', 'train.py', '--help']), ['experiment', 'submit', '--', 'train.py', '--help'])
  assert.equal(protectScriptArgs(['experiment', 'submit', '--help']), ['experiment', 'submit', '--help'])
  assert.equal(protectScriptArgs(['history', 'list', '--help']), ['history', 'list', '--help'])
})

test.run()
