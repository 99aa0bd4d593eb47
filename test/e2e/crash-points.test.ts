import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {git, ml, ok, oracleTree, type Result, shadowGit, tempDir, timedSuite, write, cleanup} from '../helpers.js'

/**
 * Deterministic crashes (ML_TEST_CRASH_AT, see src/shared/crash-point.ts) at each step of a
 * snapshot, a run's recording, a push and a clone: the process is SIGKILLed there, and the next command
 * must find a clean history (`git fsck --strict`), the folder as it was, and nothing lost. The
 * restore's points are in hostile-remote.test.ts.
 */
const test = timedSuite('crash-points', 90_000)
test.after.each(cleanup)

async function project(): Promise<string> {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p', '-q']))
  return path.join(root, 'p')
}

function killed(r: Result, point: string): void {
  assert.is(r.code, null, `killed at ${point}: ${r.stdout}${r.stderr}`)
}

function assertLinearAndClean(dir: string): void {
  shadowGit(dir, ['fsck', '--strict', '--no-dangling'])
  const branch = shadowGit(dir, ['symbolic-ref', 'HEAD'])
  assert.is(shadowGit(dir, ['rev-list', '--min-parents=2', branch]), '', 'the history branch stays linear')
}

for (const point of ['snapshot-commit-written', 'snapshot-branch-moved']) {
  test(`a snapshot killed at ${point}: the next one records the folder exactly`, async () => {
    const dir = await project()
    await write(dir, {'data/new.csv': '1,2\n', 'train.py': 'print("changed")\n'})
    killed(await ml(dir, ['project', 'snapshot'], {ML_TEST_CRASH_AT: point}), point)
    const next = ok(await ml(dir, ['project', 'snapshot', '-q']))
    assert.is(shadowGit(dir, ['rev-parse', `${next.stdout.trim()}^{tree}`]), oracleTree(dir), 'the snapshot is the folder')
    await write(dir, {'data/later.csv': '3\n'})
    const later = ok(await ml(dir, ['project', 'snapshot', '-q'])).stdout.trim()
    assert.is(shadowGit(dir, ['rev-parse', `${later}^{tree}`]), oracleTree(dir), 'the folder stamp kept after the crash is not stale')
    assertLinearAndClean(dir)
  })
}

for (const point of ['run-script-started', 'run-recorded', 'run-script-ended']) {
  test(`a submit killed at ${point}: the run is Failed with the reason, its outputs stay, the next submit runs`, async () => {
    const dir = await project()
    await write(dir, {'train.py': 'import os\nopen(os.path.join(os.environ["ML_OUTPUTS_DIR"], "model.txt"), "w").write("weights")\n'})
    killed(await ml(dir, ['experiment', 'submit', 'train.py'], {ML_TEST_CRASH_AT: point}), point)
    const [run] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
    assert.is(run.status, 'Failed')
    assert.match(run.error, /ended before the run did/)
    if (point === 'run-script-ended') assert.is(await fs.readFile(path.join(dir, 'outputs', 'model.txt'), 'utf8'), 'weights', 'what the script wrote is still there')
    const next = ok(await ml(dir, ['experiment', 'submit', 'train.py']))
    assert.match(next.stderr, /Completed/)
    assertLinearAndClean(dir)
  })
}

test('a push killed after the remote took the refs: the next push records them, and nothing is pushed twice wrongly', async () => {
  const root = tempDir()
  git(root, ['init', '-q', '--bare', 'remote.git'])
  const remote = path.join(root, 'remote.git')
  ok(await ml(root, ['project', 'init', 'p', '-q', '-r', remote]))
  const dir = path.join(root, 'p')
  ok(await ml(dir, ['experiment', 'submit', '-q', '--no-push', 'train.py']))
  killed(await ml(dir, ['history', 'push'], {ML_TEST_CRASH_AT: 'push-sent'}), 'push-sent')
  const theirs = git(remote, ['for-each-ref', '--format=%(refname)', 'refs/ml/runs/'])
  assert.ok(theirs, 'the remote has the run')
  assert.is(JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)[0].pushed, false, 'not yet recorded as pushed')
  ok(await ml(dir, ['history', 'push']))
  assert.is(JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)[0].pushed, true)
  git(remote, ['fsck', '--strict'])
  assertLinearAndClean(dir)
  assert.not.ok(existsSync(path.join(dir, '.ml', 'lock')), 'no lock is left')
})

for (const point of ['clone-checked-out', 'clone-history-fetched']) {
  test(`a clone killed at ${point} leaves its target untouched, and the next clone there completes and clears the leftover`, async () => {
    const root = tempDir()
    git(root, ['init', '-q', '--bare', 'remote.git'])
    const remote = path.join(root, 'remote.git')
    ok(await ml(root, ['project', 'init', 'p', '-q', '-r', remote]))
    ok(await ml(path.join(root, 'p'), ['experiment', 'submit', '-q', 'train.py']))
    const copies = tempDir()
    await fs.mkdir(path.join(copies, 'copy'))
    killed(await ml(copies, ['project', 'clone', remote, 'copy'], {ML_TEST_CRASH_AT: point}), point)
    assert.equal(await fs.readdir(path.join(copies, 'copy')), [], 'the empty target folder is as it was')
    assert.is((await fs.readdir(copies)).filter((n) => n.startsWith('.ml-clone-')).length, 1, 'the killed clone was made beside it')
    ok(await ml(copies, ['project', 'clone', remote, 'copy']))
    assert.equal(await fs.readdir(copies), ['copy'], 'the killed clone\'s folder is gone')
    assert.is(JSON.parse(ok(await ml(path.join(copies, 'copy'), ['history', 'list', '-o', 'json'])).stdout).length, 1)
    assertLinearAndClean(path.join(copies, 'copy'))
  })
}

test.run()
