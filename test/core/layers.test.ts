import {execFile} from 'node:child_process'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import * as assert from 'uvu/assert'
import {ROOT, timedSuite} from '../helpers.js'

/** The layers of .dependency-cruiser.cjs hold, and the domain reads no environment. */
const test = timedSuite('layers', 60_000)

test('no import cycle, and no import goes up a layer (dependency-cruiser)', async () => {
  const cli = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs')
  const run = await promisify(execFile)(process.execPath, [cli, '--config', '.dependency-cruiser.cjs', '--output-type', 'err', 'src'], {cwd: ROOT})
    .then((r) => ({code: 0, out: r.stdout + r.stderr}), (e: {code: number; stdout: string; stderr: string}) => ({code: e.code, out: e.stdout + e.stderr}))
  assert.is(run.code, 0, run.out)
  assert.match(run.out, /no dependency violations found/)
})

test('src/core reads no process.env: the CLI passes what the domain needs', async () => {
  const offenders: string[] = []
  for (const entry of await fs.readdir(path.join(ROOT, 'src', 'core'), {recursive: true})) {
    const file = path.join(ROOT, 'src', 'core', String(entry))
    if (!file.endsWith('.ts')) continue
    const text = await fs.readFile(file, 'utf8')
    if (/process\.env\b/.test(text)) offenders.push(path.relative(ROOT, file))
  }
  assert.equal(offenders, [])
})

test.run()
