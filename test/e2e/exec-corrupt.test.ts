import {chmodSync, existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, errorCode, ml, mlSpawn, ok, shadowGit, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('exec-corrupt')
test.after.each(cleanup)

/** A child's exit code and stderr, or a failure (and a SIGKILL) when it takes longer than `ms`. */
function finish(child: ReturnType<typeof mlSpawn>, ms: number): Promise<{code: number | null; stderr: string; ms: number}> {
  const started = Date.now()
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`ml still running after ${ms} ms: ${stderr}`))
    }, ms)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stderr, ms: Date.now() - started})
    })
  })
}

/** A project with one run, whose last snapshot's tree object is then cut to its first 10 bytes. */
async function projectWithTruncatedTree(): Promise<string> {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p', '-q']))
  const dir = path.join(root, 'p')
  await write(dir, {'ok.sh': 'true\n'})
  ok(await ml(dir, ['experiment', 'submit', 'ok.sh']))
  const tree = shadowGit(dir, ['rev-parse', `${JSON.parse(readFileSync(path.join(dir, '.ml', 'project.json'), 'utf8')).historyBranch}^{tree}`])
  const file = path.join(dir, '.ml', 'history.git', 'objects', tree.slice(0, 2), tree.slice(2))
  chmodSync(file, 0o644)
  writeFileSync(file, readFileSync(file).subarray(0, 10))
  await write(dir, {'changed.txt': 'so that the snapshot reads the old tree\n'})
  return dir
}

test('a truncated loose object is PROJECT_CORRUPT within seconds, not a hang, and leaves no lock', async () => {
  const dir = await projectWithTruncatedTree()
  const r = await finish(mlSpawn(dir, ['experiment', 'submit', 'ok.sh']), 20_000)
  assert.is(errorCode({code: r.code, stdout: '', stderr: r.stderr}), 'PROJECT_CORRUPT', r.stderr)
  assert.match(r.stderr, /is damaged \(it is truncated\)/)
  assert.is(r.code, 1)
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`)
  assert.not.ok(existsSync(path.join(dir, '.ml', 'lock')))
})

test('SIGTERM ends ml at once with 143 while libgit2 spins, and leaves no lock', async () => {
  const dir = await projectWithTruncatedTree()
  const child = mlSpawn(dir, ['experiment', 'submit', 'ok.sh'])
  const done = finish(child, 20_000)
  await new Promise((r) => setTimeout(r, 1500)) // in the snapshot, spinning (found only after 2 s)
  const signaled = Date.now()
  child.kill('SIGTERM')
  const r = await done
  assert.is(r.code, 143, r.stderr)
  assert.ok(Date.now() - signaled < 1000, 'promptly')
  assert.not.ok(existsSync(path.join(dir, '.ml', 'lock')))
})

test('a run record in a truncated object is PROJECT_CORRUPT, not "no such run"', async () => {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'p', '-q']))
  const dir = path.join(root, 'p')
  await write(dir, {'ok.sh': 'true\n'})
  ok(await ml(dir, ['experiment', 'submit', 'ok.sh']))
  const [ref] = shadowGit(dir, ['for-each-ref', '--format=%(refname)', 'refs/ml/runs/']).split('\n')
  const blob = shadowGit(dir, ['rev-parse', `${ref}:run.json`])
  const file = path.join(dir, '.ml', 'history.git', 'objects', blob.slice(0, 2), blob.slice(2))
  chmodSync(file, 0o644)
  writeFileSync(file, readFileSync(file).subarray(0, 10))
  const r = await finish(mlSpawn(dir, ['history', 'info', '--run-id', ref.split('/').pop()!]), 20_000)
  assert.is(errorCode({code: r.code, stdout: '', stderr: r.stderr}), 'PROJECT_CORRUPT', r.stderr)
  assert.is(r.code, 1)
})

test.run()
