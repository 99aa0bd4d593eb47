import {execFile} from 'node:child_process'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import {suite} from 'uvu'
import * as assert from 'uvu/assert'
import {BIN, cleanup, git, ml, ok, tempDir} from './helpers.js'

const test = suite('progress')
test.after.each(cleanup)

/** Runs ml on a pseudo-terminal (util-linux `script`), as a user at a terminal would. */
async function mlOnTerminal(cwd: string, args: string[]): Promise<string> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')
  const {stdout} = await promisify(execFile)('script', ['-qec', command, '/dev/null'], {cwd, env: {...process.env, ML_PROGRESS_AFTER_MS: '0'}})
  return stdout
}

/** A project whose next snapshot stages every file again. */
async function projectToStage(): Promise<string> {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init', '.']))
  for (let i = 0; i < 300; i++) await fs.writeFile(path.join(dir, `file${i}.txt`), `${i}\n`.repeat(100))
  await fs.rm(path.join(dir, '.ml', 'history.git', 'index'))
  return dir
}

test('a snapshot on a terminal draws files and MB done; -q and a pipe draw nothing', async () => {
  const dir = await projectToStage()
  const drawn = await mlOnTerminal(dir, ['project', 'snapshot'])
  assert.match(drawn, /Snapshot \[[█░]+\] \d+\/30\d files, [\d.]+\/[\d.]+ MB, [\d.]+ MB\/s/)
  assert.match(drawn, /Recorded snapshot [0-9a-f]{40}/)
  await fs.rm(path.join(dir, '.ml', 'history.git', 'index'))
  await fs.rm(path.join(dir, '.ml', 'folder-stamp.json'), {force: true})
  assert.not.match(await mlOnTerminal(dir, ['project', 'snapshot', '-q']), /Snapshot \[/)
  await fs.rm(path.join(dir, '.ml', 'history.git', 'index'))
  await fs.rm(path.join(dir, '.ml', 'folder-stamp.json'), {force: true})
  const piped = ok(await ml(dir, ['project', 'snapshot'], {ML_PROGRESS_AFTER_MS: '0'}))
  assert.not.match(piped.stdout + piped.stderr, /Snapshot \[/)
})

test('a restore on a terminal draws files done', async () => {
  const dir = await projectToStage()
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const runId = JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'])).stdout).runId as string
  for (let i = 0; i < 300; i++) await fs.rm(path.join(dir, `file${i}.txt`))
  const drawn = await mlOnTerminal(dir, ['project', 'restore', '--yes', '--run-id', runId])
  assert.match(drawn, /Restore \[[█░]+\] \d+\/\d+ files/)
  assert.match(drawn, /Restored run/)
  assert.is((await fs.readdir(dir)).filter((f) => f.startsWith('file')).length, 300)
})

test('a push and a clone on a terminal draw objects sent and received', async () => {
  const base = tempDir()
  git(base, ['init', '-q', '--bare', 'remote.git'])
  const remote = `file://${path.join(base, 'remote.git')}`
  ok(await ml(base, ['project', 'init', 'proj', '-r', remote]))
  const dir = path.join(base, 'proj')
  for (let i = 0; i < 200; i++) await fs.writeFile(path.join(dir, `file${i}.txt`), `${i}\n`)
  ok(await ml(dir, ['project', 'snapshot']))
  assert.match(await mlOnTerminal(dir, ['history', 'push']), /Push \[[█░]+\] \d+\/\d+ objects/)
  assert.match(await mlOnTerminal(base, ['project', 'clone', remote, 'copy']), /Clone \[[█░]+\] \d+\/\d+ objects/)
  assert.not.match(await mlOnTerminal(base, ['project', 'clone', '-q', remote, 'copy2']), /Clone \[/)
})

test.run()
