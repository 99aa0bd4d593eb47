import {createHash} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {parse as parseYaml} from 'yaml'
import {cleanup, errorCode, git, ml, ok, shadowGit, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('history')
test.after.each(cleanup)


type Run = {runId: string; status: string; snapshotId: string; metrics?: Record<string, number>; params: Record<string, unknown>; script: string; properties: Record<string, string>}

async function list(dir: string, ...args: string[]): Promise<Run[]> {
  return JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'json', ...args])).stdout)
}

/** An iris project with two runs: a good learning rate, then a poor one. */
async function irisProject(): Promise<{dir: string; good: Run; poor: Run}> {
  const root = tempDir()
  ok(await ml(root, ['project', 'init', 'iris', '--template', 'iris']))
  const dir = path.join(root, 'iris')
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '60']))
  await write(dir, {'notes.md': 'try a smaller learning rate\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '60', '--lr', '0.001']))
  const [poor, good] = await list(dir)
  return {dir, good, poor}
}

test('the iris template logs metrics that show in list, compare and metrics', async () => {
  const {dir, good, poor} = await irisProject()
  for (const run of [good, poor]) {
    assert.ok(run.metrics && typeof run.metrics.accuracy === 'number' && typeof run.metrics.loss === 'number', JSON.stringify(run.metrics))
    const lines = shadowGit(dir, ['show', `refs/ml/runs/${run.runId}:metrics.jsonl`]).split('\n').map((l) => JSON.parse(l))
    assert.is(lines.filter((l) => l.name === 'accuracy').at(-1).value, run.metrics!.accuracy)
    assert.is(lines.filter((l) => l.name === 'loss').length, 10)
  }
  assert.ok(good.metrics!.loss < poor.metrics!.loss)

  const table = ok(await ml(dir, ['history', 'list'])).stdout.split('\n')
  assert.match(table[0], /\sLOSS\s+ACCURACY$/)
  assert.ok(table[2].includes(String(Number(poor.metrics!.accuracy.toPrecision(4)))))

  const sorted = await list(dir, '--sort-by', 'loss')
  assert.equal(sorted.map((r) => r.runId), [good.runId, poor.runId])
  assert.equal((await list(dir, '--sort-by', 'loss', '--desc')).map((r) => r.runId), [poor.runId, good.runId])
  assert.is(errorCode(await ml(dir, ['history', 'list', '--sort-by', 'nope'])), 'INVALID_ARGUMENT')
  assert.is((await list(dir, '--status', 'completed')).length, 2)
  assert.is((await list(dir, '--status', 'failed')).length, 0)
  assert.is((await list(dir, '--script', 'train.py')).length, 2)
  assert.is((await list(dir, '--script', 'other.py')).length, 0)

  const compare = ok(await ml(dir, ['history', 'compare', good.runId, poor.runId])).stdout.split('\n')
  assert.match(compare[0], new RegExp(`^FIELD\\s+${good.runId}\\s+${poor.runId}$`))
  const lossRow = compare.find((l) => l.startsWith('loss'))!
  assert.match(lossRow, /^loss\s+\S+ \*\s+\S+$/, 'the lower loss is marked best')
  for (const field of ['Status', 'Duration', 'Script', 'Git commit', 'Dirty', 'Snapshot', 'accuracy']) assert.ok(compare.some((l) => l.startsWith(field)), field)
  const json = JSON.parse(ok(await ml(dir, ['history', 'compare', good.runId, poor.runId, '-o', 'json'])).stdout)
  assert.is(json.best.loss, good.runId)
  assert.is(errorCode(await ml(dir, ['history', 'compare', good.runId])), 'INVALID_ARGUMENT')

  const points = JSON.parse(ok(await ml(dir, ['history', 'metrics', '--run-id', good.runId, '-o', 'json'])).stdout)
  assert.is(points.length, 11)
  const lossOnly = JSON.parse(ok(await ml(dir, ['history', 'metrics', '--run-id', good.runId, '--name', 'loss', '-o', 'json'])).stdout)
  assert.ok(lossOnly.length === 10 && lossOnly.every((p: {name: string}) => p.name === 'loss'))
  const metricsTable = ok(await ml(dir, ['history', 'metrics', '--run-id', good.runId])).stdout
  assert.match(metricsTable, /^STEP\s+LOSS\s+ACCURACY/)
  assert.match(metricsTable, /\nloss\s+[▁▂▃▄▅▆▇█]{10}\s+last /)
  assert.equal(JSON.parse(ok(await ml(dir, ['history', 'last', '-o', 'json'])).stdout).runId, poor.runId)
})

test('a malformed metrics line is a warning with its line number, never a failed run', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init']))
  await write(dir, {'m.sh': 'echo \'{"name":"a","value":1}\' >> "$ML_METRICS_FILE"\necho "oops" >> "$ML_METRICS_FILE"\necho \'{"name":"a","value":2,"step":5}\' >> "$ML_METRICS_FILE"\n'})
  const r = ok(await ml(dir, ['experiment', 'submit', 'm.sh']))
  assert.match(r.stderr, /Warning: metrics line 2 is not JSON/)
  const [run] = await list(dir)
  assert.is(run.status, 'Completed')
  assert.equal(run.metrics, {a: 2})
})

