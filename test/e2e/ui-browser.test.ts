import {promises as fs, readFileSync, writeFileSync} from 'node:fs'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import path from 'node:path'
import type {Browser, Page} from 'playwright-core'
import * as assert from 'uvu/assert'
import {formatBytes} from '../../src/shared/format-bytes.js'
import {writeTree} from '../crafted.js'
import {cleanup, folderState, ml, mlSpawn, ok, ROOT, shadowGit, tempDir, timedSuite, within, write} from '../helpers.js'
import {blank, chartState, cli, type Dashboard, iris, launchBrowser, openDashboard, ready, selectRuns, shown, startUi, stopAllUi, tid, until, waitForRows} from '../ui-page.js'

/**
 * The dashboard page in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core), against `ml ui` on real projects; what it shows is checked against what the
 * CLI prints with -o json. The page is reached only through its data-testid hooks.
 */
const test = timedSuite('ui-browser', 120_000)
/** One browser for the suite, started by the first test that needs it (a missing Chromium fails each test in words). */
let browser: Promise<Browser> | undefined
const open: Dashboard[] = []
const closers: Array<() => void | Promise<void>> = []

test.after(async () => {
  await (await browser?.catch(() => undefined))?.close()
})
test.after.each(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await Promise.all(open.splice(0).map((d) => d.context.close()))
  await stopAllUi()
  await cleanup()
})

type DataInput = {kind: 'data'; path: string; version: string; files: number; bytes: number}
type Run = {runId: string; status: string; params?: Record<string, unknown>; metrics?: Record<string, number>; snapshotId: string; sweepId?: string; inputs?: DataInput[]}


async function runs(dir: string, args: string[] = []): Promise<Run[]> {
  return cli(dir, ['history', 'list', ...args])
}

/** A blob of the shadow repo as bytes. */
function blob(dir: string, spec: string): Buffer {
  return execFileSync('git', ['cat-file', 'blob', spec], {cwd: dir, env: {...process.env, GIT_DIR: path.join(dir, '.ml', 'history.git')}})
}

/** The dashboard of `dir` in a new context (closed after the test); `hash` opens a view other than the runs. */
async function dashboard(dir: string, options: {hash?: string} = {}): Promise<Dashboard & {page: Page}> {
  const ui = await startUi(dir)
  const d = await openDashboard(await (browser ??= launchBrowser()), ui, options)
  open.push(d)
  return d
}

/** Waits for a hook to be visible; fails with what the page shows instead. */
async function visible(d: Dashboard, selector: string, ms = 10_000): Promise<void> {
  try {
    await d.page.locator(selector).first().waitFor({state: 'visible', timeout: ms})
  } catch {
    throw new Error(`${selector} was not shown within ${ms} ms; ${await shown(d.page)}${d.errors.length ? `\n${d.errors.join('\n')}` : ''}`)
  }
}

/** The metric chart of `metric` once drawn with `series` runs: picks the metric in chart-metric-select when there is one. */
async function drawnChart(d: Dashboard, metric: string, series: number) {
  const select = d.page.locator(tid('chart-metric-select'))
  if (await select.count()) await select.first().selectOption(metric)
  return until(() => chartState(d.page, metric), (c) => c.drawn && c.series === series, `the ${metric} chart drawn with ${series} series`)
}

/** Sets a filter: a select picks the option, an input is typed into. */
async function filter(page: Page, name: string, value: string): Promise<void> {
  const control = page.locator(tid(name)).first()
  if ((await control.evaluate((e) => e.tagName)) === 'SELECT') await control.selectOption(value)
  else await control.fill(value)
}

test('the runs table shows the project\'s runs, the ids `ml history list -o json` gives', async () => {
  const dir = await iris()
  ok(await ml(dir, ['experiment', 'sweep', '-j', '2', '--grid', 'lr=0.01,0.1,0.3', 'train.py', '--epochs', '20']))
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '10', '--lr', '0.5']))
  const d = await dashboard(dir)
  const expected = (await runs(dir)).map((r) => r.runId)
  assert.is(expected.length, 4)
  const ids = await waitForRows(d.page, (ids) => ids.length === expected.length, `${expected.length} rows`)
  assert.equal([...ids].sort(), [...expected].sort())
  assert.ok(await d.page.locator(tid('runs-table')).isVisible())
  // Each row has its checkbox and its link.
  for (const id of ids) {
    const row = d.page.locator(tid('run-row', `[data-run-id="${id}"]`))
    assert.is(await row.locator(tid('run-select')).count(), 1, id)
    assert.is(await row.locator(tid('run-link')).count(), 1, id)
  }
  assert.equal(d.errors, [])
})

