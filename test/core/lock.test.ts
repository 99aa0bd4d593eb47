import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import * as assert from 'uvu/assert'
import {isAlive} from '../../src/shared/is-alive.js'
import {timedSuite} from '../helpers.js'

const test = timedSuite('lock', 30_000)

test('isAlive: a running process is alive; one that ended but was not reaped (a zombie) is not', async () => {
  // python3 forks a child that exits at once and is never waited for: a zombie while python sleeps.
  const parent = spawn('python3', ['-c', 'import os, sys, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(20)'], {stdio: ['ignore', 'pipe', 'inherit']})
  try {
    const child = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))))
    const zombie = () => / Z /.test(readFileSync(`/proc/${child}/stat`, 'utf8'))
    for (let i = 0; i < 100 && !zombie(); i++) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.ok(zombie(), 'the child is a zombie')
    assert.is(isAlive(child), false)
    assert.is(isAlive(parent.pid!), true)
  } finally {
    parent.kill('SIGKILL')
  }
  assert.is(isAlive(2 ** 22 + 12345), false, 'a pid no process has')
})

test.run()
