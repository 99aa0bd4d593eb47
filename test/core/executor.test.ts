import {promises as fs} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {changedFiles, execute, stampFiles} from '../../src/core/execution/executor.js'
import {commandFor} from '../../src/core/runs/script-command.js'
import {cleanup, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('executor')
test.after.each(cleanup)

test('commandFor picks the interpreter by extension', () => {
  assert.equal(commandFor('train.py', '/node'), ['python3', ['train.py']])
  assert.equal(commandFor('a/b.mjs', '/node'), ['/node', ['a/b.mjs']])
  assert.equal(commandFor('run.sh', '/node'), ['bash', ['run.sh']])
  assert.equal(commandFor('tool', '/node'), ['./tool', []])
  assert.equal(commandFor('bin/tool', '/node'), ['./bin/tool', []])
})

test('runs a script with its arguments and environment, streams and logs its output', async () => {
  const dir = tempDir()
  await write(dir, {'s.sh': 'echo "out $1 [$2] $FOO"; echo err >&2; exit 3\n'})
  const chunks: string[] = []
  const logFile = path.join(dir, 'logs', 'out.log')
  const r = await execute({cwd: dir, command: ['bash', ['s.sh', 'a b', '--c']], env: {...process.env, FOO: 'bar'}, logFile, onOutput: (c) => chunks.push(c.toString())})
  assert.is(r.exitCode, 3)
  assert.not.ok(r.canceled)
  const log = await fs.readFile(logFile, 'utf8')
  assert.ok(log.includes('out a b [--c] bar\n') && log.includes('err\n'))
  assert.is(chunks.join('').length, log.length)
})

test('a script that cannot start ends with startError, not a crash', async () => {
  const dir = tempDir()
  await write(dir, {tool: 'not executable'})
  const r = await execute({cwd: dir, command: ['./tool', []], env: process.env, logFile: path.join(dir, 'log')})
  assert.ok(r.startError?.includes('EACCES'), r.startError)
})

test('aborting stops the script and marks the result canceled', async () => {
  const dir = tempDir()
  await write(dir, {'s.sh': 'echo started; sleep 30\n'})
  const controller = new AbortController()
  const started = Date.now()
  const r = await execute({
    cwd: dir, command: ['bash', ['s.sh']], env: process.env, logFile: path.join(dir, 'log'), signal: controller.signal, killAfterMs: 2000,
    onOutput: () => controller.abort(),
  })
  assert.ok(r.canceled)
  assert.ok(Date.now() - started < 10_000)
})

test('stampFiles and changedFiles find new and rewritten files only', async () => {
  const dir = tempDir()
  await write(dir, {'old.txt': 'same', 'keep/me.txt': 'same'})
  const before = await stampFiles(dir)
  await write(dir, {'new/a.txt': 'new'})
  await fs.writeFile(path.join(dir, 'old.txt'), 'longer content')
  assert.equal(changedFiles(before, await stampFiles(dir)), ['new/a.txt', 'old.txt'])
  assert.equal((await stampFiles(path.join(dir, 'missing'))).size, 0)
})

test.run()