test('filters by status, sweep, script and text give the rows `history list --status/--sweep/--script` gives', async () => {
  const dir = await iris()
  ok(await ml(dir, ['experiment', 'sweep', '-j', '2', '--grid', 'lr=0.01,0.1', 'train.py', '--epochs', '20']))
  await write(dir, {'fail.py': 'import sys\nprint("failing on purpose")\nsys.exit(3)\n'})
  const failed = await ml(dir, ['experiment', 'submit', 'fail.py'])
  assert.is(failed.code, 3, failed.stderr)
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '10', '--lr', '0.5']))
  const all = await runs(dir)
  assert.is(all.length, 4)
  const sweepId = all.find((r) => r.sweepId)?.sweepId
  const d = await dashboard(dir)
  await waitForRows(d.page, (ids) => ids.length === 4, '4 rows')
  const same = async (what: string, args: string[]) => {
    const expected = (await runs(dir, args)).map((r) => r.runId).sort()
    assert.ok(expected.length > 0 && expected.length < 4, `${what}: the CLI's list narrows`)
    await waitForRows(d.page, (ids) => JSON.stringify([...ids].sort()) === JSON.stringify(expected), `${what}: ${JSON.stringify(expected)}`)
  }

  await filter(d.page, 'filter-status', 'Failed')
  await same('status Failed', ['--status', 'Failed'])
  await filter(d.page, 'filter-status', '')
  await waitForRows(d.page, (ids) => ids.length === 4, 'all 4 rows again')

  assert.ok(sweepId?.startsWith('sweep_'), `a sweep id: ${sweepId}`)
  await filter(d.page, 'filter-sweep', sweepId!)
  await same('sweep', ['--sweep', sweepId!])
  await filter(d.page, 'filter-sweep', '')
  await waitForRows(d.page, (ids) => ids.length === 4, 'all 4 rows again')

  await filter(d.page, 'filter-script', 'fail.py')
  await same('script fail.py', ['--script', 'fail.py'])
  await filter(d.page, 'filter-script', '')
  await waitForRows(d.page, (ids) => ids.length === 4, 'all 4 rows again')

  const one = all[2].runId
  await filter(d.page, 'filter-text', one)
  await waitForRows(d.page, (ids) => JSON.stringify(ids) === JSON.stringify([one]), `only ${one}`)
})

test('sorting by a metric: the first click puts the lowest value first, the second the highest (as history list --sort-by [--desc])', async () => {
  const dir = await iris()
  ok(await ml(dir, ['experiment', 'sweep', '-j', '2', '--grid', 'lr=0.01,0.1,0.3', 'train.py', '--epochs', '20']))
  const all = await runs(dir)
  const losses = all.map((r) => r.metrics!.loss)
  assert.is(new Set(losses).size, 3, `three different losses: ${losses}`)
  const ascending = (await runs(dir, ['--sort-by', 'loss'])).map((r) => r.runId)
  const descending = (await runs(dir, ['--sort-by', 'loss', '--desc'])).map((r) => r.runId)
  const lowest = all.reduce((a, b) => (a.metrics!.loss <= b.metrics!.loss ? a : b)).runId
  assert.is(ascending[0], lowest)

  const d = await dashboard(dir)
  await waitForRows(d.page, (ids) => ids.length === 3, '3 rows')
  const header = d.page.locator(tid('sort-metric:loss'))
  await header.click()
  await until(() => header.getAttribute('data-sort'), (s) => s === 'asc', 'sort-metric:loss data-sort="asc"')
  await waitForRows(d.page, (ids) => JSON.stringify(ids) === JSON.stringify(ascending), `the order of --sort-by loss ${JSON.stringify(ascending)} (lowest loss first)`)
  await header.click()
  await until(() => header.getAttribute('data-sort'), (s) => s === 'desc', 'sort-metric:loss data-sort="desc"')
  await waitForRows(d.page, (ids) => JSON.stringify(ids) === JSON.stringify(descending), `the order of --sort-by loss --desc ${JSON.stringify(descending)} (highest loss first)`)
  // Sorting by a parameter the same way.
  await d.page.locator(tid('sort-param:lr')).click()
  await until(() => d.page.locator(tid('sort-param:lr')).getAttribute('data-sort'), (s) => s === 'asc', 'sort-param:lr data-sort="asc"')
  assert.is(await header.getAttribute('data-sort'), null, 'only the sorted header has data-sort')
  await waitForRows(d.page, (ids) => JSON.stringify(ids) === JSON.stringify((all as Run[]).slice().sort((a, b) => Number(a.params!.lr) - Number(b.params!.lr)).map((r) => r.runId)), 'lr ascending')
})

