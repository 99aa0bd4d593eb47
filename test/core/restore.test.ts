import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {isMlError} from '../../src/shared/errors.js'
import {type Project} from '../../src/core/project/project.js'
import {initProject} from '../../src/core/setup/init.js'
import {applyRestore, listBackups, planBackup, planRestore, planUndo, previewRestore} from '../../src/core/restore/restore.js'
import {saveRun, type RunRecord} from '../../src/core/runs/runs.js'
import {takeSnapshot} from '../../src/core/snapshot/snapshot.js'
import {cleanup, folderState, oracleTree, shadowGit, shadowRefs, tempDir, timedSuite, write} from '../helpers.js'
import {BACKUPS_PREFIX} from '../../src/core/project/layout.js'
import {openHistory} from '../../src/core/snapshot/open-history.js'

const test = timedSuite('restore')
test.after.each(cleanup)

/** Records a run whose snapshot is the folder as it is now. */
async function recordRun(p: Project, runId: string): Promise<void> {
  const repo = await openHistory(p)
  const snapshot = await takeSnapshot(p, async () => repo, `Snapshot for run ${runId}`)
  const run: RunRecord = {
    schema: 1, runId, projectId: p.config.id, projectName: p.config.name, script: 'train.py', arguments: [], compute: 'local',
    status: 'Completed', startTimeUtc: new Date().toISOString(), snapshotId: snapshot.commit, host: 'h', outputs: [], properties: {},
  }
  await saveRun(repo, run)
}

async function restore(dir: string, runId: string) {
  return applyRestore(await planRestore(dir, runId))
}

async function undo(dir: string) {
  return applyRestore(await planUndo(dir))
}

test("a plan's early check of the folder serves one staging: what changed after the preview is in the backup", async () => {
  const dir = tempDir()
  const {project} = await initProject({dir, template: 'iris'})
  await write(dir, {'a.txt': 'one\n'})
  await recordRun(project, 'p_1_aaaa')
  await write(dir, {'a.txt': 'two\n'})
  await new Promise((resolve) => setTimeout(resolve, 150)) // so that the stamp trusts its stat
  await takeSnapshot(project, async () => openHistory(project), 'the stamp knows "two"')
  const plan = await planRestore(dir, 'p_1')
  assert.equal((await previewRestore(plan)).map((c) => c.path), ['a.txt'])
  await write(dir, {'a.txt': 'three\n'}) // while a user reads the confirmation prompt
  const {backupRef} = await applyRestore(plan)
  assert.is(shadowGit(dir, ['show', `${backupRef}:a.txt`]), 'three')
  assert.is(await fs.readFile(path.join(dir, 'a.txt'), 'utf8'), 'one\n')
})

test('restores files, modes and symlinks, removes extra files, never touches ignored ones', async () => {
  const dir = tempDir()
  const {project} = await initProject({dir, template: 'iris'})
  await write(dir, {'src/a.py': 'a = 1\n', 'docs/readme.md': 'docs\n'})
  await fs.writeFile(path.join(dir, 'run.sh'), 'echo 1\n', {mode: 0o755})
  await fs.symlink('src/a.py', path.join(dir, 'current'))
  await recordRun(project, 'p_1_aaaa')
  const atRun = await folderState(dir)

  await write(dir, {'src/a.py': 'a = 2\n', 'src/new.py': 'new\n', 'outputs/model.json': '{"keep": true}', '.ml-notes': 'x'})
  await fs.appendFile(path.join(dir, '.amlignore'), 'secret.txt\n')
  await write(dir, {'secret.txt': 'ignored, must survive\n'})
  await fs.rm(path.join(dir, 'docs'), {recursive: true})
  await fs.chmod(path.join(dir, 'run.sh'), 0o644)
  await fs.rm(path.join(dir, 'current'))
  await fs.symlink('elsewhere', path.join(dir, 'current'))

  const result = await restore(dir, 'p_1')
  assert.ok(result.backupRef?.startsWith(BACKUPS_PREFIX))
  const after = await folderState(dir)
  assert.is(after['outputs/model.json'], '-:{"keep": true}', 'outputs are never touched')
  assert.is(after['secret.txt'], '-:ignored, must survive\n', 'ignored files are never touched')
  delete after['outputs/model.json']
  delete after['secret.txt']
  assert.equal(after, atRun)
  assert.not.ok(existsSync(path.join(dir, 'src', 'new.py')))
  // The restored .amlignore no longer ignores secret.txt; without it the folder is the snapshot.
  await fs.rm(path.join(dir, 'secret.txt'))
  assert.is(oracleTree(dir), shadowGit(dir, ['rev-parse', `${(await planRestore(dir, 'p_1')).targetCommit}^{tree}`]))
  shadowGit(dir, ['fsck', '--strict'])
})

