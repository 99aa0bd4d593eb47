import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {Script} from 'node:vm'
import * as assert from 'uvu/assert'
import {cleanup, errorCode, folderState, git, ml, mlSpawn, ok, oracleTree, ROOT, shadowGit, shadowRefs, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('cli')
test.after.each(cleanup)


test('init -> submit -> change -> submit -> list -> restore -> undo', async () => {
  const root = tempDir()
  const init = ok(await ml(root, ['project', 'init', 'demo', '--template', 'iris']))
  const dir = path.join(root, 'demo')
  const config = JSON.parse(await fs.readFile(path.join(dir, '.ml', 'project.json'), 'utf8'))
  assert.ok(init.stdout.includes(config.id) && init.stdout.includes(`AzureMLHistory/${config.id}`))

  const first = ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '20']))
  assert.match(first.stdout, /Accuracy \d\.\d+/)
  assert.ok(existsSync(path.join(dir, 'outputs', 'model.json')))
  const v1 = await folderState(dir)

  await write(dir, {'train.py': `${await fs.readFile(path.join(dir, 'train.py'), 'utf8')}\nprint("version 2")\n`, 'notes.md': 'new file\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '10']))
  const v2 = await folderState(dir)
  assert.is(oracleTree(dir), shadowGit(dir, ['rev-parse', `AzureMLHistory/${config.id}^{tree}`]))

  const runs = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.is(runs.length, 2)
  assert.equal(runs.map((r: {arguments: string[]}) => r.arguments), [['--epochs', '10'], ['--epochs', '20']], 'newest first')
  assert.ok(runs.every((r: {status: string}) => r.status === 'Completed'))
  assert.equal(runs.map((r: {params: unknown}) => r.params), [{epochs: 10}, {epochs: 20}], 'the arguments are the parameters, typed')
  assert.is.not(runs[0].snapshotId, runs[1].snapshotId)
  assert.is(runs[0].properties['azureml.git.commit'], git(dir, ['rev-parse', 'HEAD']))
  assert.is(runs[0].properties['azureml.git.dirty'], 'True')

  const table = ok(await ml(dir, ['history', 'list'])).stdout.split('\n')
  assert.match(table[0], /^RUN ID\s+STATUS\s+STARTED\s+DURATION\s+SCRIPT\s+SNAPSHOT\s+GIT COMMIT\s+DIRTY\s+EPOCHS\s+LOSS\s+ACCURACY$/)
  assert.ok(table[2].startsWith(runs[0].runId) && table[3].startsWith(runs[1].runId))
  assert.ok(table[2].includes(runs[0].snapshotId.slice(0, 8)))
  const tsv = ok(await ml(dir, ['history', 'list', '--last', '1', '-o', 'tsv'])).stdout
  assert.is(tsv.trim().split('\t')[0], runs[0].runId)
  assert.is(tsv.trim().split('\n').length, 1)

  const restored = ok(await ml(dir, ['project', 'restore', '--run-id', runs[1].runId.slice(0, -3), '--yes']))
  assert.match(restored.stdout, /ml project restore --undo/)
  const now = await folderState(dir)
  delete now['outputs/model.json']
  const expected = {...v1}
  delete expected['outputs/model.json']
  assert.equal(now, expected)
  ok(await ml(dir, ['project', 'restore', '--undo', '--yes']))
  assert.equal(await folderState(dir), v2)
  shadowGit(dir, ['fsck', '--strict'])
})

test('history info shows every property; -o json is the stored record', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init', '--name', 'p1']))
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  const [run] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  const info = JSON.parse(ok(await ml(dir, ['history', 'info', '--run-id', 'p1_', '-o', 'json'])).stdout)
  assert.equal(info, run)
  const table = ok(await ml(dir, ['history', 'info', '--run-id', run.runId])).stdout
  for (const name of Object.keys(run.properties)) assert.ok(table.includes(name), name)
  assert.ok(table.includes('outputs') || table.includes('hello.txt'))
})

test('arguments after SCRIPT reach it unchanged, even ones that look like ml flags; the exit code passes through', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init']))
  await write(dir, {'args.sh': 'for a in "$@"; do echo "[$a]"; done\nexit 4\n'})
  const r = await ml(dir, ['experiment', 'submit', '-c', 'local', 'args.sh', '-c', 'gpu', '--help', 'a b', '--', '-o'])
  assert.is(r.code, 4, r.stderr)
  assert.is(r.stdout, '[-c]\n[gpu]\n[--help]\n[a b]\n[--]\n[-o]\n')
  assert.match(r.stderr, /Failed/)
  const [run] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.equal(run.arguments, ['-c', 'gpu', '--help', 'a b', '--', '-o'])
  assert.is(run.status, 'Failed')
  assert.is(run.exitCode, 4)
})

test('Ctrl-C stops the script and records the run as Canceled', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init']))
  await write(dir, {'long.py': 'import time\nprint("started", flush=True)\ntime.sleep(60)\n'})
  const child = mlSpawn(dir, ['experiment', 'submit', 'long.py'])
  await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('started') && resolve()))
  child.kill('SIGINT')
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  assert.is(code, 130)
  const [run] = JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json'])).stdout)
  assert.is(run.status, 'Canceled')
})