test('two selected runs: the chart draws two series, each with as many points as history metrics gives', async () => {
  const dir = await iris()
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '20', '--lr', '0.1']))
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '5', '--lr', '0.3']))
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '3', '--lr', '0.2']))
  const [, b, a] = (await runs(dir)).map((r) => r.runId)
  const count = async (id: string) => (await cli(dir, ['history', 'metrics', id])).filter((p: {name: string}) => p.name === 'loss').length
  const expected = [await count(a), await count(b)]
  assert.equal(expected, [10, 5], 'train.py logs the loss every epochs/10 epochs')

  const d = await dashboard(dir)
  await waitForRows(d.page, (ids) => ids.length === 3, '3 rows')
  await selectRuns(d.page, [a, b])
  const chart = await drawnChart(d, 'loss', 2)
  assert.equal([...chart.points].sort((x, y) => x - y), [...expected].sort((x, y) => x - y), `points per series ${chart.points}`)

  // Log scale and time on x draw the same series again.
  await d.page.locator(tid('chart-log')).first().click()
  await until(() => chartState(d.page, 'loss'), (c) => c.drawn && c.series === 2 && c.points.length === 2, 'the loss chart drawn again on a log scale')
  await d.page.locator(tid('chart-x-time')).first().click()
  await until(() => chartState(d.page, 'loss'), (c) => c.drawn && c.series === 2 && c.points.length === 2, 'the loss chart drawn again by time')

  // The scatter chart: one point per run that has both the parameter and the metric.
  await d.page.locator(tid('scatter-param-select')).first().selectOption('lr')
  await d.page.locator(tid('scatter-metric-select')).first().selectOption('accuracy')
  await until(() => d.page.locator(tid('scatter-chart')).first().getAttribute('data-points'), (p) => p === '3', 'the scatter chart of accuracy against lr with 3 points')
})

test('a run\'s page: its status, its log (a line of the recorded log), its snapshot files and their content, its outputs', async () => {
  const dir = await iris()
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '20', '--lr', '0.1']))
  const [run] = await runs(dir)
  const log = ok(await ml(dir, ['history', 'log', run.runId])).stdout
  const line = log.split('\n').find((l) => l.startsWith('Accuracy '))
  assert.ok(line, log)
  const d = await dashboard(dir)
  await waitForRows(d.page, (ids) => ids.length === 1, '1 row')
  await d.page.locator(`${tid('run-row', `[data-run-id="${run.runId}"]`)} ${tid('run-link')}`).click()
  await visible(d, tid('run-page', `[data-run-id="${run.runId}"]`))
  assert.match(new URL(d.page.url()).hash, `#/run/${run.runId}`)
  assert.match(await d.page.locator(tid('run-status')).innerText(), /Completed/)
  await until(() => d.page.locator(tid('run-log')).innerText(), (t) => t.includes(line!), `the log showing ${JSON.stringify(line)}`)

  const snapshot = execFileSync('git', ['ls-tree', '-r', '--name-only', run.snapshotId], {cwd: dir, env: {...process.env, GIT_DIR: path.join(dir, '.ml', 'history.git')}, encoding: 'utf8'}).trim().split('\n')
  await until(() => d.page.locator(tid('file-item')).evaluateAll((items) => items.map((i) => (i as HTMLElement).dataset.path ?? '')), (paths) => JSON.stringify([...paths].sort()) === JSON.stringify([...snapshot].sort()), `file-item paths ${JSON.stringify(snapshot)}`)
  await d.page.locator(tid('file-item', '[data-path="train.py"]')).click()
  const firstLines = blob(dir, `${run.snapshotId}:train.py`).toString().split('\n').slice(0, 3).join('\n')
  await until(() => d.page.locator(tid('file-view')).innerText(), (t) => t.includes(firstLines), 'file-view showing train.py')

  const output = d.page.locator(tid('output-link'))
  assert.is(await output.count(), 1)
  const href = await output.getAttribute('href')
  assert.ok(href && href.includes(`/api/runs/${run.runId}/outputs/model.json`), `output-link href ${href}`)
  // The link downloads the bytes the run wrote.
  const [download] = await Promise.all([d.page.waitForEvent('download'), output.click()])
  const saved = await download.path()
  assert.ok(readFileSync(saved).equals(readFileSync(path.join(dir, 'outputs', 'model.json'))))
})

