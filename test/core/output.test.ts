import * as assert from 'uvu/assert'
import {timedSuite} from '../helpers.js'
import {parse as parseYaml} from 'yaml'
import {isMlError} from '../../src/shared/errors.js'
import {lastValues, lowerIsBetter, parseMetrics} from '../../src/core/runs/metrics.js'
import {type Column, render, sparkline} from '../../src/render/output.js'
import {comparisonTable, FIELD_COLUMNS, metricSummaries, metricsTable, runColumns, runFields} from '../../src/render/runs.js'
import type {RunRecord} from '../../src/core/runs/runs.js'

const test = timedSuite('output')

type Row = {id: string; n: number; tags: string[]}
const rows: Row[] = [{id: 'a', n: 1, tags: ['x']}, {id: 'b', n: 22, tags: []}]
const columns: Column<Row>[] = [{header: 'ID', value: (r) => r.id}, {header: 'N', value: (r) => String(r.n)}]

test('every format renders the same data', () => {
  assert.equal(JSON.parse(render('json', rows, rows, {columns})), rows)
  assert.equal(JSON.parse(render('jsonc', rows, rows, {columns})), rows, 'jsonc without colour is JSON')
  assert.equal(parseYaml(render('yaml', rows, rows, {columns})), rows)
  assert.is(render('tsv', rows, rows, {columns}), 'a\t1\nb\t22\n')
  assert.is(render('table', rows, rows, {columns}), 'ID  N\n--  --\na   1\nb   22\n')
  assert.is(render('none', rows, rows, {columns}), '')
  assert.match(render('jsonc', rows, rows, {columns, color: true}), /\u001b\[36m"id"/)
})

test('--query is applied before formatting, and the table follows the result', () => {
  assert.is(render('tsv', rows, rows, {columns, query: '[1].n'}), '22\n')
  assert.is(render('tsv', rows, rows, {columns, query: '[].id'}), 'a\nb\n')
  assert.is(render('tsv', rows, rows, {columns, query: '[].[id, n]'}), 'a\t1\nb\t22\n')
  assert.equal(JSON.parse(render('json', rows, rows, {columns, query: '[?n > `5`]'})), [rows[1]])
  assert.is(render('table', rows, rows, {columns, query: '[].{name: id, count: n}'}), 'name  count\n----  -----\na     1\nb     22\n')
  assert.is(render('table', {a: 1}, [], {query: '@'}), 'Name  Value\n----  -----\na     1\n')
  try {
    render('json', rows, rows, {query: '[?'})
    assert.unreachable('bad query')
  } catch (error) {
    assert.ok(isMlError(error, 'INVALID_ARGUMENT'))
  }
})

test('a table on a terminal fits its width', () => {
  const wide = [{id: 'x'.repeat(100), n: 1, tags: []}]
  const out = render('table', wide, wide, {columns, width: 40})
  for (const line of out.trimEnd().split('\n')) assert.ok([...line].length <= 40, line)
  assert.match(out, /…/)
})

test('sparklines scale between min and max', () => {
  assert.is(sparkline([1, 2, 3, 4, 5, 6, 7, 8]), '▁▂▃▄▅▆▇█')
  assert.is(sparkline([5, 5]), '▄▄')
})

test('metrics: good lines are kept, bad ones are reported by line number', () => {
  const text = '{"name":"loss","value":0.5,"step":1}\nnot json\n{"name":"loss","value":0.25,"step":2}\n{"name":"acc"}\n\n{"name":"acc","value":0.9}\n'
  const {points, warnings} = parseMetrics(text)
  assert.equal(points, [{name: 'loss', value: 0.5, step: 1}, {name: 'loss', value: 0.25, step: 2}, {name: 'acc', value: 0.9, step: null}])
  assert.is(warnings.length, 2)
  assert.match(warnings[0], /line 2/)
  assert.match(warnings[1], /line 4/)
  assert.equal(lastValues(points), {loss: 0.25, acc: 0.9})
  assert.ok(lowerIsBetter('val_loss') && lowerIsBetter('error_rate') && !lowerIsBetter('accuracy'))
})

test('a long metrics history (200,000 values) renders: no spread of it into one call', () => {
  const points = Array.from({length: 200_000}, (_, i) => ({name: i % 2 ? 'loss' : 'accuracy', value: i / 1000, step: Math.floor(i / 2)}))
  assert.is(sparkline(points.map((p) => p.value)).length, 200_000)
  const [accuracy] = metricSummaries(points).split('\n')
  assert.ok(accuracy.startsWith('accuracy  ▁') && accuracy.endsWith('█  last 200  (0 .. 200)'), accuracy.slice(-60))
  const started = Date.now()
  const {rows, columns: stepColumns} = metricsTable(points)
  const table = render('table', points, rows, {columns: stepColumns, width: 80}).split('\n')
  assert.ok(Date.now() - started < 10_000, 'in seconds, not minutes')
  assert.is(table.length, 100_000 + 3)
  assert.match(table[2], /^0\s+0\s+0\.001$/)
})

test('run ids are never cut to fit a terminal of 80 or 100 columns; other columns shrink', () => {
  const run = (n: number): RunRecord => ({
    schema: 1, runId: `a-rather-long-project-name_179531343831${n}_2fd3`, projectId: 'p', projectName: 'p', script: 'src/models/train_classifier.py',
    arguments: ['--epochs', '100', '--learning-rate', '0.001'], compute: 'local', status: 'Completed', startTimeUtc: '2026-11-22T02:10:38.000Z',
    durationMs: 500, snapshotId: '0dd08451'.repeat(5), host: 'h', outputs: [], metrics: {accuracy: 0.9, loss: 0.1 * n},
    properties: {'azureml.git.commit': 'ebffdf18'.repeat(5), 'azureml.git.dirty': 'True'},
  })
  const runs = [run(1), run(2), run(3)]
  for (const width of [80, 100]) {
    const list = render('table', runs, runs, {columns: runColumns(runs), width}).split('\n')
    for (const [i, r] of runs.entries()) assert.ok(list[i + 2].startsWith(`${r.runId}  `), list[i + 2])
    assert.match(list[2], /…/, 'the other columns were cut instead')
    const {rows, columns} = comparisonTable({runs, best: {loss: runs[0].runId}, params: []})
    const compare = render('table', {}, rows, {columns, width})
    for (const r of runs) assert.ok(compare.split('\n')[0].includes(r.runId), compare)
    const info = render('table', runs[0], runFields(runs[0]), {columns: FIELD_COLUMNS, width})
    assert.match(info, new RegExp(`\\s${runs[0].runId}\n`))
    assert.match(render('table', runs, runs, {query: '[].{runId: runId, script: script}', width: 40}), new RegExp(`${runs[0].runId}  `))
  }
})

test.run()
