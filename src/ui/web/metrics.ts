import {useEffect, useMemo, useState} from 'preact/hooks'
import {getJson, message, runUrl, type MetricPoint, type RunRecord} from './api.js'
import type {Series} from './plot.js'

interface Entry {
  key: string
  serial: number
  points: MetricPoint[]
  error?: string
}

/** The metric points of runs, fetched once per state of each run (it changes while it runs). */
const cache = new Map<string, Entry>()
const loading = new Map<string, string>()
const listeners = new Set<() => void>()
let serial = 0

function keyOf(run: RunRecord): string {
  return `${run.status}|${run.endTimeUtc ?? ''}|${JSON.stringify(run.metrics ?? {})}`
}

function load(run: RunRecord): void {
  const key = keyOf(run)
  if (cache.get(run.runId)?.key === key || loading.get(run.runId) === key) return
  loading.set(run.runId, key)
  getJson<{points: MetricPoint[]}>(runUrl(run.runId, 'metrics'))
    .then((body) => cache.set(run.runId, {key, serial: ++serial, points: body.points}))
    .catch((error: unknown) => cache.set(run.runId, {key, serial: ++serial, points: cache.get(run.runId)?.points ?? [], error: message(error)}))
    .finally(() => {
      if (loading.get(run.runId) === key) loading.delete(run.runId)
      for (const listener of listeners) listener()
    })
}

/**
 * The points of each of `runs` (while a run's newer points load, its older ones), and whether
 * every run has some answer yet.
 */
export function useRunMetrics(runs: RunRecord[]): {points: Map<string, MetricPoint[]>; ready: boolean; errors: string[]} {
  const [, setTick] = useState(0)
  useEffect(() => {
    const listener = () => setTick((t) => t + 1)
    listeners.add(listener)
    return () => void listeners.delete(listener)
  }, [])
  const signature = runs.map((r) => `${r.runId}:${keyOf(r)}`).join('\n')
  useEffect(() => {
    for (const run of runs) load(run)
  }, [signature])
  const state = runs.map((r) => cache.get(r.runId)?.serial ?? 0).join(',')
  return useMemo(() => {
    const points = new Map<string, MetricPoint[]>()
    const errors: string[] = []
    for (const run of runs) {
      const entry = cache.get(run.runId)
      if (!entry) continue
      points.set(run.runId, entry.points)
      if (entry.error) errors.push(`${run.runId}: ${entry.error}`)
    }
    return {points, ready: points.size === runs.length, errors}
  }, [state, signature])
}

/** The points of one metric, by step (a point without one: its index), sorted by step. */
export function stepSeries(points: MetricPoint[], name: string): Series {
  const own = points.filter((p) => p.name === name)
  const x = new Float64Array(own.length)
  const y = new Float64Array(own.length)
  let sorted = true
  own.forEach((p, i) => {
    x[i] = p.step ?? i
    y[i] = p.value
    if (i > 0 && x[i] < x[i - 1]) sorted = false
  })
  if (sorted) return {x, y}
  const order = Array.from(own.keys()).sort((a, b) => x[a] - x[b])
  return {x: Float64Array.from(order, (i) => x[i]), y: Float64Array.from(order, (i) => y[i])}
}

/** The points of one metric over time: spread evenly from the run's start to its end, in seconds since the start. */
export function timeSeries(points: MetricPoint[], name: string, run: RunRecord): Series {
  const own = points.filter((p) => p.name === name)
  const start = Date.parse(run.startTimeUtc)
  const end = run.endTimeUtc ? Date.parse(run.endTimeUtc) : run.durationMs !== undefined ? start + run.durationMs : Date.now()
  const seconds = Number.isFinite(start) && Number.isFinite(end) ? Math.max(0, end - start) / 1000 : own.length
  const n = own.length
  return {
    x: Float64Array.from(own, (_, i) => (n === 1 ? seconds : (seconds * i) / (n - 1))),
    y: Float64Array.from(own, (p) => p.value),
  }
}

/** Metric names in the order first seen. */
export function metricNames(points: MetricPoint[]): string[] {
  const seen = new Set<string>()
  for (const p of points) seen.add(p.name)
  return [...seen]
}
