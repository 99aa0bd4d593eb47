import type {ComponentChild} from 'preact'
import {useEffect, useLayoutEffect, useMemo, useRef, useState} from 'preact/hooks'
import type {ParamValue, RunRecord, RunStatus} from './api.js'
import {MetricChart, ScatterChart, type ChartSettings} from './charts.js'
import {ColumnChooser} from './column-chooser.js'
import {CHECK_WIDTH, fitColumns, type Sized, useColumnChoice} from './columns.js'
import {commandLine, formatDuration, formatNumber, formatTime, formatValue, GIT_COMMIT, runDuration} from './format.js'
import {href} from './router.js'

export interface RunsViewState {
  sort: {key: string; dir: 'asc' | 'desc'} | null
  text: string
  status: string
  sweep: string
  script: string
  selected: ReadonlySet<string>
  chart: ChartSettings
  scatterParam: string
  scatterMetric: string
}

export const initialRunsView: RunsViewState = {
  sort: null, text: '', status: '', sweep: '', script: '', selected: new Set(),
  chart: {metric: '', xTime: false, log: false}, scatterParam: '', scatterMetric: '',
}

const STATUSES: RunStatus[] = ['Queued', 'Running', 'Completed', 'Failed', 'Canceled', 'Corrupt']
const ROW = 28
const OVERSCAN = 6
/** Runs drawn at once in the metric chart. */
const MAX_CHART_RUNS = 20

type Sortable = string | number | boolean | null | undefined

interface Column extends Sized {
  label: string
  group: 'run' | 'param' | 'metric'
  title?: string
  num?: boolean
  value: (run: RunRecord) => Sortable
  cell: (run: RunRecord) => ComponentChild
}

const collator = new Intl.Collator(undefined, {numeric: true, sensitivity: 'base'})

/** Numbers numerically, text naturally; a run without a value comes last either way. */
function compareValues(a: Sortable, b: Sortable): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  return collator.compare(String(a), String(b))
}

function missing(v: Sortable): boolean {
  return v === undefined || v === '' || (typeof v === 'number' && Number.isNaN(v))
}

function baseColumns(): Column[] {
  return [
    {key: 'runId', label: 'Run', group: 'run', width: 210, min: 190, shrink: 3, hideable: false, value: (r) => r.runId, cell: (r) => <a data-testid="run-link" href={href.run(r.runId)}>{r.runId}</a>},
    {key: 'status', label: 'Status', group: 'run', width: 92, value: (r) => r.status, cell: (r) => <span class={`status s-${r.status}`}>{r.status}</span>},
    // When the table is too narrow, the script narrows first, then parameters and metrics, then
    // the run id; then (`collapse`) the git commit is hidden, then the snapshot, the duration...
    {key: 'started', label: 'Started', group: 'run', width: 158, collapse: 4, value: (r) => (r.startTimeUtc ? Date.parse(r.startTimeUtc) : undefined), cell: (r) => formatTime(r.startTimeUtc)},
    {key: 'duration', label: 'Duration', group: 'run', width: 84, collapse: 3, num: true, value: (r) => runDuration(r), cell: (r) => formatDuration(runDuration(r))},
    {key: 'script', label: 'Script', group: 'run', width: 240, min: 120, shrink: 1, value: (r) => commandLine(r), cell: (r) => <span title={commandLine(r)}>{commandLine(r)}</span>},
    {key: 'snapshot', label: 'Snapshot', group: 'run', width: 86, collapse: 2, value: (r) => r.snapshotId, cell: (r) => <code>{r.snapshotId.slice(0, 8)}</code>},
    {key: 'commit', label: 'Git commit', group: 'run', width: 100, collapse: 1, value: (r) => r.properties[GIT_COMMIT], cell: (r) => <code>{(r.properties[GIT_COMMIT] ?? '').slice(0, 8)}</code>},
  ]
}

function searchText(run: RunRecord): string {
  let text = searchCache.get(run)
  if (text === undefined) {
    text = [run.runId, run.script, ...run.arguments, ...Object.entries(run.params ?? {}).map(([k, v]) => `${k}=${formatValue(v)}`), ...Object.entries(run.properties ?? {}).map(([k, v]) => `${k}=${v}`), run.sweepId ?? ''].join('\n').toLowerCase()
    searchCache.set(run, text)
  }
  return text
}
const searchCache = new WeakMap<RunRecord, string>()

/** Names in the order first seen across the runs. */
function namesOf(runs: RunRecord[], pick: (r: RunRecord) => Record<string, unknown> | undefined): string[] {
  const seen = new Set<string>()
  for (const run of runs) for (const name of Object.keys(pick(run) ?? {})) seen.add(name)
  return [...seen]
}