test('--query and every -o format on list and info, checked against the parsed output', async () => {
  const {dir, good} = await irisProject()
  const runs = await list(dir)
  const info = JSON.parse(ok(await ml(dir, ['history', 'info', '--run-id', good.runId, '-o', 'json'])).stdout)
  assert.is(info.runId, good.runId)

  assert.is(ok(await ml(dir, ['history', 'info', '--run-id', good.runId, '--query', 'properties."azureml.git.commit"', '-o', 'tsv'])).stdout, `${git(dir, ['rev-parse', 'HEAD'])}\n`)
  assert.equal(JSON.parse(ok(await ml(dir, ['history', 'info', '--run-id', good.runId, '-o', 'jsonc'])).stdout), info, 'no colour when not a terminal')
  assert.equal(parseYaml(ok(await ml(dir, ['history', 'info', '--run-id', good.runId, '-o', 'yaml'])).stdout), info)
  assert.is(ok(await ml(dir, ['history', 'info', '--run-id', good.runId, '-o', 'none'])).stdout, '')
  assert.match(ok(await ml(dir, ['history', 'info', '--run-id', good.runId])).stdout, /^NAME\s+VALUE\n/)

  assert.equal(parseYaml(ok(await ml(dir, ['history', 'list', '-o', 'yaml'])).stdout), runs)
  assert.equal(JSON.parse(ok(await ml(dir, ['history', 'list', '-o', 'jsonc'])).stdout), runs)
  assert.is(ok(await ml(dir, ['history', 'list', '-o', 'none'])).stdout, '')
  assert.is(ok(await ml(dir, ['history', 'list', '--query', '[].runId', '-o', 'tsv'])).stdout, runs.map((r) => `${r.runId}\n`).join(''))
  const best = ok(await ml(dir, ['history', 'list', '--query', 'max_by(@, &metrics.accuracy).runId', '-o', 'tsv'])).stdout.trim()
  assert.is(best, [...runs].sort((a, b) => b.metrics!.accuracy - a.metrics!.accuracy)[0].runId)
  const table = ok(await ml(dir, ['history', 'list', '--query', '[].{id: runId, acc: metrics.accuracy}'])).stdout.split('\n')
  assert.match(table[0], /^id\s+acc$/)
  assert.is(table.length, runs.length + 3)
  assert.equal(JSON.parse(ok(await ml(dir, ['history', 'list', '--query', '[?status==`Completed`] | length(@)', '-o', 'json'])).stdout), 2)
  const tsv = ok(await ml(dir, ['history', 'list', '-o', 'tsv'])).stdout.trim().split('\n').map((l) => l.split('\t'))
  assert.equal(tsv.map((r) => r[0]), runs.map((r) => r.runId))
  const bad = await ml(dir, ['history', 'list', '--query', '[?runId=='])
  assert.is(errorCode(bad), 'INVALID_ARGUMENT')
  assert.match(bad.stderr, /JMESPath/)
  assert.is(bad.code, 1)
})