test('errors: one line with the code, non-zero exit, nothing written', async () => {
  const outside = tempDir()
  let r = await ml(outside, ['experiment', 'submit', 'train.py'])
  assert.is(errorCode(r), 'NOT_A_PROJECT')
  assert.is(r.code, 1)
  assert.is(r.stderr.trim().split('\n').length, 1)
  assert.is(errorCode(await ml(outside, ['history', 'list'])), 'NOT_A_PROJECT')

  const dir = tempDir()
  ok(await ml(dir, ['project', 'init', '--name', 'p']))
  ok(await ml(dir, ['experiment', 'submit', 'train.py']))
  await write(dir, {'train.py': 'print("work in progress")\n'})
  const refs = shadowRefs(dir)
  const files = await folderState(dir)

  r = await ml(dir, ['project', 'init'])
  assert.is(errorCode(r), 'PROJECT_EXISTS')
  r = await ml(dir, ['experiment', 'submit', 'nope.py'])
  assert.is(errorCode(r), 'SCRIPT_NOT_FOUND')
  assert.is(r.code, 1)
  r = await ml(dir, ['project', 'restore', '--run-id', 'p_'])
  assert.is(errorCode(r), 'CONFIRMATION_REQUIRED', r.stderr)
  r = await ml(dir, ['project', 'restore', '--run-id', 'zzz', '--yes'])
  assert.is(errorCode(r), 'RUN_NOT_FOUND')
  r = await ml(dir, ['history', 'info', '--run-id', 'zzz'])
  assert.is(errorCode(r), 'RUN_NOT_FOUND')
  r = await ml(dir, ['project', 'restore', '--undo', '--yes'])
  assert.is(errorCode(r), 'NOTHING_TO_UNDO')

  assert.is(shadowRefs(dir), refs)
  assert.equal(await folderState(dir), files)
})

test('the bundled CLI knows every command in src/commands, and its help lists them', async () => {
  const {COMMANDS} = await import('../../src/cli/commands.js')
  const files = (await fs.readdir(path.join(ROOT, 'src', 'commands'), {recursive: true}))
    .filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '').split(path.sep).join(':')).sort()
  assert.equal(Object.keys(COMMANDS).sort(), files)
  const help = ok(await ml(tempDir(), ['project', '--help'])).stdout
  for (const id of files.filter((f) => f.startsWith('project:'))) assert.match(help, id.replace(':', ' '))
})

test("the bundle sorts the command ids as oclif would (its localeCompare is replaced by a plain comparison)", async () => {
  const {COMMANDS} = await import('../../src/cli/commands.js')
  const ids = Object.keys(COMMANDS)
  assert.equal([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), [...ids].sort((a, b) => a.localeCompare(b)))
  for (const id of ids) assert.match(id, /^[a-z]+(:[a-z]+)*$/)
})

test("the bundle's oclif is compiled from the code cache the build wrote; a cache V8 rejects, or none, costs only the compile", async () => {
  const {cacheAccepted, requireCached} = await import('../../src/cli/require-cached.js')
  assert.ok(cacheAccepted(path.join(ROOT, 'dist', 'bundle', 'oclif.cjs')), 'V8 takes dist/bundle/oclif.cjs.cache')
  // None, one of an older bundle, and bytes that are no cache (which V8 does not report).
  const older = new Script('module.exports = {answer: 41}').createCachedData()
  const garbage = Buffer.from('not a code cache')
  for (const [i, cache] of [null, older, garbage].entries()) {
    // A source of its own each time: V8 would reuse what it compiled in this process.
    const file = path.join(tempDir(), 'part.cjs')
    await fs.writeFile(file, `module.exports = {answer: 42, file: __filename, load: () => __mlImport("node:path")} // ${i}\n`)
    if (cache) await fs.writeFile(`${file}.cache`, cache)
    if (cache !== garbage) assert.not.ok(cacheAccepted(file), `cache ${i}`)
    const part = requireCached(file) as {answer: number; file: string; load(): Promise<{sep: string}>}
    assert.equal([part.answer, part.file, (await part.load()).sep], [42, file, '/'])
  }
})

/** The bundle's files `file` imports statically, itself included (not those it imports when it needs them). */
async function staticGraph(dir: string, file: string, seen = new Set<string>()): Promise<Set<string>> {
  if (seen.has(file)) return seen
  seen.add(file)
  const text = await fs.readFile(path.join(dir, file), 'utf8')
  for (const [, next] of text.matchAll(/^import\s[^;]*?["']\.\/([^"']+)["']/gms)) await staticGraph(dir, next, seen)
  return seen
}

test('a submit, a snapshot and a restore load no zod before a record is read (the bundle\'s static imports)', async () => {
  const dir = path.join(ROOT, 'dist', 'bundle')
  const files = await fs.readdir(dir)
  for (const command of ['submit', 'snapshot', 'restore']) {
    const entry = files.find((f) => f.startsWith(`${command}-`))!
    const graph = [...(await staticGraph(dir, entry))]
    assert.ok(graph.length > 3, `${command}: the graph is followed`)
    const withZod = []
    for (const file of graph) if ((await fs.readFile(path.join(dir, file), 'utf8')).includes('// node_modules/zod/')) withZod.push(file)
    assert.equal(withZod, [], command)
  }
})

test.run()
