import {execFile} from 'node:child_process'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import * as assert from 'uvu/assert'
import {BIN, cleanup, git, ml, ok, tempDir, timedSuite} from '../helpers.js'
import {startHttpGitServer} from '../servers.js'

const test = timedSuite('progress')
test.after.each(cleanup)

/** Runs ml on a pseudo-terminal (util-linux `script`), as a user at a terminal would. */
async function mlOnTerminal(cwd: string, args: string[]): Promise<string> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')
  const {stdout} = await promisify(execFile)('script', ['-qec', command, '/dev/null'], {cwd, env: {...process.env, ML_PROGRESS_AFTER_MS: '0'}})
  return stdout
}

/**
 * What a terminal shows once ml has finished: ml runs in a real terminal (tmux, 160 columns),
 * and the screen is read back, so that a line erased by a progress bar is really gone.
 */
async function screenAfter(cwd: string, args: string[]): Promise<string> {
  const session = `ml-test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`
  const done = path.join(tempDir('ml-tmux-'), 'done')
  const command = `cd '${cwd}' && ML_PROGRESS_AFTER_MS=0 ${[process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')}; touch '${done}'; sleep 60`
  const tmux = (...a: string[]) => promisify(execFile)('tmux', a, {env: process.env})
  await tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', command)
  try {
    for (let waited = 0; !(await fs.stat(done).then(() => true, () => false)); waited += 100) {
      if (waited > 30_000) throw new Error(`ml ${args.join(' ')} did not finish in the terminal`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return (await tmux('capture-pane', '-p', '-t', session)).stdout
  } finally {
    await tmux('kill-session', '-t', session).catch(() => undefined)
  }
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
  await fs.rm(path.join(dir, '.ml', 'folder-stamp'), {force: true})
  assert.not.match(await mlOnTerminal(dir, ['project', 'snapshot', '-q']), /Snapshot \[/)
  await fs.rm(path.join(dir, '.ml', 'history.git', 'index'))
  await fs.rm(path.join(dir, '.ml', 'folder-stamp'), {force: true})
  const piped = ok(await ml(dir, ['project', 'snapshot'], {ML_PROGRESS_AFTER_MS: '0'}))
  assert.not.match(piped.stdout + piped.stderr, /Snapshot \[/)
})

test('a warning printed while a bar is drawn stays on the screen, above the bar', async () => {
  const dir = await projectToStage()
  const config = JSON.parse(await fs.readFile(path.join(dir, '.ml', 'project.json'), 'utf8'))
  await fs.writeFile(path.join(dir, '.ml', 'project.json'), JSON.stringify({...config, limits: {warnFiles: 10}}))
  const screen = await screenAfter(dir, ['project', 'snapshot'])
  assert.match(screen, /Warning: The snapshot holds 30\d files/)
  assert.match(screen, /Recorded snapshot/)
})

test('a restore on a terminal draws a bar while it stages the backup, then files, MB and rate', async () => {
  const dir = await projectToStage()
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const runId = JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'])).stdout).runId as string
  for (let i = 0; i < 300; i++) await fs.writeFile(path.join(dir, `file${i}.txt`), 'changed\n')
  await fs.rm(path.join(dir, '.ml', 'history.git', 'index'))
  await fs.rm(path.join(dir, '.ml', 'folder-stamp'), {force: true})
  const drawn = await mlOnTerminal(dir, ['project', 'restore', '--yes', '--run-id', runId])
  assert.match(drawn, /Backup \[[█░]+\] \d+\/\d+ files/)
  assert.match(drawn, /Restore \[[█░]+\] \d+\/\d+ files, [\d.]+\/[\d.]+ MB, [\d.]+ MB\/s/)
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

test('a push, the pushes of a submit, project update -r and a clone on a terminal draw objects sent and received', async () => {
  const base = tempDir()
  git(base, ['init', '-q', '--bare', 'remote.git'])
  const remote = `file://${path.join(base, 'remote.git')}`
  ok(await ml(base, ['project', 'init', 'proj', '-r', remote]))
  const dir = path.join(base, 'proj')
  for (let i = 0; i < 200; i++) await fs.writeFile(path.join(dir, `file${i}.txt`), `${i}\n`)
  ok(await ml(dir, ['project', 'snapshot']))
  assert.match(await mlOnTerminal(dir, ['history', 'push']), /Push \[[█░]+\] \d+\/\d+ objects/)
  for (let i = 0; i < 200; i++) await fs.writeFile(path.join(dir, `more${i}.txt`), `${i}\n`)
  const submitted = await mlOnTerminal(dir, ['experiment', 'submit', 'train.py'])
  assert.match(submitted, /Push \[[█░]+\] \d+\/\d+ objects/, 'a submit draws its pushes')
  assert.match(submitted, /Run \S+ Completed/)
  git(base, ['init', '-q', '--bare', 'other.git'])
  assert.match(await mlOnTerminal(dir, ['project', 'update', '-r', `file://${path.join(base, 'other.git')}`]), /Push \[[█░]+\] \d+\/\d+ objects/, 'and so does project update -r')
  // Over http: a clone from a path or file:// copies the remote's objects, and has no transfer to draw.
  const server = await startHttpGitServer({root: base})
  try {
    assert.match(await mlOnTerminal(base, ['project', 'clone', server.url('remote.git'), 'copy']), /Clone \[[█░]+\] \d+\/\d+ objects/)
    assert.not.match(await mlOnTerminal(base, ['project', 'clone', '-q', server.url('remote.git'), 'copy2']), /Clone \[/)
  } finally {
    await server.close()
  }
})

test.run()