test('diff between two snapshots is what git diff says for the same two commits', async () => {
  const {dir, good, poor} = await irisProject()
  await write(dir, {'sub/a.txt': 'one\n'})
  await fs.writeFile(path.join(dir, 'train.py'), `${await fs.readFile(path.join(dir, 'train.py'), 'utf8')}# tuned\n`)
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '5']))
  const [third] = await list(dir)
  // The parameters that changed come first, then the patch git prints for the same two commits.
  const params = `Parameters, ${good.runId} -> ${third.runId}:\n  epochs  ${good.params.epochs} -> 5\n\n`
  const withParams = ok(await ml(dir, ['history', 'diff', good.runId, third.runId])).stdout
  assert.ok(withParams.startsWith(params), withParams)
  const patch = withParams.slice(params.length)
  const expected = shadowGit(dir, ['diff', good.snapshotId, third.snapshotId])
  assert.ok(patch.startsWith(`${expected}\n`), `${patch}\n---\n${expected}`)
  assert.match(patch, /\nMetrics, .*\n\s+loss\s+\S+ -> \S+\s+\([+-]/)
  const only = ok(await ml(dir, ['history', 'diff', good.runId, third.runId, '--', 'train.py'])).stdout
  assert.ok(only.startsWith(`${params}${shadowGit(dir, ['diff', good.snapshotId, third.snapshotId, '--', 'train.py'])}\n`))
  assert.not.match(only, /notes\.md|sub\/a\.txt/)
  const stat = ok(await ml(dir, ['history', 'diff', poor.runId, third.runId, '--stat'])).stdout
  assert.match(stat, /sub\/a\.txt \| 1 \+/)
  assert.match(stat, /2 files changed, 2 insertions\(\+\), 0 deletions\(-\)/)
  const json = JSON.parse(ok(await ml(dir, ['history', 'diff', good.runId, third.runId, '-o', 'json'])).stdout)
  assert.equal(json.files.map((f: {path: string}) => f.path), ['notes.md', 'sub/a.txt', 'train.py'])
  assert.is(json.patch, `${expected}\n`)
})

test('outputs round-trip byte for byte through history download, a 60 MB file included', async () => {
  const dir = tempDir()
  ok(await ml(dir, ['project', 'init']))
  await write(dir, {
    'make.py': [
      'import os, random',
      'out = os.environ["ML_OUTPUTS_DIR"]',
      'os.makedirs(os.path.join(out, "nested"), exist_ok=True)',
      'open(os.path.join(out, "nested", "small.bin"), "wb").write(bytes(range(256)) * 40)',
      'rng = random.Random(42)',
      'with open(os.path.join(out, "big.bin"), "wb") as f:',
      '    for _ in range(60):',
      '        f.write(rng.randbytes(1 << 20))',
      '',
    ].join('\n'),
  })
  const r = ok(await ml(dir, ['experiment', 'submit', 'make.py']))
  assert.is(r.stderr.split('\n').filter((l) => l.includes('over 50 MB')).length, 1, 'told once')
  const [run] = await list(dir) as Array<Run & {outputs: Array<{path: string; size: number; sha256?: string}>}>
  const big = run.outputs.find((o) => o.path === 'big.bin')!
  const original = await fs.readFile(path.join(dir, 'outputs', 'big.bin'))
  assert.is(big.size, 60 * 2 ** 20)
  assert.is(big.sha256, createHash('sha256').update(original).digest('hex'))
  assert.ok(existsSync(path.join(dir, '.ml', 'objects', 'sha256', big.sha256!.slice(0, 2), big.sha256!.slice(2))), 'kept in the object cache by its sha256')
  assert.is(shadowGit(dir, ['ls-tree', '-r', '--name-only', `refs/ml/runs/${run.runId}`]).split('\n').filter((f) => f.startsWith('outputs/')).join(','), 'outputs/nested/small.bin')

  ok(await ml(dir, ['history', 'download', '--run-id', run.runId, '--dir', 'dl']))
  for (const file of ['big.bin', 'nested/small.bin']) {
    assert.ok((await fs.readFile(path.join(dir, 'dl', 'outputs', file))).equals(await fs.readFile(path.join(dir, 'outputs', file))), file)
  }
  assert.ok(existsSync(path.join(dir, 'dl', 'output.log')))
  assert.is(errorCode(await ml(dir, ['history', 'download', '--run-id', run.runId, '--dir', 'dl'])), 'DESTINATION_EXISTS')
})

test.run()