/** The input-data rows of a run's page: their data-* hooks and the text they show. */
function dataInputsShown(page: Page) {
  return page.locator(tid('input-data')).evaluateAll((rows) => rows.map((r) => {
    const row = r as HTMLElement
    const text = (name: string) => (row.querySelector(`[data-testid="${name}"]`) as HTMLElement | null)?.innerText.trim()
    return {
      path: row.dataset.path, version: row.dataset.version, files: Number(row.dataset.files), bytes: Number(row.dataset.bytes),
      shown: {version: text('input-version'), title: row.querySelector('[data-testid="input-version"]')?.getAttribute('title'), files: text('input-files'), bytes: text('input-bytes')},
    }
  }))
}

/** The runs the data-version view lists, top to bottom. */
function dataVersionRuns(page: Page): Promise<string[]> {
  return page.locator(tid('data-version-run')).evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.runId ?? ''))
}

test('a run\'s inputs: each tracked path\'s version, files and bytes as `history info -o json` gives; its version lists the runs `history list --input-version` lists; a run without inputs shows none', async () => {
  const dir = await blank()
  await write(dir, {'read.sh': 'cat data/a.txt\n', 'data/a.txt': 'first\n', 'data/sub/b.bin': Buffer.alloc(3000, 7)})
  ok(await ml(dir, ['experiment', 'submit', 'read.sh']))
  const [plain] = await runs(dir)
  assert.is(plain.inputs, undefined, 'the run before `data track` read no tracked data')
  ok(await ml(dir, ['data', 'track', 'data']))
  ok(await ml(dir, ['experiment', 'submit', 'read.sh']))
  await fs.appendFile(path.join(dir, 'data', 'a.txt'), 'changed\n')
  ok(await ml(dir, ['experiment', 'submit', 'read.sh']))
  ok(await ml(dir, ['experiment', 'submit', 'read.sh']))
  const [c, b, a] = (await runs(dir)).map((r) => r.runId)
  const info = await cli(dir, ['history', 'info', b])
  assert.is(info.inputs.length, 1, JSON.stringify(info.inputs))
  const [input] = info.inputs as DataInput[]
  assert.equal([input.kind, input.path, input.files], ['data', 'data', 2])
  const older = (await cli(dir, ['history', 'info', a])).inputs[0].version
  assert.is.not(older, input.version, 'changing a file made a new version')

  const d = await dashboard(dir, {hash: `#/run/${b}`})
  await visible(d, tid('run-inputs'))
  const shownInputs = await dataInputsShown(d.page)
  assert.equal(shownInputs, [{
    path: input.path, version: input.version, files: input.files, bytes: input.bytes,
    shown: {version: input.version.slice(0, 12), title: input.version, files: '2 files', bytes: formatBytes(input.bytes)},
  }])
  assert.is(await d.page.locator(tid('input-run')).count(), 0)
  assert.is(await d.page.locator(tid('run-used-by')).count(), 0, 'no run read its outputs: no Used by')

  // Its version: the runs that read it, as the CLI lists them; each links to its page.
  const readers = (await runs(dir, ['--input-version', input.version])).map((r) => r.runId)
  assert.equal([...readers].sort(), [b, c].sort())
  await d.page.locator(tid('input-version')).click()
  await visible(d, tid('data-version-page', `[data-version="${input.version}"][data-path="data"]`))
  assert.match(new URL(d.page.url()).hash, /^#\/data\//)
  await until(() => dataVersionRuns(d.page), (ids) => JSON.stringify(ids) === JSON.stringify(readers), `data-version-run rows ${JSON.stringify(readers)}`)
  await d.page.locator(`${tid('data-version-run', `[data-run-id="${c}"]`)} ${tid('data-version-run-link')}`).click()
  await visible(d, tid('run-page', `[data-run-id="${c}"]`))
  await d.page.goBack()
  await visible(d, tid('data-version-page'))
  assert.is(await d.page.locator(tid('data-version-back')).getAttribute('href'), `#/run/${c}`, 'back goes to the page the user came from')

  // The older version, by its address: only the run that read it; opened afresh, back goes to the runs.
  await d.page.goto(`${d.page.url().split('#')[0]}#/data/data/${older}`)
  await d.page.reload()
  await visible(d, tid('data-version-page', `[data-version="${older}"]`))
  const olderReaders = (await runs(dir, ['--input-version', older])).map((r) => r.runId)
  assert.equal(olderReaders, [a])
  await until(() => dataVersionRuns(d.page), (ids) => JSON.stringify(ids) === JSON.stringify(olderReaders), `data-version-run rows ${JSON.stringify(olderReaders)}`)
  assert.is(await d.page.locator(tid('data-version-back')).getAttribute('href'), '#/')

  // The run from before `data track`: no inputs, no lineage, no section at all.
  await d.page.goto(`${d.page.url().split('#')[0]}#/run/${plain.runId}`)
  await visible(d, `${tid('run-page', `[data-run-id="${plain.runId}"]`)} ${tid('run-status')}`)
  assert.is(await d.page.locator(tid('run-lineage')).count(), 0)
  assert.is(await d.page.locator(tid('run-inputs')).count(), 0)
  assert.equal(d.errors, [])
})

test('lineage: a run that read another run\'s output links to it, and that run\'s page lists it under Used by (a record as a remote could deliver it, until `submit --input`)', async () => {
  const dir = await blank()
  await write(dir, {'train.sh': 'mkdir -p outputs\nprintf weights > outputs/model.bin\n'})
  ok(await ml(dir, ['experiment', 'submit', 'train.sh']))
  const [parent] = await runs(dir)
  const weights = readFileSync(path.join(dir, 'outputs', 'model.bin'))
  // A run that read the parent's outputs/model.bin as MODEL: its record crafted with git's plumbing.
  const child = 'p_1700000000000_c41d'
  const input = {kind: 'run', name: 'MODEL', run: parent.runId, path: 'model.bin', size: weights.length, sha256: createHash('sha256').update(weights).digest('hex')}
  const record = {schema: 1, runId: child, projectId: 'x', projectName: 'p', script: 'eval.sh', arguments: [], compute: 'local', status: 'Completed', startTimeUtc: '2023-11-14T22:13:20.000Z', snapshotId: parent.snapshotId, host: 'elsewhere', outputs: [], inputs: [input], properties: {}}
  const tree = writeTree(dir, [{name: 'run.json', content: JSON.stringify(record)}])
  shadowGit(dir, ['update-ref', `refs/ml/runs/${child}`, shadowGit(dir, ['commit-tree', tree, '-p', parent.snapshotId, '-m', 'Completed'])])
  assert.equal((await cli(dir, ['history', 'info', child])).inputs, [input], 'the crafted record passed the trust gate')
  const usedBy = (await cli(dir, ['history', 'info', parent.runId])).usedBy
  assert.equal(usedBy, [{run: child, name: 'MODEL', path: 'model.bin'}])

  const d = await dashboard(dir, {hash: `#/run/${child}`})
  await visible(d, tid('run-inputs'))
  const rows = await d.page.locator(tid('input-run')).evaluateAll((r) => r.map((x) => ({...(x as HTMLElement).dataset})))
  assert.equal(rows, [{testid: 'input-run', name: 'MODEL', run: parent.runId, path: 'model.bin'}])
  assert.is(await d.page.locator(tid('input-data')).count(), 0)
  await d.page.locator(tid('input-run-link')).click()
  await visible(d, `${tid('run-page', `[data-run-id="${parent.runId}"]`)} ${tid('run-used-by')}`)
  assert.is(await d.page.locator(tid('run-inputs')).count(), 0, 'the parent read nothing: no Inputs')
  const items = await d.page.locator(tid('used-by-item')).evaluateAll((r) => r.map((x) => {
    const e = x as HTMLElement
    return {run: e.dataset.run, name: e.dataset.name, path: e.dataset.path}
  }))
  assert.equal(items, usedBy)
  await d.page.locator(tid('used-by-link')).click()
  await visible(d, tid('run-page', `[data-run-id="${child}"]`))
  assert.equal(d.errors, [])
})

test('a running run\'s page follows its log live and shows it end', async () => {
  const dir = await blank()
  const flag = path.join(tempDir('ml-flag-'), 'go')
  await write(dir, {'slow.sh': 'echo first line\nwhile [ ! -e "$1" ]; do sleep 0.1; done\necho second line\n'})
  const submit = mlSpawn(dir, ['experiment', 'submit', 'slow.sh', flag])
  closers.push(() => {
    writeFileSync(flag, '')
    submit.kill('SIGKILL')
  })
  const done = new Promise((r) => submit.once('close', r))
  let out = ''
  await within(20_000, new Promise<void>((resolve) => submit.stdout.on('data', (x: Buffer) => (out += x.toString()).includes('first line') && resolve())))
  const [run] = await runs(dir)
  assert.is(run.status, 'Running')
  const d = await dashboard(dir, {hash: `#/run/${run.runId}`})
  await visible(d, tid('run-page', `[data-run-id="${run.runId}"]`))
  await until(() => d.page.locator(tid('run-log')).innerText(), (t) => t.includes('first line') && !t.includes('second line'), 'the live log with the first line')
  assert.match(await d.page.locator(tid('run-status')).innerText(), /Running/)
  writeFileSync(flag, '')
  await within(20_000, done)
  await until(() => d.page.locator(tid('run-log')).innerText(), (t) => t.includes('second line'), 'the second line, without reloading', 5000)
  await until(() => d.page.locator(tid('run-status')).innerText(), (t) => /Completed/.test(t), 'the status Completed', 5000)
  const text = await d.page.locator(tid('run-log')).innerText()
  assert.is(text.split('first line').length, 2, `the log is not shown twice: ${text}`)
})

test('compare shows the runs with the differing parameter and the best metric marked; diff shows the changed file', async () => {
  const dir = await iris()
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '20', '--lr', '0.1']))
  await fs.appendFile(path.join(dir, 'train.py'), '# changed for run B\n')
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '20', '--lr', '0.3']))
  const [b, a] = (await runs(dir)).map((r) => r.runId)
  const comparison = await cli(dir, ['history', 'compare', a, b])
  const diff = await cli(dir, ['history', 'diff', a, b])
  assert.equal(diff.files.map((f: {path: string}) => f.path), ['train.py'])

  const d = await dashboard(dir)
  await waitForRows(d.page, (ids) => ids.length === 2, '2 rows')
  await selectRuns(d.page, [a, b])
  await d.page.locator(tid('compare-button')).click()
  await visible(d, tid('compare-table'))
  assert.match(new URL(d.page.url()).hash, /^#\/compare\?runs=/)
  const table = await d.page.locator(tid('compare-table')).innerText()
  assert.ok(table.includes(a) && table.includes(b), table)
  const params = await d.page.locator(tid('compare-param')).evaluateAll((rows) => rows.map((r) => ({text: (r as HTMLElement).innerText, differs: (r as HTMLElement).dataset.differs})))
  assert.is(params.length, comparison.params.length, JSON.stringify(params))
  for (const p of comparison.params as Array<{name: string; differs: boolean}>) {
    const row = params.find((r) => r.text.trim().split(/\s/)[0] === p.name)
    assert.ok(row, `a compare-param row for ${p.name}: ${JSON.stringify(params)}`)
    assert.is(row!.differs, String(p.differs), p.name)
  }
  assert.is(await d.page.locator('[data-best="true"]').count(), Object.keys(comparison.best).length, `one best cell per metric: ${JSON.stringify(comparison.best)}`)

  await d.page.goBack()
  await d.page.goto(`${d.page.url().split('#')[0]}#/diff?a=${a}&b=${b}`)
  await visible(d, tid('diff-view'))
  await until(() => d.page.locator(tid('diff-file')).evaluateAll((f) => f.map((x) => (x as HTMLElement).dataset.path)), (p) => JSON.stringify(p) === '["train.py"]', 'one diff-file, train.py')
  assert.match(await d.page.locator(tid('diff-file', '[data-path="train.py"]')).innerText(), /# changed for run B/)

  // From the table: two selected runs and diff-button.
  await d.page.goto(d.page.url().split('#')[0])
  await waitForRows(d.page, (ids) => ids.length === 2, '2 rows')
  await selectRuns(d.page, [a, b])
  await d.page.locator(tid('diff-button')).click()
  await visible(d, tid('diff-file', '[data-path="train.py"]'))
})

