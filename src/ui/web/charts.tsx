import {useMemo, useRef, useState} from 'preact/hooks'
import type uPlot from 'uplot'
import type {MetricPoint, ParamValue, RunRecord} from './api.js'
import {formatNumber, seriesColor} from './format.js'
import {stepSeries, timeSeries, useRunMetrics} from './metrics.js'
import {align, Plot, type PlotOptions} from './plot.js'
import {href} from './router.js'

const AXIS = {stroke: '#555', grid: {stroke: '#eee', width: 1}, ticks: {stroke: '#ddd', width: 1}}

export interface ChartSettings {
  metric: string
  xTime: boolean
  log: boolean
}

/**
 * Each run's values of one metric over steps (or time), overlaid; drawn once every run's points
 * have loaded, so that `data-series` and `data-points` describe what is on screen.
 */
export function MetricChart({runs, names, settings, onChange, note}: {runs: RunRecord[]; names: string[]; settings: ChartSettings; onChange: (s: Partial<ChartSettings>) => void; note?: string}) {
  const {points, ready, errors} = useRunMetrics(runs)
  // The metrics the runs logged points of first (a last value alone draws nothing).
  const options = useMemo(() => {
    const logged = new Set<string>()
    for (const list of points.values()) for (const p of list) logged.add(p.name)
    return [...new Set([...names.filter((n) => logged.has(n)), ...logged, ...names])]
  }, [points, names])
  const metric = options.includes(settings.metric) ? settings.metric : options[0] ?? ''
  const {xTime, log} = settings
  const built = useMemo(() => {
    if (!ready) return null
    const drawn: Array<{run: RunRecord; count: number}> = []
    const series = []
    for (const run of runs) {
      const own = points.get(run.runId) ?? []
      const s = xTime ? timeSeries(own, metric, run) : stepSeries(own, metric)
      if (s.x.length === 0) continue
      drawn.push({run, count: s.x.length})
      series.push(s)
    }
    const data = align(series, log)
    const options: PlotOptions = {
      height: 300,
      scales: {x: {time: false}, y: log ? {distr: 3, log: 10} : {}},
      axes: [{...AXIS, label: xTime ? 'seconds since the run started' : 'step', labelSize: 20}, {...AXIS, size: 60}],
      series: [
        {label: xTime ? 'time (s)' : 'step', value: (_u, v) => (v === null ? '-' : formatNumber(v))},
        ...drawn.map(({run}, i) => ({label: run.runId, stroke: seriesColor(i), width: 1.5, spanGaps: true, value: (_u: uPlot, v: number | null) => (v === null ? '-' : formatNumber(v))})),
      ],
      legend: {live: true},
      cursor: {drag: {x: true, y: false}},
    }
    return {drawn, data, options}
  }, [ready, points, runs, metric, xTime, log])
  const [drawnFor, setDrawnFor] = useState<unknown>(null)
  const drawn = built !== null && (built.drawn.length === 0 || drawnFor === built.data)
  return (
    <section class="card chart-card">
      <div class="chart-head">
        <h3>Metric</h3>
        <select data-testid="chart-metric-select" value={metric} onChange={(e) => onChange({metric: e.currentTarget.value})}>
          {options.map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
        <label><input type="checkbox" data-testid="chart-x-time" checked={xTime} onChange={(e) => onChange({xTime: e.currentTarget.checked})} /> x by time</label>
        <label><input type="checkbox" data-testid="chart-log" checked={log} onChange={(e) => onChange({log: e.currentTarget.checked})} /> log y</label>
        {note && <span class="muted">{note}</span>}
      </div>
      <div
        data-testid="metric-chart"
        data-metric={metric}
        data-series={built ? String(built.drawn.length) : '0'}
        data-points={built ? built.drawn.map((d) => d.count).join(',') : ''}
        data-drawn={drawn ? 'true' : 'false'}
      >
        {!built && <div class="placeholder">Loading metrics…</div>}
        {built && built.drawn.length === 0 && <div class="placeholder">{options.length === 0 ? 'No metrics logged by these runs.' : `No values of ${metric} for these runs.`}</div>}
        {built && built.drawn.length > 0 && <Plot options={built.options} data={built.data} onDraw={() => setDrawnFor(built.data)} />}
      </div>
      {errors.length > 0 && <div class="app-error" data-testid="app-error">{errors.join('; ')}</div>}
    </section>
  )
}

/** The data's range with a margin, so that no point sits on the edge. */
function padded(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min === null || max === null) return [0, 1]
  const span = max - min || Math.abs(max) || 1
  return [min - span * 0.06, max + span * 0.06]
}