test('undo brings back modified, untracked and ignored files byte for byte, and walks back', async () => {
  const dir = tempDir()
  const {project} = await initProject({dir, template: 'iris'})
  await recordRun(project, 'p_1_aaaa')
  await write(dir, {'train.py': 'print("v2")\n', 'extra.txt': 'second\n'})
  await recordRun(project, 'p_2_bbbb')

  // Work in progress, including a file the snapshot of run 1 would overwrite while it is ignored.
  await write(dir, {'train.py': 'print("wip")\n', 'untracked/notes.txt': 'notes\n', 'data.csv': 'x,y\n'})
  await fs.appendFile(path.join(dir, '.amlignore'), 'iris.csv\n')
  await write(dir, {'iris.csv': 'my own edited data\n'})
  const wip = await folderState(dir)

  await restore(dir, 'p_2')
  const atRun2 = await folderState(dir)
  assert.is(atRun2['train.py'], '-:print("v2")\n')
  await restore(dir, 'p_1')
  assert.not.ok(existsSync(path.join(dir, 'extra.txt')))

  await undo(dir)
  assert.equal(await folderState(dir), atRun2, 'the first undo goes back to run 2')
  await undo(dir)
  assert.equal(await folderState(dir), wip, 'the second undo brings back the work in progress')
  try {
    await planUndo(dir)
    assert.unreachable('nothing left to undo')
  } catch (error) {
    assert.ok(isMlError(error, 'NOTHING_TO_UNDO'))
  }
})

test('undo pops the restore stack; changes made after a restore are kept as a backup undo never takes, which --backup brings back', async () => {
  const dir = tempDir()
  const {project} = await initProject({dir})
  await recordRun(project, 'p_1_aaaa')
  await write(dir, {'later.txt': 'before\n'})
  await restore(dir, 'p_1')
  await write(dir, {'edited-after-restore.txt': 'precious\n'})
  const edited = await folderState(dir)
  const undone = await undo(dir)
  assert.is((await folderState(dir))['later.txt'], '-:before\n')
  assert.ok(undone.backupRef, 'the edited folder was kept')
  try {
    await undo(dir)
    assert.unreachable('the undo used up the only restore')
  } catch (error) {
    assert.ok(isMlError(error, 'NOTHING_TO_UNDO'), String(error))
  }
  const backups = await listBackups(dir)
  assert.equal(backups.map((b) => b.kind), ['undo'])
  await applyRestore(await planBackup(dir, backups[0].id.slice(0, 10)))
  assert.equal(await folderState(dir), edited)
})

test('an unknown run id is RUN_NOT_FOUND and changes nothing', async () => {
  const dir = tempDir()
  const {project} = await initProject({dir})
  await recordRun(project, 'p_1_aaaa')
  await write(dir, {'wip.txt': 'wip\n'})
  const files = await folderState(dir)
  const refs = shadowRefs(dir)
  try {
    await planRestore(dir, 'p_9')
    assert.unreachable('should fail')
  } catch (error) {
    assert.ok(isMlError(error, 'RUN_NOT_FOUND'))
  }
  assert.equal(await folderState(dir), files)
  assert.is(shadowRefs(dir), refs)
})

test('restoring to the state the folder already has writes nothing and keeps no backup', async () => {
  const dir = tempDir()
  const {project} = await initProject({dir})
  await recordRun(project, 'p_1_aaaa')
  const result = await restore(dir, 'p_1')
  assert.is(result.changes.length, 0)
  assert.is(result.backupRef, undefined)
})

test.run()