test('restore from the run page: the preview writes nothing, cancel neither, confirm restores the folder; ml project restore --undo brings it back', async () => {
  const dir = await iris()
  ok(await ml(dir, ['experiment', 'submit', 'train.py', '--epochs', '20', '--lr', '0.1']))
  const [run] = await runs(dir)
  await fs.appendFile(path.join(dir, 'train.py'), '# edited after the run\n')
  const edited = await folderState(dir)
  const d = await dashboard(dir, {hash: `#/run/${run.runId}`})
  await visible(d, tid('run-page', `[data-run-id="${run.runId}"]`))

  await d.page.locator(tid('restore-button')).click()
  await visible(d, tid('restore-preview'))
  assert.match(await d.page.locator(tid('restore-preview')).innerText(), /train\.py/)
  assert.equal(await folderState(dir), edited, 'the preview wrote nothing')
  await d.page.locator(tid('restore-cancel')).click()
  await until(() => d.page.locator(tid('restore-preview')).count(), (n) => n === 0, 'the preview closed')
  assert.equal(await folderState(dir), edited, 'cancel wrote nothing')

  await d.page.locator(tid('restore-button')).click()
  await d.page.locator(tid('restore-confirm')).click()
  await visible(d, tid('restore-done'))
  assert.ok(readFileSync(path.join(dir, 'train.py')).equals(blob(dir, `${run.snapshotId}:train.py`)), 'train.py is the run\'s again')
  ok(await ml(dir, ['project', 'restore', '--undo', '--yes']))
  assert.equal(await folderState(dir), edited, 'the CLI\'s --undo brings the edit back')
})

