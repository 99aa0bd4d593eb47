import type {RunRecord} from './api.js'
import {commandLine, formatBytes, formatTime, plural} from './format.js'
import {backHref, href} from './router.js'

/** The runs that read one version of a tracked path (as `history list --input-version` finds them), from the live run list. */
export function DataVersionPage({path, version, runs}: {path: string; version: string; runs: RunRecord[] | null}) {
  const readers = (runs ?? []).filter((r) => r.inputs?.some((i) => i.kind === 'data' && i.path === path && i.version === version))
  const input = readers[0]?.inputs?.find((i) => i.kind === 'data' && i.path === path)
  return (
    <div class="data-version-page" data-testid="data-version-page" data-path={path} data-version={version}>
      <div class="page-head">
        <a data-testid="data-version-back" href={backHref()}>← Back</a>
        <h2>Data <code>{path}</code> version <code title={version}>{version.slice(0, 12)}</code></h2>
        {input?.kind === 'data' && <span class="muted">{plural(input.files, 'file')}, {formatBytes(input.bytes)}</span>}
      </div>
      <section class="card">
        <h3>Runs that read it {runs && <span class="muted">({readers.length})</span>}</h3>
        {!runs ? <div class="muted">Loading…</div> : readers.length === 0 ? <div class="muted">No run read this version.</div> : (
          <table class="list">
            <thead><tr><th>Run</th><th>Status</th><th>Started</th><th>Command</th></tr></thead>
            <tbody>
              {readers.map((r) => (
                <tr key={r.runId} data-testid="data-version-run" data-run-id={r.runId}>
                  <td><a data-testid="data-version-run-link" href={href.run(r.runId)}>{r.runId}</a></td>
                  <td><span class={`status s-${r.status}`}>{r.status}</span></td>
                  <td>{formatTime(r.startTimeUtc)}</td>
                  <td><code>{commandLine(r)}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  )
}
