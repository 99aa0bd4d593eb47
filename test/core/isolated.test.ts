import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {submitExperiment} from '../../src/core/execution/experiment.js'
import {startQueue} from '../../src/core/execution/queue.js'
import {runPool} from '../../src/shared/run-pool.js'
import {initProject} from '../../src/core/setup/init.js'
import {cleanup, git, shadowGit, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('isolated')
test.after.each(cleanup)

const quiet = {env: process.env, onOutput: () => {}}

test('an isolated run reads its snapshot in .ml/work/<run-id>/, reaches ignored data through a link, and leaves no checkout', async () => {
  const dir = tempDir()
  await initProject({dir})
  await write(dir, {
    'data/big.csv': 'ignored data\n',
    '.amlignore': 'data/\n',
    'job.sh': 'echo "cwd=$(pwd) project=$ML_PROJECT_DIR"\ncat data/big.csv\n[ -L data ] && echo linked\ncat vendor/lib/README\nmkdir -p outputs && echo out > outputs/o.txt\n',
    'vendor/lib/README': 'a nested repository\n',
  })
  // A nested git repository: the snapshot holds only its commit (a gitlink).
  git(path.join(dir, 'vendor', 'lib'), ['init', '-q'])
  git(path.join(dir, 'vendor', 'lib'), ['add', '.'])
  git(path.join(dir, 'vendor', 'lib'), ['commit', '-qm', 'lib'])
  const run = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], isolated: true})
  assert.is(run.status, 'Completed')
  assert.is(run.isolated, true)
  const work = path.join(dir, '.ml', 'work', run.runId)
  const log = shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:output.log`])
  assert.is(log, `cwd=${work} project=${work}\nignored data\nlinked\na nested repository`)
  assert.is(shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:outputs/o.txt`]), 'out')
  assert.equal(run.outputs, [{path: 'o.txt', size: 4}])
  assert.not.ok(existsSync(work), 'the checkout is removed')
  assert.not.ok(existsSync(path.join(dir, 'outputs', 'o.txt')), 'nothing was written to the project folder')
  assert.not.match(shadowGit(dir, ['ls-tree', '-r', '--name-only', run.snapshotId]), /data\//)
})

test('the checkout a killed run left is removed by the next isolated run; a kept one, a queued run\'s and an unknown one stay', async () => {
  const dir = tempDir()
  await initProject({dir})
  await write(dir, {'job.sh': 'true\n'})
  const ended = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: []})
  const kept = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], isolated: true, keepWorkdir: true})
  const queued = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], queue: true})
  const work = path.join(dir, '.ml', 'work')
  assert.ok(existsSync(path.join(work, kept.runId, 'job.sh')), '--keep-workdir keeps the checkout')
  for (const id of [ended.runId, queued.runId, 'not-a-run-yet']) await write(path.join(work, id), {'left.txt': 'x'})
  await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], isolated: true})
  assert.equal((await fs.readdir(work)).sort(), [kept.runId, `${kept.runId}.kept`, queued.runId, 'not-a-run-yet'].sort())
})

test('a queued run that can no longer start is recorded as Failed with the reason, and the worker goes on', async () => {
  const dir = tempDir()
  await initProject({dir})
  await write(dir, {'job.sh': 'echo ran\n'})
  const bad = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: [], queue: true})
  const good = await submitExperiment({...quiet, cwd: dir, script: 'job.sh', args: ['again'], queue: true})
  assert.is(bad.status, 'Queued')
  const bin = tempDir()
  for (const tool of ['python3', 'git']) await fs.symlink(path.join('/usr/bin', tool), path.join(bin, tool))
  // The first one meets a PATH without bash, the second the full PATH.
  let first = true
  const ran = await startQueue({...quiet, cwd: dir, jobs: 1, get env() {
    const env = first ? {...process.env, PATH: bin} : process.env
    first = false
    return env
  }})
  const byId = new Map(ran.map((r) => [r.runId, r]))
  assert.is(byId.get(bad.runId)?.status, 'Failed')
  assert.match(byId.get(bad.runId)!.error!, /INTERPRETER_NOT_FOUND|bash/)
  assert.is(byId.get(good.runId)?.status, 'Completed')
  assert.is(JSON.parse(shadowGit(dir, ['show', `refs/ml/runs/${bad.runId}:run.json`])).status, 'Failed')
})

test('runPool runs at most N at once, in order, and throws the first failure only after all ended', async () => {
  let running = 0
  let most = 0
  const ended: number[] = []
  const work = async (i: number) => {
    running++
    most = Math.max(most, running)
    await new Promise((resolve) => setTimeout(resolve, 20))
    running--
    ended.push(i)
    if (i === 1) throw new Error('one failed')
    return i * 10
  }
  try {
    await runPool([0, 1, 2, 3, 4], 2, work)
    assert.unreachable('a failure is thrown')
  } catch (error) {
    assert.is((error as Error).message, 'one failed')
  }
  assert.is(most, 2)
  assert.equal(ended.sort(), [0, 1, 2, 3, 4], 'the others ran to their end')
  assert.equal(await runPool([1, 2, 3], 3, async (i) => i * 2), [2, 4, 6])
})

test.run()
