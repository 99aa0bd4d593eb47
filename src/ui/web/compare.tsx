import {useEffect, useState} from 'preact/hooks'
import {getJson, message, type Comparison} from './api.js'
import {commandLine, formatDuration, formatNumber, formatTime, formatValue, GIT_COMMIT, runDuration} from './format.js'
import {href} from './router.js'
import {ErrorBox} from './run-page.js'

/** Runs side by side: the parameters that differ marked, the best value of each metric marked. */
export function ComparePage({ids, version}: {ids: string[]; version: number}) {
  const [data, setData] = useState<Comparison | null>(null)
  const [error, setError] = useState<string | null>(null)
  const key = ids.join(',')
  useEffect(() => {
    let alive = true
    setError(null)
    getJson<Comparison>(`/api/compare?runs=${ids.map(encodeURIComponent).join(',')}`)
      .then((body) => alive && setData(body))
      .catch((e: unknown) => alive && setError(message(e)))
    return () => void (alive = false)
  }, [key, version])
  const runs = data?.runs ?? []
  const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.metrics ?? {})))]
  return (
    <div class="compare-page">
      <div class="page-head">
        <a href={href.runs()}>← Runs</a>
        <h2>Compare {ids.length} runs</h2>
        {runs.length === 2 && <a href={href.diff(runs[0].runId, runs[1].runId)}>Code diff →</a>}
      </div>
      <ErrorBox error={error} />
      {!data && !error && <div class="muted">Loading…</div>}
      {data && (
        <section class="card scroll-x">
          <table class="list compare" data-testid="compare-table">
            <thead>
              <tr><th />{runs.map((r) => <th key={r.runId}><a href={href.run(r.runId)}>{r.runId}</a></th>)}</tr>
            </thead>
            <tbody>
              <tr><th>Status</th>{runs.map((r) => <td key={r.runId}><span class={`status s-${r.status}`}>{r.status}</span></td>)}</tr>
              <tr><th>Command</th>{runs.map((r) => <td key={r.runId}><code>{commandLine(r)}</code></td>)}</tr>
              <tr><th>Started</th>{runs.map((r) => <td key={r.runId}>{formatTime(r.startTimeUtc)}</td>)}</tr>
              <tr><th>Duration</th>{runs.map((r) => <td key={r.runId}>{formatDuration(runDuration(r))}</td>)}</tr>
              <tr><th>Snapshot</th>{runs.map((r) => <td key={r.runId}><code>{r.snapshotId.slice(0, 8)}</code></td>)}</tr>
              <tr><th>Git commit</th>{runs.map((r) => <td key={r.runId}><code>{(r.properties[GIT_COMMIT] ?? '').slice(0, 8)}</code></td>)}</tr>
              <tr class="section"><th colSpan={runs.length + 1}>Parameters {data.params.some((p) => p.differs) && <span class="muted">(rows that differ are marked)</span>}</th></tr>
              {data.params.length === 0 && <tr><td colSpan={runs.length + 1} class="muted">No parameters recorded.</td></tr>}
              {data.params.map((p) => (
                <tr key={p.name} class={p.differs ? 'differs' : ''} data-testid="compare-param" data-name={p.name} data-differs={String(p.differs)}>
                  <th title={p.differs ? 'differs between the runs' : undefined}>{p.name}</th>
                  {runs.map((r) => <td key={r.runId}><code>{formatValue(r.params?.[p.name])}</code></td>)}
                </tr>
              ))}
              <tr class="section"><th colSpan={runs.length + 1}>Metrics (last values; the best is marked)</th></tr>
              {metrics.length === 0 && <tr><td colSpan={runs.length + 1} class="muted">No metrics logged.</td></tr>}
              {metrics.map((name) => (
                <tr key={name} data-testid="compare-metric" data-name={name}>
                  <th>{name}</th>
                  {runs.map((r) => {
                    const best = data.best[name] === r.runId
                    return <td key={r.runId} class={best ? 'best' : ''} title={best ? 'best' : undefined} data-best={best ? 'true' : undefined}>{formatNumber(r.metrics?.[name])}</td>
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  )
}