test('a run submitted from the CLI appears in the table within 3 s, without reloading', async () => {
  const dir = await blank()
  await write(dir, {'hello.sh': 'echo hello\n'})
  ok(await ml(dir, ['experiment', 'submit', 'hello.sh']))
  const d = await dashboard(dir)
  const [first] = await waitForRows(d.page, (ids) => ids.length === 1, '1 row')
  let loads = 0
  d.page.on('load', () => loads++)
  await d.page.evaluate(() => ((window as unknown as {mlTestMark: number}).mlTestMark = 1))
  ok(await ml(dir, ['experiment', 'submit', 'hello.sh']))
  const [newest] = (await runs(dir)).map((r) => r.runId)
  assert.is.not(newest, first)
  await waitForRows(d.page, (ids) => ids.includes(newest) && ids.includes(first), `the new run ${newest}`, 3000)
  assert.is(loads, 0, 'no reload')
  assert.is(await d.page.evaluate(() => (window as unknown as {mlTestMark?: number}).mlTestMark), 1, 'the same page')
})

test('an unknown run shows app-error', async () => {
  const dir = await blank()
  const d = await dashboard(dir, {hash: '#/run/p_1_nope'})
  await visible(d, tid('app-error'))
  assert.match(await d.page.locator(tid('app-error')).first().innerText(), /p_1_nope|RUN_NOT_FOUND|no run/i)
})

