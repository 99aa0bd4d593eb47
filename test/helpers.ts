import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, promises as fs, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {type Callback, suite, type Test} from 'uvu'
import * as assert from 'uvu/assert'
import {readTrackedPaths} from '../src/core/project/tracked-data.js'
import {snapshotRulesText} from '../src/core/snapshot/ignore-rules.js'
import {type ErrorCode, isMlError} from '../src/shared/errors.js'

/**
 * Test isolation: a HOME of our own (git identity set, nothing from the machine's global git
 * config) before anything loads nodegit, which reads the global config once.
 */
const home = mkdtempSync(path.join(tmpdir(), 'ml-test-home-'))
writeFileSync(path.join(home, '.gitconfig'), '[user]\n\tname = ML Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n')
process.env.HOME = home
process.env.GIT_CONFIG_NOSYSTEM = '1'
process.env.XDG_CONFIG_HOME = path.join(home, '.config')
// Node warns on stderr when both are set; the CLI tests read stderr line by line.
if (process.env.NO_COLOR !== undefined) delete process.env.FORCE_COLOR
process.on('exit', () => rmSync(home, {recursive: true, force: true}))

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const BIN = path.join(ROOT, 'bin', 'run.js')

const made: string[] = []

/** A new empty temp folder, removed by cleanup(). */
export function tempDir(prefix = 'ml-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

export async function cleanup(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => fs.rm(d, {recursive: true, force: true})))
}

/** The git CLI, our independent oracle. Throws on a non-zero exit. */
export function git(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string | Buffer): string {
  return execFileSync('git', args, {cwd, env: {...process.env, ...env}, encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']}).trim()
}

/** The git CLI on a project's shadow repo. */
export function shadowGit(projectDir: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string | Buffer): string {
  return git(projectDir, args, {GIT_DIR: path.join(projectDir, '.ml', 'history.git'), ...env}, input)
}

/**
 * What `git add -A && git write-tree` gives for the folder under the same rules: a fresh
 * index, the shadow repo's info/exclude, every .gitignore, and the secret rules followed by
 * .amlignore and the tracked data paths (.mldata) as the excludes file.
 */
export function oracleTree(projectDir: string): string {
  const scratch = tempDir('ml-oracle-')
  const excludes = path.join(scratch, 'excludes')
  const amlignore = path.join(projectDir, '.amlignore')
  writeFileSync(excludes, snapshotRulesText(existsSync(amlignore) ? readFileSync(amlignore, 'utf8') : '', readTrackedPaths(projectDir)))
  const env = {GIT_WORK_TREE: projectDir, GIT_INDEX_FILE: path.join(scratch, 'index')}
  shadowGit(projectDir, ['-c', `core.excludesFile=${excludes}`, 'add', '-A'], env)
  return shadowGit(projectDir, ['write-tree'], env)
}

export interface Result {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the ml CLI as a user would: a new process of bin/run.js. Asynchronous, so that servers
 * running in the test process keep answering while it runs.
 */
export function ml(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {cwd, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout, stderr}))
  })
}

/** Starts the ml CLI without waiting, for tests that signal it. */
export function mlSpawn(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawn(process.execPath, [BIN, ...args], {cwd, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
}

/** Asserts that a CLI call succeeded, showing its output when it did not. */
export function ok(r: Result): Result {
  if (r.code !== 0) throw new Error(`ml exited with ${r.code}\n${r.stdout}\n${r.stderr}`)
  return r
}

/** The error code of a failed CLI call, from its `Error [CODE]: ...` line. */
export function errorCode(r: Result): string | undefined {
  return /Error \[([A-Z_]+)\]/.exec(r.stderr)?.[1]
}

export async function write(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel)
    await fs.mkdir(path.dirname(file), {recursive: true})
    await fs.writeFile(file, content)
  }
}

/** Every file under `dir` (but .git and .ml) with its mode and content, to compare folders. */
export async function folderState(dir: string, skip = ['.git', '.ml']): Promise<Record<string, string>> {
  const state: Record<string, string> = {}
  const walk = async (sub: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(dir, sub), {withFileTypes: true})) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name
      if (!sub && skip.includes(entry.name)) continue
      const abs = path.join(dir, rel)
      if (entry.isSymbolicLink()) state[rel] = `link:${await fs.readlink(abs)}`
      else if (entry.isDirectory()) await walk(rel)
      else state[rel] = `${((await fs.stat(abs)).mode & 0o111) ? 'x' : '-'}:${await fs.readFile(abs, 'utf8')}`
    }
  }
  await walk('')
  return state
}

/** All refs of a project's shadow repo with their targets, to show that nothing changed. */
export function shadowRefs(projectDir: string): string {
  return shadowGit(projectDir, ['for-each-ref', '--format=%(refname) %(objectname)'])
}

/** `work`, or a failure after `ms` instead of a wait that never ends. */
export function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
  })
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}

/**
 * A uvu suite whose every test fails after `ms` (uvu has no per-test timeout), so that a test
 * waiting for something that never comes fails in words instead of hanging the whole run.
 */
export function timedSuite(name: string, ms = 180_000): Test {
  const inner = suite(name)
  const timed = ((title: string, fn: Callback) => inner(title, (context) => within(ms, Promise.resolve().then(() => fn(context))))) as Test
  return Object.assign(timed, {before: inner.before, after: inner.after, skip: inner.skip, only: inner.only, run: inner.run})
}

/** The MlError that `fn` throws; fails if it throws nothing, or another error or code. */
export function thrown(fn: () => unknown, code: ErrorCode): Error {
  try {
    fn()
  } catch (error) {
    assert.ok(isMlError(error, code), `expected ${code}, got ${String(error)}`)
    return error as Error
  }
  throw new Error(`expected ${code}, nothing was thrown`)
}

/** The MlError that the promise of `fn` rejects with; fails if it resolves, or rejects with another error or code. */
export async function thrownAsync(fn: () => Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await fn()
  } catch (error) {
    assert.ok(isMlError(error, code), `expected ${code}, got ${String(error)}`)
    return error as Error
  }
  throw new Error(`expected ${code}, nothing was thrown`)
}