/** A metric's last value against a parameter, one point per run (a parameter that is not a number is placed by category). */
export function ScatterChart({runs, params, metrics, param, metric, onChange}: {runs: RunRecord[]; params: string[]; metrics: string[]; param: string; metric: string; onChange: (s: {param?: string; metric?: string}) => void}) {
  const p = params.includes(param) ? param : params[0] ?? ''
  const m = metrics.includes(metric) ? metric : metrics[0] ?? ''
  const hover = useRef<HTMLDivElement>(null)
  const built = useMemo(() => {
    const rows: Array<{run: RunRecord; x: ParamValue; y: number}> = []
    for (const run of runs) {
      const x = run.params?.[p]
      const y = run.metrics?.[m]
      if (x === undefined || x === null || typeof y !== 'number' || !Number.isFinite(y)) continue
      rows.push({run, x, y})
    }
    const numeric = rows.every((r) => typeof r.x === 'number')
    const categories = numeric ? [] : [...new Set(rows.map((r) => String(r.x)))].sort(new Intl.Collator(undefined, {numeric: true}).compare)
    const position = (v: ParamValue) => (numeric ? (v as number) : categories.indexOf(String(v)))
    rows.sort((a, b) => position(a.x) - position(b.x))
    const xs = Float64Array.from(rows, (r) => position(r.x))
    const ys = Float64Array.from(rows, (r) => r.y)
    const nearest = (u: uPlot): number | null => {
      const {left, top} = u.cursor
      if (left === undefined || top === undefined || left < 0) return null
      let best: number | null = null
      let bestD = 12 * 12
      for (let i = 0; i < xs.length; i++) {
        const dx = u.valToPos(xs[i], 'x') - left
        const dy = u.valToPos(ys[i], 'y') - top
        const d = dx * dx + dy * dy
        if (d < bestD) {
          bestD = d
          best = i
        }
      }
      return best
    }
    const show = (u: uPlot) => {
      const i = u.cursor.idxs?.[1]
      if (hover.current) hover.current.textContent = i === null || i === undefined ? '' : `${rows[i].run.runId}: ${p} = ${String(rows[i].x)}, ${m} = ${formatNumber(rows[i].y)}`
    }
    const options: PlotOptions = {
      height: 300,
      scales: {x: {time: false, range: numeric ? padded : (): uPlot.Range.MinMax => [-0.5, Math.max(0.5, categories.length - 0.5)]}, y: {range: padded}},
      axes: [
        {...AXIS, label: p, labelSize: 20, ...(!numeric && {splits: () => categories.map((_, i) => i), values: (_u: uPlot, splits: number[]) => splits.map((s) => categories[s] ?? '')})},
        {...AXIS, size: 60},
      ],
      series: [
        {label: p, value: (_u, v) => (v === null ? '-' : numeric ? formatNumber(v) : categories[v] ?? '')},
        {label: m, stroke: seriesColor(0), fill: seriesColor(0), paths: () => null, points: {show: true, space: 0, size: 7, fill: 'rgba(31,119,180,0.55)', stroke: seriesColor(0)}, value: (_u, v) => (v === null ? '-' : formatNumber(v))},
      ],
      cursor: {dataIdx: (u, seriesIdx, closest) => (seriesIdx === 1 ? nearest(u) ?? closest : closest), points: {size: 11}},
      legend: {live: true},
      hooks: {setCursor: [show]},
    }
    const onCreate = (u: uPlot) => {
      u.over.addEventListener('click', () => {
        const i = u.cursor.idxs?.[1]
        if (i !== null && i !== undefined && nearest(u) === i) location.hash = href.run(rows[i].run.runId)
      })
    }
    return {count: rows.length, data: [xs, ys] as uPlot.AlignedData, options, onCreate}
  }, [runs, p, m])
  return (
    <section class="card chart-card">
      <div class="chart-head">
        <h3>Scatter</h3>
        <select data-testid="scatter-metric-select" value={m} onChange={(e) => onChange({metric: e.currentTarget.value})}>
          {metrics.map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
        <span class="muted">against</span>
        <select data-testid="scatter-param-select" value={p} onChange={(e) => onChange({param: e.currentTarget.value})}>
          {params.map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
      </div>
      <div data-testid="scatter-chart" data-points={String(built.count)} data-param={p} data-metric={m}>
        {built.count === 0
          ? <div class="placeholder">{params.length === 0 || metrics.length === 0 ? 'The runs need a parameter and a metric to plot.' : `No run has both ${p} and ${m}.`}</div>
          : <Plot options={built.options} data={built.data} onCreate={built.onCreate} />}
      </div>
      <div class="hover muted" ref={hover} />
    </section>
  )
}

/** A small chart of one metric of one run, by step. */
export function SmallChart({points, name}: {points: MetricPoint[]; name: string}) {
  const built = useMemo(() => {
    const s = stepSeries(points, name)
    const options: PlotOptions = {
      height: 110,
      scales: {x: {time: false}},
      axes: [{...AXIS, size: 24, font: '10px system-ui, sans-serif'}, {...AXIS, size: 44, font: '10px system-ui, sans-serif'}],
      series: [{label: 'step'}, {label: name, stroke: seriesColor(0), width: 1.5, value: (_u, v) => (v === null ? '-' : formatNumber(v))}],
      legend: {show: false},
      cursor: {drag: {x: false, y: false}},
    }
    return {count: s.x.length, data: align([s], false), options}
  }, [points, name])
  if (built.count < 2) return <span class="muted">{built.count === 1 ? 'one value' : ''}</span>
  return <div class="small-chart" data-testid="run-metric-chart" data-metric={name}><Plot options={built.options} data={built.data} /></div>
}
