import {promises as fs, symlinkSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {collectStore, storeOf} from '../../src/core/compute/mlflow-store.js'
import {runMeta, storeLines} from '../../src/core/tracking/mlflow-file-store.js'
import {LocalShell} from '../../src/ssh/shell.js'
import {cleanup, tempDir, timedSuite, write} from '../helpers.js'

const test = timedSuite('mlflow-file-store')
test.after.each(cleanup)

const RUN = 'p_1700000000000_abcd'
const lines = (text: Array<Record<string, unknown>>) => text.map((l) => JSON.stringify(l))
const read = (files: Record<string, string | {text: string; cut: boolean}>) => new Map(Object.entries(files).map(([file, v]) => [file, typeof v === 'string' ? {text: v, cut: false} : v]))

test('a store becomes the endpoint\'s lines: nested runs numbered as they started, deleted runs and what is not a run (the model registry, an experiment\'s tags) left out, Python\'s floats read', () => {
  const meta = (start: number, status: number, extra = '') => `run_name: x\nstart_time: ${start}\nstatus: ${status}\n${extra}`
  const content = read({
    [`0/${RUN}/meta.yaml`]: runMeta(RUN, '/w/outputs', 1),
    [`0/${RUN}/metrics/m`]: '1700000000002 -inf 2\n1700000000001 inf 1\n1700000000003 1e-05 3\n1700000000004 nan 4\n',
    [`0/${RUN}/params/lr`]: '0.1',
    'later/meta.yaml': 'x',
    '0/bbbb/meta.yaml': meta(2000, 5),
    '0/bbbb/tags/mlflow.runName': 'second',
    '0/aaaa/meta.yaml': meta(3000, 3, 'lifecycle_stage: deleted\n'),
    '0/aaaa/params/gone': '1',
    '7/cccc/meta.yaml': meta(1000, 1),
    '7/cccc/tags/mlflow.parentRunId': 'cccc',
    '7/cccc/params/k': 'v',
    '0/tags/x': 'experiment tag',
    '.trash/dddd/meta.yaml': meta(1, 1),
    'models/reg/meta.yaml': 'name: reg\n',
    'models/reg/version-1/meta.yaml': 'version: 1\n',
  })
  const files = [...content.keys(), `0/${RUN}/artifacts/own.txt`, '7/cccc/artifacts/deep/a.txt', '0/aaaa/artifacts/gone.txt']
  const got = storeLines(RUN, {files, read: content})
  assert.equal(got.lines, lines([
    {param: 'lr', value: 0.1},
    {name: 'm', value: Number.MAX_VALUE, step: 1, timestamp: 1700000000001},
    {name: 'm', value: -Number.MAX_VALUE, step: 2, timestamp: 1700000000002},
    {name: 'm', value: 1e-5, step: 3, timestamp: 1700000000003},
    {run: `${RUN}-nested-1`, tag: 'mlflow.runName', value: `${RUN}-nested-1`},
    {run: `${RUN}-nested-1`, tag: 'mlflow.parentRunId', value: RUN},
    {run: `${RUN}-nested-1`, param: 'k', value: 'v'},
    {run: `${RUN}-nested-2`, tag: 'mlflow.runName', value: 'second'},
    {run: `${RUN}-nested-2`, tag: 'mlflow.parentRunId', value: RUN},
    {run: `${RUN}-nested-2`, status: 'KILLED'},
  ]), 'the run itself still RUNNING sets no status; a nested run started first is nested-1, whatever its experiment')
  assert.equal(got.artifacts, [{file: `0/${RUN}/artifacts/own.txt`, output: 'own.txt'}, {file: '7/cccc/artifacts/deep/a.txt', output: `${RUN}-nested-1/deep/a.txt`}])
  assert.equal(got.warnings, ['MLflow metric "m" was logged as NaN: accepted, as MLflow does, but not recorded (a run\'s metrics are numbers).'])
})

test('a store file over its limit: a metric keeps its whole lines, a value is left out; a bad step or timestamp leaves out that point', () => {
  const content = read({
    [`0/${RUN}/meta.yaml`]: runMeta(RUN, '/w/outputs', 1),
    [`0/${RUN}/metrics/m`]: {text: '1700000000001 1.5 0\n1700000000002 2.5 1\n1700000000003 3.', cut: true},
    [`0/${RUN}/metrics/bad`]: '17e11 1 0\n1700000000001 1 x\n1700000000001 2 0\n',
    [`0/${RUN}/tags/t`]: {text: 'long', cut: true},
  })
  const got = storeLines(RUN, {files: [...content.keys()], read: content})
  assert.equal(got.lines, lines([
    {name: 'm', value: 1.5, step: 0, timestamp: 1700000000001},
    {name: 'bad', value: 2, step: 0, timestamp: 1700000000001},
    {name: 'm', value: 2.5, step: 1, timestamp: 1700000000002},
  ]))
  assert.equal(got.warnings.length, 4, got.warnings.join('\n'))
  assert.match(got.warnings.join('\n'), /the tag t, over 65536 bytes/)
  assert.match(got.warnings.join('\n'), /the points of metric m after its first 16777216 bytes/)
})

test('a store on the target is read through regular files only: a link, a linked folder, a name with a newline; an artifact never replaces an output, nor comes over the size limit', async () => {
  const work = tempDir('ml-work-')
  const place = {base: work, runDir: path.join(work, RUN), ctl: path.join(work, `${RUN}.ml`)}
  const store = storeOf(place)
  const outside = tempDir('ml-outside-')
  await write(outside, {'secret': '1700000000000 42 0\n', 'folder/stolen.txt': 'x'})
  await write(store, {
    [`0/${RUN}/meta.yaml`]: runMeta(RUN, `${place.runDir}/outputs`, 1),
    [`0/${RUN}/params/ok`]: '1',
    [`0/${RUN}/params/new\nline`]: '2',
    '0/n1/meta.yaml': 'start_time: 5\nstatus: 3\n',
    '0/n1/artifacts/kept.txt': 'nested',
    '0/n1/artifacts/taken.txt': 'nested',
    '0/n1/artifacts/big.bin': 'x'.repeat(21),
  })
  await fs.mkdir(path.join(store, '0', RUN, 'metrics'))
  symlinkSync(path.join(outside, 'secret'), path.join(store, '0', RUN, 'metrics', 'leak'))
  symlinkSync(path.join(outside, 'folder'), path.join(store, '0', 'n1', 'artifacts', 'linked'))
  const local = tempDir('ml-local-')
  await write(local, {[`${RUN}-nested-1/taken.txt`]: 'the script\'s own'})
  const warnings: string[] = []
  const got = await collectStore(new LocalShell(process.env, work), place, RUN, local, {maxArtifactBytes: 20, onWarning: (m) => warnings.push(m)})
  assert.equal(got.lines, lines([
    {param: 'ok', value: 1},
    {run: `${RUN}-nested-1`, tag: 'mlflow.runName', value: `${RUN}-nested-1`},
    {run: `${RUN}-nested-1`, tag: 'mlflow.parentRunId', value: RUN},
    {run: `${RUN}-nested-1`, status: 'FINISHED'},
  ]))
  assert.equal(got.outputs, [`${RUN}-nested-1/kept.txt`])
  assert.is(await fs.readFile(path.join(local, `${RUN}-nested-1`, 'taken.txt'), 'utf8'), 'the script\'s own')
  assert.is(await fs.readFile(path.join(local, `${RUN}-nested-1`, 'kept.txt'), 'utf8'), 'nested')
  assert.match(warnings.join('\n'), /The MLflow artifact p_\S+-nested-1\/taken.txt was left on this machine/)
  assert.match(warnings.join('\n'), /The MLflow artifact p_\S+-nested-1\/big.bin is over 0.00002 MB, the project's size limit; it was left on this machine/)
  assert.equal((await fs.readdir(local, {recursive: true})).sort(), [`${RUN}-nested-1`, `${RUN}-nested-1/kept.txt`, `${RUN}-nested-1/taken.txt`])
})

test.run()