export function RunsView({runs, state, setState}: {runs: RunRecord[]; state: RunsViewState; setState: (update: (s: RunsViewState) => RunsViewState) => void}) {
  const update = (patch: Partial<RunsViewState>) => setState((s) => ({...s, ...patch}))
  const paramNames = useMemo(() => namesOf(runs, (r) => r.params), [runs])
  const metricNames = useMemo(() => namesOf(runs, (r) => r.metrics), [runs])
  const sweeps = useMemo(() => [...new Set(runs.map((r) => r.sweepId).filter((s): s is string => !!s))], [runs])
  const columns = useMemo(() => [
    ...baseColumns(),
    ...paramNames.map((name): Column => ({key: `param:${name}`, label: name, group: 'param', title: `parameter ${name}`, width: 96, min: 64, shrink: 2, num: true, value: (r) => paramSort(r.params?.[name]), cell: (r) => formatValue(r.params?.[name])})),
    ...metricNames.map((name): Column => ({key: `metric:${name}`, label: name, group: 'metric', title: `metric ${name} (last value)`, width: 96, min: 72, shrink: 2, num: true, value: (r) => r.metrics?.[name], cell: (r) => formatNumber(r.metrics?.[name])})),
  ], [paramNames, metricNames])
  const [choice, setChoice] = useColumnChoice()
  /** The table's inner width (without its scrollbar); unknown (0) until it is first measured. */
  const [tableWidth, setTableWidth] = useState(0)
  const fit = useMemo(() => fitColumns(columns, choice, tableWidth || Infinity), [columns, choice, tableWidth])

  const {text, status, sweep, script, sort, selected} = state
  const filtered = useMemo(() => {
    const words = text.toLowerCase().split(/\s+/).filter(Boolean)
    const scriptText = script.toLowerCase()
    return runs.filter((r) =>
      (!status || r.status === status) &&
      (!sweep || r.sweepId === sweep) &&
      (!scriptText || r.script.toLowerCase().includes(scriptText)) &&
      (words.length === 0 || words.every((w) => searchText(r).includes(w))))
  }, [runs, text, status, sweep, script])
  const rows = useMemo(() => {
    if (!sort) return filtered
    const column = columns.find((c) => c.key === sort.key)
    if (!column) return filtered
    const sign = sort.dir === 'asc' ? 1 : -1
    const keyed = filtered.map((run) => ({run, v: column.value(run)}))
    keyed.sort((a, b) => {
      const ma = missing(a.v)
      const mb = missing(b.v)
      if (ma || mb) return ma === mb ? 0 : ma ? 1 : -1
      return sign * compareValues(a.v, b.v)
    })
    return keyed.map((k) => k.run)
  }, [filtered, sort, columns])

  const toggleSort = (key: string) => update({sort: sort?.key === key ? {key, dir: sort.dir === 'asc' ? 'desc' : 'asc'} : {key, dir: 'asc'}})
  const lastClicked = useRef<number | null>(null)
  const toggle = (index: number, shift: boolean) => {
    const id = rows[index].runId
    const next = new Set(selected)
    const on = !selected.has(id)
    if (shift && lastClicked.current !== null && lastClicked.current < rows.length) {
      const [from, to] = [Math.min(lastClicked.current, index), Math.max(lastClicked.current, index)]
      for (let i = from; i <= to; i++) on ? next.add(rows[i].runId) : next.delete(rows[i].runId)
    } else if (on) next.add(id)
    else next.delete(id)
    lastClicked.current = index
    update({selected: next})
  }
  /** The selected runs, oldest first (Diff goes from the older to the newer). */
  const chosen = useMemo(() => runs.filter((r) => selected.has(r.runId)).reverse(), [runs, selected])
  const chartRuns = useMemo(() => {
    const usable = (r: RunRecord) => r.status !== 'Corrupt'
    return chosen.length > 0 ? [...chosen].reverse().filter(usable).slice(0, MAX_CHART_RUNS) : filtered.filter(usable).slice(0, 5)
  }, [chosen, filtered])
  const chartMetrics = useMemo(() => {
    const names = namesOf(chartRuns, (r) => r.metrics)
    return names.length > 0 ? names : metricNames
  }, [chartRuns, metricNames])
  const go = (hash: string) => void (location.hash = hash)

  return (
    <div class="runs-view">
      <div class="toolbar">
        <input data-testid="filter-text" type="search" placeholder="Search runs, params, tags…" value={text} onInput={(e) => update({text: e.currentTarget.value})} />
        <select data-testid="filter-status" value={status} onChange={(e) => update({status: e.currentTarget.value})}>
          <option value="">All statuses</option>
          {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <input data-testid="filter-script" class="narrow" placeholder="Script" value={script} onInput={(e) => update({script: e.currentTarget.value})} />
        <select data-testid="filter-sweep" value={sweep} onChange={(e) => update({sweep: e.currentTarget.value})}>
          <option value="">All sweeps</option>
          {sweeps.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <span class="spacer" />
        <span class="muted">{rows.length === runs.length ? `${runs.length} runs` : `${rows.length} of ${runs.length} runs`}{selected.size > 0 && `, ${selected.size} selected`}</span>
        {selected.size > 0 && <button type="button" class="plain" onClick={() => update({selected: new Set()})}>Clear</button>}
        <ColumnChooser columns={columns} choice={choice} fitted={fit.fitted} onChange={setChoice} />
        <button type="button" data-testid="compare-button" disabled={chosen.length < 2} onClick={() => go(href.compare(chosen.map((r) => r.runId)))}>Compare</button>
        <button type="button" data-testid="diff-button" disabled={chosen.length !== 2} onClick={() => go(href.diff(chosen[0].runId, chosen[1].runId))}>Diff</button>
      </div>
      {runs.length === 0
        ? <div class="card empty">No runs yet. Start one with <code>ml experiment submit script.py</code>; it shows up here as it runs.</div>
        : <RunsTable rows={rows} columns={fit.shown} sort={sort} onSort={toggleSort} selected={selected} onToggle={toggle} onWidth={setTableWidth} />}
      {runs.length > 0 && (
        <div class="charts">
          <MetricChart
            runs={chartRuns}
            names={chartMetrics}
            settings={state.chart}
            onChange={(c) => setState((s) => ({...s, chart: {...s.chart, ...c}}))}
            note={chosen.length > MAX_CHART_RUNS ? `the first ${MAX_CHART_RUNS} of ${chosen.length} selected runs` : chosen.length > 0 ? `${chartRuns.length} selected run${chartRuns.length === 1 ? '' : 's'}` : `the ${chartRuns.length} newest run${chartRuns.length === 1 ? '' : 's'}`}
          />
          <ScatterChart
            runs={runs}
            params={paramNames}
            metrics={metricNames}
            param={state.scatterParam}
            metric={state.scatterMetric || state.chart.metric}
            onChange={(c) => update({...c.param !== undefined && {scatterParam: c.param}, ...c.metric !== undefined && {scatterMetric: c.metric}})}
          />
        </div>
      )}
    </div>
  )
}

function paramSort(v: ParamValue | undefined): Sortable {
  return v === null ? 'null' : v
}

/**
 * The table: only the rows in view (and a few around) are in the page, placed in a box as tall
 * as all the rows, so that scrolling through 10,000 runs stays smooth. Its columns come fitted
 * to its width (fitColumns), which it tells `onWidth` whenever it changes.
 */
function RunsTable({rows, columns, sort, onSort, selected, onToggle, onWidth}: {rows: RunRecord[]; columns: Array<Column & {px: number}>; sort: RunsViewState['sort']; onSort: (key: string) => void; selected: ReadonlySet<string>; onToggle: (index: number, shift: boolean) => void; onWidth: (width: number) => void}) {
  const box = useRef<HTMLDivElement>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const [height, setHeight] = useState(600)
  useLayoutEffect(() => {
    const el = box.current!
    setHeight(el.clientHeight)
    onWidth(el.clientWidth)
    // Its content box: a vertical scrollbar coming or going changes the width too.
    const observer = new ResizeObserver(() => {
      setHeight(el.clientHeight)
      onWidth(el.clientWidth)
    })
    observer.observe(el)
    return () => observer.disconnect()
  }, [])
  useEffect(() => {
    const el = box.current!
    if (el.scrollTop !== scrollTop) setScrollTop(el.scrollTop)
  }, [rows.length])
  const template = `${CHECK_WIDTH}px ${columns.map((c) => `${c.px}px`).join(' ')}`
  const width = CHECK_WIDTH + columns.reduce((sum, c) => sum + c.px, 0)
  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN)
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / ROW) + OVERSCAN)
  // Rows are keyed by slot (index modulo the pool), so that a scroll reuses the rows already in
  // the page, changing their text, instead of making new ones; they stay in the order shown.
  const pool = Math.max(64, last - first)
  const visible: ComponentChild[] = []
  for (let i = first; i < last; i++) {
    const run = rows[i]
    const on = selected.has(run.runId)
    visible.push(
      <div key={i % pool} class={`tr${on ? ' selected' : ''}`} data-testid="run-row" data-run-id={run.runId} style={{top: `${i * ROW}px`}}>
        <div class="td check"><input type="checkbox" data-testid="run-select" aria-label={`select ${run.runId}`} checked={on} onClick={(e) => onToggle(i, e.shiftKey)} /></div>
        {columns.map((c) => <div key={c.key} class={`td${c.num ? ' num' : ''}`}>{c.cell(run)}</div>)}
      </div>,
    )
  }
  return (
    <div class="table" data-testid="runs-table" ref={box} style={{'--cols': template}} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
      <div class="thead" style={{width: `${width}px`}}>
        <div class="th check" />
        {columns.map((c) => {
          const dir = sort?.key === c.key ? sort.dir : undefined
          return (
            <div key={c.key} class={`th${c.num ? ' num' : ''}${dir ? ' sorted' : ''}`} data-testid={`sort-${c.key}`} data-sort={dir} title={c.title ?? `sort by ${c.label}`} role="button" tabIndex={0} onClick={() => onSort(c.key)} onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), onSort(c.key))}>
              <span>{c.label}</span>{dir && <span class="arrow">{dir === 'asc' ? '▲' : '▼'}</span>}
            </div>
          )
        })}
      </div>
      <div class="tbody" style={{height: `${rows.length * ROW}px`, width: `${width}px`}}>
        {visible}
        {rows.length === 0 && <div class="none">No run matches the filters.</div>}
      </div>
    </div>
  )
}