/** The runs table's box: how wide its content is against how wide it is (its scrollbar left out). */
function tableWidths(page: Page): Promise<{scrollWidth: number; clientWidth: number}> {
  return page.locator(tid('runs-table')).evaluate((e) => ({scrollWidth: e.scrollWidth, clientWidth: e.clientWidth}))
}

/** The keys of the table's columns, left to right, from their headers (sort-KEY). */
function headerKeys(page: Page): Promise<string[]> {
  return page.locator(`${tid('runs-table')} .th[data-testid^="sort-"]`).evaluateAll((hs) => hs.map((h) => (h as HTMLElement).dataset.testid!.slice('sort-'.length)))
}

/** Two runs of a script with six parameters and two metrics. */
async function sixParams(): Promise<string> {
  const dir = await blank()
  await write(dir, {'six.sh': 'echo \'{"name": "loss", "value": 0.25}\' >> "$ML_METRICS_FILE"\necho \'{"name": "accuracy", "value": 0.75}\' >> "$ML_METRICS_FILE"\n'})
  for (const lr of ['0.01', '0.1']) {
    ok(await ml(dir, ['experiment', 'submit', 'six.sh', '--learning_rate', lr, '--batch_size', '64', '--epochs', '20', '--dropout', '0.2', '--weight_decay', '0.0001', '--optimizer', 'adam']))
  }
  return dir
}

