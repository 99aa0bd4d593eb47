import {useEffect, useMemo, useState} from 'preact/hooks'
import {getJson, message, type RunDiff} from './api.js'
import {formatNumber, formatValue, lowerIsBetter} from './format.js'
import {href} from './router.js'
import {ErrorBox} from './run-page.js'

interface FileBlock {
  path: string
  lines: string[]
}

/** Lines shown per file before "show all". */
const SHOWN_LINES = 2000

/** The unified diff cut into one block per file, each named by its path. */
export function splitPatch(patch: string, known: string[]): FileBlock[] {
  const blocks: FileBlock[] = []
  let current: FileBlock | null = null
  for (const line of patch.split('\n')) {
    if (line.startsWith('diff --git ')) {
      current = {path: '', lines: []}
      blocks.push(current)
    }
    if (!current) {
      if (line === '') continue
      current = {path: '', lines: []}
      blocks.push(current)
    }
    current.lines.push(line)
  }
  const names = new Set(known)
  blocks.forEach((block, i) => {
    while (block.lines.length > 0 && block.lines[block.lines.length - 1] === '') block.lines.pop()
    const parsed = pathOf(block.lines)
    block.path = parsed !== null && names.has(parsed) ? parsed : blocks.length === known.length ? known[i] : parsed ?? `file ${i + 1}`
  })
  return blocks
}

function pathOf(lines: string[]): string | null {
  let minus: string | null = null
  for (const line of lines) {
    if (line.startsWith('@@')) break
    if (line.startsWith('+++ ') && line !== '+++ /dev/null') return unquote(line.slice(4)).replace(/^b\//, '')
    if (line.startsWith('--- ') && line !== '--- /dev/null') minus = unquote(line.slice(4)).replace(/^a\//, '')
  }
  if (minus !== null) return minus
  const head = /^diff --git a\/(.*) b\/(.*)$/.exec(lines[0] ?? '')
  return head ? head[2] : null
}

function unquote(s: string): string {
  if (!s.startsWith('"')) return s
  try {
    // git quotes unusual names C-style, octal bytes included
    const bytes: number[] = []
    const body = s.slice(1, -1)
    for (let i = 0; i < body.length; i++) {
      const c = body[i]
      if (c !== '\\') {
        bytes.push(...new TextEncoder().encode(c))
        continue
      }
      const next = body[++i]
      if (/[0-7]/.test(next)) {
        bytes.push(parseInt(body.slice(i, i + 3), 8))
        i += 2
      } else bytes.push(({n: 10, t: 9, '"': 34, '\\': 92} as Record<string, number>)[next] ?? next.charCodeAt(0))
    }
    return new TextDecoder().decode(new Uint8Array(bytes))
  } catch {
    return s
  }
}

function lineClass(line: string): string {
  if (line.startsWith('+++') || line.startsWith('---')) return 'meta'
  if (line.startsWith('+')) return 'add'
  if (line.startsWith('-')) return 'del'
  if (line.startsWith('@@')) return 'hunk'
  if (line.startsWith(' ')) return ''
  return 'meta'
}

/** What changed from run A to run B: parameters, metrics, environment, then the code, file by file. */
export function DiffPage({a, b}: {a: string; b: string}) {
  const [data, setData] = useState<RunDiff | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    let alive = true
    setData(null)
    setError(null)
    getJson<RunDiff>(`/api/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`)
      .then((body) => alive && setData(body))
      .catch((e: unknown) => alive && setError(message(e)))
    return () => void (alive = false)
  }, [a, b])
  const blocks = useMemo(() => (data ? splitPatch(data.patch, data.files.map((f) => f.path)) : []), [data])
  const stats = new Map((data?.files ?? []).map((f) => [f.path, f]))
  return (
    <div class="diff-page">
      <div class="page-head">
        <a href={href.runs()}>← Runs</a>
        <h2>Diff <a href={href.run(data?.a.runId ?? a)}><code>{data?.a.runId ?? a}</code></a> → <a href={href.run(data?.b.runId ?? b)}><code>{data?.b.runId ?? b}</code></a></h2>
      </div>
      <ErrorBox error={error} />
      {!data && !error && <div class="muted">Loading…</div>}
      {data && (
        <>
          <div class="grid3">
            <section class="card">
              <h3>Parameters</h3>
              {data.params.length === 0 ? <div class="muted">The same.</div> : (
                <table class="list" data-testid="diff-params">
                  <thead><tr><th>Name</th><th>A</th><th>B</th></tr></thead>
                  <tbody>{data.params.map((p) => <tr key={p.name}><td>{p.name}</td><td>{p.before === undefined ? <span class="muted">(none)</span> : <code>{formatValue(p.before)}</code>}</td><td>{p.after === undefined ? <span class="muted">(none)</span> : <code>{formatValue(p.after)}</code>}</td></tr>)}</tbody>
                </table>
              )}
            </section>
            <section class="card">
              <h3>Metrics</h3>
              {data.metrics.length === 0 ? <div class="muted">None logged.</div> : (
                <table class="list" data-testid="diff-metrics">
                  <thead><tr><th>Name</th><th class="num">A</th><th class="num">B</th><th class="num">Change</th></tr></thead>
                  <tbody>
                    {data.metrics.map((m) => (
                      <tr key={m.name}>
                        <td>{m.name}</td>
                        <td class="num">{formatNumber(m.a)}</td>
                        <td class="num">{formatNumber(m.b)}</td>
                        <td class={`num ${m.change === undefined || m.change === 0 ? '' : (m.change > 0) !== lowerIsBetter(m.name) ? 'better' : 'worse'}`}>{m.change === undefined ? '' : `${m.change > 0 ? '+' : ''}${formatNumber(m.change)}`}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
            <section class="card">
              <h3>Environment</h3>
              {data.environment.length === 0 ? <div class="muted">No change recorded.</div> : (
                <ul class="env" data-testid="diff-environment">{data.environment.map((line, i) => <li key={i}><code>{line}</code></li>)}</ul>
              )}
            </section>
          </div>
          <section class="card" data-testid="diff-view">
            <h3>Code <span class="muted">{data.files.length === 0 ? '(the snapshots are the same)' : `(${data.files.length} file${data.files.length === 1 ? '' : 's'} changed)`}</span></h3>
            {blocks.map((block) => <FileDiff key={block.path} block={block} stat={stats.get(block.path)} />)}
          </section>
        </>
      )}
    </div>
  )
}

function FileDiff({block, stat}: {block: FileBlock; stat?: RunDiff['files'][number]}) {
  const [all, setAll] = useState(false)
  const [open, setOpen] = useState(true)
  const added = stat?.additions
  const removed = stat?.deletions
  const lines = all ? block.lines : block.lines.slice(0, SHOWN_LINES)
  return (
    <div class="diff-file" data-testid="diff-file" data-path={block.path}>
      <button type="button" class="diff-name" onClick={() => setOpen(!open)}>
        {open ? '▾' : '▸'} <code>{block.path}</code>
        {added !== undefined && <span class="add-count"> +{added}</span>}
        {removed !== undefined && <span class="del-count"> −{removed}</span>}
        {stat?.binary && <span class="muted"> binary</span>}
      </button>
      {open && (
        <pre class="diff">
          {lines.map((line, i) => <div key={i} class={`l ${lineClass(line)}`}>{line || ' '}</div>)}
          {!all && block.lines.length > SHOWN_LINES && <button type="button" class="plain" onClick={() => setAll(true)}>Show all {block.lines.length} lines</button>}
        </pre>
      )}
    </div>
  )
}
