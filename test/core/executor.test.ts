import {spawn} from 'node:child_process'
import {once} from 'node:events'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
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

test('a script still running when ml exits gets the SIGINT its own process group kept from the terminal', async () => {
  const dir = tempDir()
  await write(dir, {'s.sh': 'trap \'echo interrupted > got; exit 130\' INT\necho $$ > pid\necho ready\nwhile :; do sleep 0.1; done\n'})
  const executor = new URL('../../src/core/execution/executor.js', import.meta.url).href
  // An ml stand-in that exits (as on a signal while it pushes) once its script has started.
  const ml = `const {execute} = await import(${JSON.stringify(executor)})
await execute({cwd: process.argv[1], command: ['bash', ['s.sh']], env: process.env, logFile: process.argv[1] + '/log', onOutput: () => process.exit(0)})`
  const child = spawn(process.execPath, ['--input-type=module', '-e', ml, dir], {stdio: 'inherit'})
  await once(child, 'exit')
  const got = path.join(dir, 'got')
  for (let i = 0; i < 50 && !existsSync(got); i++) await sleep(100)
  const pid = Number(await fs.readFile(path.join(dir, 'pid'), 'utf8'))
  try {
    assert.is(await fs.readFile(got, 'utf8').catch(() => 'no signal'), 'interrupted\n')
  } finally {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // it ended on the SIGINT
    }
  }
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