test('at 1280 px with six parameters the runs table does not scroll sideways: every parameter and metric is a column, the run id whole', async () => {
  const dir = await sixParams()
  const d = await dashboard(dir)
  await waitForRows(d.page, (ids) => ids.length === 2, '2 rows')
  const keys = await headerKeys(d.page)
  for (const name of ['learning_rate', 'batch_size', 'epochs', 'dropout', 'weight_decay', 'optimizer']) assert.ok(keys.includes(`param:${name}`), `a column for ${name}: ${keys}`)
  for (const name of ['loss', 'accuracy']) assert.ok(keys.includes(`metric:${name}`), `a column for ${name}: ${keys}`)
  const widths = await tableWidths(d.page)
  assert.ok(widths.scrollWidth <= widths.clientWidth, `the table scrolls sideways: ${JSON.stringify(widths)}`)
  const cut = await d.page.locator(tid('run-link')).evaluateAll((links) => links.filter((a) => a.scrollWidth > a.parentElement!.clientWidth).length)
  assert.is(cut, 0, 'no run id is cut')
  // Narrower still, columns are hidden to fit (the git commit first), and the chooser says so.
  await d.page.setViewportSize({width: 1024, height: 800})
  await until(() => tableWidths(d.page), (w) => w.scrollWidth <= w.clientWidth && w.clientWidth < 1000, 'the table fitted to 1024 px')
  const narrow = await headerKeys(d.page)
  assert.not.ok(narrow.includes('commit'), `the git commit is hidden to fit: ${narrow}`)
  assert.ok(narrow.includes('runId') && narrow.includes('param:optimizer'), `the run id and the parameters stay: ${narrow}`)
  await d.page.locator(tid('columns-button')).click()
  assert.is(await d.page.locator(tid('column-toggle', '[data-column="commit"]')).isChecked(), false)
  assert.match(await d.page.locator(tid('column-chooser')).innerText(), /hidden to fit/)
  assert.equal(d.errors, [])
})

test('the column chooser hides a column, and the choice outlives a reload (localStorage); ticking it shows it again', async () => {
  const dir = await sixParams()
  const d = await dashboard(dir)
  await waitForRows(d.page, (ids) => ids.length === 2, '2 rows')
  assert.ok((await headerKeys(d.page)).includes('param:dropout'))
  await d.page.locator(tid('columns-button')).click()
  const toggle = d.page.locator(tid('column-toggle', '[data-column="param:dropout"]'))
  assert.is(await toggle.isChecked(), true)
  await toggle.uncheck()
  await until(() => headerKeys(d.page), (keys) => !keys.includes('param:dropout'), 'the dropout column hidden')
  assert.ok((await d.page.locator(tid('column-toggle', '[data-column="runId"]')).isDisabled()), 'the run id cannot be hidden')

  await d.page.reload()
  await ready(d.page, d.errors)
  await waitForRows(d.page, (ids) => ids.length === 2, '2 rows after the reload')
  const keys = await headerKeys(d.page)
  assert.not.ok(keys.includes('param:dropout'), `still hidden after the reload: ${keys}`)
  assert.ok(keys.includes('param:learning_rate'), 'the others are still there')
  await d.page.locator(tid('columns-button')).click()
  assert.is(await d.page.locator(tid('column-toggle', '[data-column="param:dropout"]')).isChecked(), false)
  await d.page.locator(tid('column-toggle', '[data-column="param:dropout"]')).check()
  await until(() => headerKeys(d.page), (k) => k.includes('param:dropout'), 'the dropout column shown again')
  const widths = await tableWidths(d.page)
  assert.ok(widths.scrollWidth <= widths.clientWidth, `still no sideways scroll: ${JSON.stringify(widths)}`)
  assert.equal(d.errors, [])
})

test('the screenshot for the README: 3 runs of an iris sweep selected, the chart drawn, 1280x800 (docs/dashboard.png)', async () => {
  const dir = await iris()
  ok(await ml(dir, ['experiment', 'sweep', '-j', '2', '--grid', 'lr=0.03,0.1,0.3', 'train.py', '--epochs', '50']))
  const ids = (await runs(dir)).map((r) => r.runId)
  assert.is(ids.length, 3)
  const d = await dashboard(dir)
  await waitForRows(d.page, (rows) => rows.length === 3, '3 rows')
  await selectRuns(d.page, ids)
  const chart = await drawnChart(d, 'loss', 3)
  assert.equal(chart.points, [10, 10, 10])
  await d.page.locator(tid('scatter-param-select')).first().selectOption('lr')
  await d.page.locator(tid('scatter-metric-select')).first().selectOption('loss')
  await until(() => d.page.locator(tid('scatter-chart')).first().getAttribute('data-points'), (p) => p === '3', 'the scatter chart of loss against lr with 3 points')
  await d.page.mouse.move(0, 0)
  const file = path.join(ROOT, 'docs', 'dashboard.png')
  await d.page.screenshot({path: file})
  const png = readFileSync(file)
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG')
  assert.equal([png.readUInt32BE(16), png.readUInt32BE(20)], [1280, 800])
})

test.run()
