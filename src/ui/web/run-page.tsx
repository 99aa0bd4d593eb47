import type {ComponentChild} from 'preact'
import {useEffect, useLayoutEffect, useMemo, useRef, useState} from 'preact/hooks'
import {encodePath, getJson, getRaw, message, postJson, runUrl, type Lineage, type MetricPoint, type RunInfo, type RunRecord, type SnapshotEntry, type TreeChange} from './api.js'
import {SmallChart} from './charts.js'
import {commandLine, formatBytes, formatDuration, formatNumber, formatTime, formatValue, GIT_BRANCH, GIT_COMMIT, GIT_DIRTY, runDuration} from './format.js'
import {metricNames} from './metrics.js'
import {href} from './router.js'
import {RunLineage} from './run-lineage.js'

const LIVE = new Set(['Running', 'Queued'])

export function ErrorBox({error}: {error: string | null | undefined}) {
  return error ? <div class="app-error" data-testid="app-error" role="alert">{error}</div> : null
}

/** One run: its record, inputs and lineage, metrics, log (followed while it runs), outputs, snapshot files, restore. */
export function RunPage({id, version}: {id: string; version: number}) {
  const [info, setInfo] = useState<RunInfo | null>(null)
  const [points, setPoints] = useState<MetricPoint[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    setInfo(null)
    setPoints(null)
    setError(null)
  }, [id])
  useEffect(() => {
    let alive = true
    getJson<RunInfo>(runUrl(id))
      .then((body) => {
        if (!alive) return
        setInfo(body)
        setError(null)
        if (body.run.status === 'Corrupt') return setPoints([])
        return getJson<{points: MetricPoint[]}>(runUrl(id, 'metrics')).then((m) => alive && setPoints(m.points))
      })
      .catch((e: unknown) => alive && setError(message(e)))
    return () => void (alive = false)
  }, [id, version])
  const run = info?.run
  return (
    <div class="run-page" data-testid="run-page" data-run-id={run?.runId ?? id}>
      <div class="page-head">
        <a href={href.runs()}>← Runs</a>
        <h2>Run <code>{run?.runId ?? id}</code></h2>
        {run && <span class={`status big s-${run.status}`} data-testid="run-status">{run.status}</span>}
      </div>
      <ErrorBox error={error} />
      {!run && !error && <div class="muted">Loading…</div>}
      {run && <RunDetails run={run} environment={info?.environment} lineage={info?.lineage} points={points} />}
    </div>
  )
}

function RunDetails({run, environment, lineage, points}: {run: RunRecord; environment?: string; lineage?: Lineage; points: MetricPoint[] | null}) {
  const id = run.runId
  const facts: Array<[string, ComponentChild]> = [
    ['Command', <code>{commandLine(run)}</code>],
    ['Started', formatTime(run.startTimeUtc)],
    ['Ended', formatTime(run.endTimeUtc)],
    ['Duration', formatDuration(runDuration(run))],
    ['Exit code', run.exitCode === undefined ? '' : String(run.exitCode)],
    ['Compute', run.compute],
    ['Host', run.host],
    ['Snapshot', <code>{run.snapshotId}</code>],
    ['Queued', formatTime(run.queuedTimeUtc)],
    ['Sweep', run.sweepId ?? ''],
    ['Isolated', run.isolated ? 'yes (ran in its own checkout)' : ''],
    ['Pushed', run.pushed === undefined ? '' : run.pushed ? 'yes' : 'no'],
    ['Environment', environment ?? ''],
  ]
  const params = Object.entries(run.params ?? {})
  const names = useMemo(() => {
    const all = metricNames(points ?? [])
    for (const name of Object.keys(run.metrics ?? {})) if (!all.includes(name)) all.push(name)
    return all
  }, [points, run.metrics])
  const git = [GIT_COMMIT, GIT_BRANCH, GIT_DIRTY]
  const properties = Object.entries(run.properties ?? {}).sort(([a], [b]) => (git.includes(a) ? git.indexOf(a) : 9) - (git.includes(b) ? git.indexOf(b) : 9) || a.localeCompare(b))
  return (
    <>
      {run.error && <div class="run-error"><strong>Error:</strong> <span>{run.error}</span></div>}
      <div class="grid2">
        <section class="card">
          <h3>Run</h3>
          <table class="kv">
            <tbody>{facts.filter(([, v]) => v !== '').map(([k, v]) => <tr key={k}><th>{k}</th><td>{v}</td></tr>)}</tbody>
          </table>
        </section>
        <section class="card">
          <h3>Parameters</h3>
          {params.length === 0 ? <div class="muted">None recorded.</div> : (
            <table class="kv"><tbody>{params.map(([k, v]) => <tr key={k}><th>{k}</th><td><code>{formatValue(v)}</code></td></tr>)}</tbody></table>
          )}
          <h3>Git and tags</h3>
          {properties.length === 0 ? <div class="muted">None recorded.</div> : (
            <table class="kv"><tbody>{properties.map(([k, v]) => <tr key={k}><th>{k}</th><td><code>{v}</code></td></tr>)}</tbody></table>
          )}
        </section>
      </div>
      <RunLineage inputs={run.inputs} lineage={lineage} />
      <section class="card">
        <h3>Metrics</h3>
        {names.length === 0 ? <div class="muted">{points === null ? 'Loading…' : 'No metrics logged.'}</div> : (
          <table class="list metrics-table">
            <thead><tr><th>Metric</th><th class="num">Last value</th><th class="num">Values</th><th>Chart (by step)</th></tr></thead>
            <tbody>
              {names.map((name) => {
                const own = points?.filter((p) => p.name === name) ?? []
                return (
                  <tr key={name}>
                    <td>{name}</td>
                    <td class="num">{formatNumber(run.metrics?.[name] ?? own.at(-1)?.value)}</td>
                    <td class="num">{points ? own.length : ''}</td>
                    <td class="chart-cell">{points && <SmallChart points={points} name={name} />}</td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        )}
      </section>
      <div class="grid2">
        <section class="card">
          <h3>Outputs</h3>
          {run.outputs.length === 0 ? <div class="muted">No outputs.</div> : (
            <ul class="outputs">
              {[...run.outputs].sort((a, b) => a.path.localeCompare(b.path)).map((o) => (
                <li key={o.path}>
                  <a data-testid="output-link" href={runUrl(id, `outputs/${encodePath(o.path)}`)} download>{o.path}</a>
                  <span class="muted"> {formatBytes(o.size)}{o.sha256 ? ' (large output, kept on the machine that ran it)' : ''}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section class="card">
          <h3>Restore</h3>
          <Restore id={id} disabled={run.status === 'Corrupt'} />
        </section>
      </div>
      <section class="card">
        <h3>Log</h3>
        <Log id={id} status={run.status} />
      </section>
      {run.status !== 'Corrupt' && <Files id={id} />}
    </>
  )
}

/** The log, read from where it was last read to every second while the run is queued or running. */
function Log({id, status}: {id: string; status: string}) {
  const [text, setText] = useState('')
  const [state, setState] = useState<{loaded: boolean; live: boolean; error: string | null}>({loaded: false, live: false, error: null})
  const pre = useRef<HTMLPreElement>(null)
  const atBottom = useRef(true)
  const live = LIVE.has(status)
  /** Reads on from where it stopped; set while the log is followed, null once the run has ended. */
  const resume = useRef<(() => void) | null>(null)
  useEffect(() => {
    let alive = true
    let offset = 0
    let decoder = new TextDecoder()
    let timer: number | undefined
    let reading = false
    setText('')
    setState({loaded: false, live: false, error: null})
    const read = async () => {
      if (reading || !alive) return
      reading = true
      clearTimeout(timer)
      try {
        const res = await getRaw(runUrl(id, `log?offset=${offset}`))
        const size = Number(res.headers.get('X-ML-Log-Size'))
        const runStatus = res.headers.get('X-ML-Run-Status') ?? ''
        const bytes = await res.arrayBuffer()
        if (!alive) return
        if (Number.isFinite(size) && size < offset) {
          // The log was started again: read it from the start.
          offset = 0
          decoder = new TextDecoder()
          setText('')
          timer = window.setTimeout(read, 0)
          return
        }
        offset += bytes.byteLength
        const going = LIVE.has(runStatus)
        const chunk = decoder.decode(bytes, {stream: going})
        if (chunk) setText((t) => t + chunk)
        setState({loaded: true, live: going, error: null})
        if (going) timer = window.setTimeout(read, 1000)
        resume.current = going ? null : () => void read()
      } catch (e) {
        if (!alive) return
        setState((s) => ({...s, error: message(e)}))
        timer = window.setTimeout(read, 2000)
      } finally {
        reading = false
      }
    }
    void read()
    return () => {
      alive = false
      resume.current = null
      clearTimeout(timer)
    }
  }, [id])
  // The record says the run (again) goes on while the log was no longer followed: follow it.
  useEffect(() => {
    if (live) resume.current?.()
  }, [live])
  useLayoutEffect(() => {
    const el = pre.current
    if (el && atBottom.current) el.scrollTop = el.scrollHeight
  }, [text])
  return (
    <>
      <ErrorBox error={state.error} />
      {state.live && <div class="muted live-note"><span class="dot live" /> following the log live</div>}
      <pre
        class="log"
        data-testid="run-log"
        ref={pre}
        onScroll={(e) => {
          const el = e.currentTarget
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24
        }}
      >{text || (state.loaded ? '(the log is empty)' : 'Loading…')}</pre>
    </>
  )
}

interface TreeRow {
  path: string
  name: string
  depth: number
  dir: boolean
  kind?: SnapshotEntry['kind']
}

/** Folders, then files, each at its depth: a flat list drawn as a tree. */
function treeRows(files: SnapshotEntry[]): TreeRow[] {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const rows: TreeRow[] = []
  const open: string[] = []
  for (const f of sorted) {
    const parts = f.path.split('/')
    let k = 0
    while (k < open.length && k < parts.length - 1 && open[k] === parts[k]) k++
    open.length = k
    for (; k < parts.length - 1; k++) {
      open.push(parts[k])
      rows.push({path: parts.slice(0, k + 1).join('/'), name: parts[k], depth: k, dir: true})
    }
    rows.push({path: f.path, name: parts[parts.length - 1], depth: parts.length - 1, dir: false, kind: f.kind})
  }
  return rows
}

function Files({id}: {id: string}) {
  const [files, setFiles] = useState<SnapshotEntry[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [closed, setClosed] = useState<Set<string>>(new Set())
  const [view, setView] = useState<{path: string; text?: string; note?: string; error?: string} | null>(null)
  useEffect(() => {
    let alive = true
    setFiles(null)
    setView(null)
    getJson<{files: SnapshotEntry[]}>(runUrl(id, 'files'))
      .then((body) => {
        if (!alive) return
        setFiles(body.files)
        // Many files: start with the folders closed.
        if (body.files.length > 300) setClosed(new Set(treeRows(body.files).filter((r) => r.dir).map((r) => r.path)))
      })
      .catch((e: unknown) => alive && setError(message(e)))
    return () => void (alive = false)
  }, [id])
  const rows = useMemo(() => (files ? treeRows(files) : []), [files])
  const shown = useMemo(() => {
    const out: TreeRow[] = []
    let hideUnder: string | null = null
    for (const row of rows) {
      if (hideUnder !== null && row.path.startsWith(`${hideUnder}/`)) continue
      hideUnder = row.dir && closed.has(row.path) ? row.path : null
      out.push(row)
    }
    return out
  }, [rows, closed])
  const openFile = async (path: string) => {
    setView({path})
    try {
      const res = await getRaw(runUrl(id, `files/${encodePath(path)}`))
      const binary = !(res.headers.get('Content-Type') ?? '').startsWith('text/')
      const bytes = await res.arrayBuffer()
      setView((v) => (v?.path !== path ? v : binary ? {path, note: `binary file, ${bytes.byteLength} bytes`} : {path, text: new TextDecoder().decode(bytes)}))
    } catch (e) {
      setView((v) => (v?.path !== path ? v : {path, error: message(e)}))
    }
  }
  const toggle = (path: string) => {
    const next = new Set(closed)
    if (!next.delete(path)) next.add(path)
    setClosed(next)
  }
  return (
    <section class="card">
      <h3>Snapshot files {files && <span class="muted">({files.length})</span>}</h3>
      <ErrorBox error={error} />
      <div class="files">
        <div class="file-tree">
          {!files && !error && <div class="muted">Loading…</div>}
          {shown.map((row) => row.dir
            ? <button type="button" key={`d:${row.path}`} class="tree-dir" style={{paddingLeft: `${6 + row.depth * 14}px`}} onClick={() => toggle(row.path)}>{closed.has(row.path) ? '▸' : '▾'} {row.name}/</button>
            : row.kind === 'file' || row.kind === 'executable'
              ? <button type="button" key={row.path} class={`tree-file${view?.path === row.path ? ' open' : ''}`} data-testid="file-item" data-path={row.path} style={{paddingLeft: `${20 + row.depth * 14}px`}} onClick={() => void openFile(row.path)}>{row.name}</button>
              : <div key={row.path} class="tree-file other" data-testid="file-item" data-path={row.path} style={{paddingLeft: `${20 + row.depth * 14}px`}}>{row.name} <span class="muted">({row.kind === 'link' ? 'symbolic link' : 'nested repository'})</span></div>)}
        </div>
        <div class="file-view" data-testid="file-view" data-path={view?.path}>
          {!view && <div class="muted">Click a file to see it as the run saw it.</div>}
          {view && <div class="file-name"><code>{view.path}</code></div>}
          {view?.error && <ErrorBox error={view.error} />}
          {view?.note && <div class="muted">{view.note}</div>}
          {view && view.text === undefined && !view.note && !view.error && <div class="muted">Loading…</div>}
          {view?.text !== undefined && <pre>{view.text}</pre>}
        </div>
      </div>
    </section>
  )
}

/** Previews what restoring the run's snapshot would change in the folder; restores once confirmed. */
function Restore({id, disabled}: {id: string; disabled: boolean}) {
  type State =
    | {step: 'idle'}
    | {step: 'loading'}
    | {step: 'preview'; label: string; changes: TreeChange[]}
    | {step: 'applying'; label: string; changes: TreeChange[]}
    | {step: 'done'; changes: TreeChange[]; undo: string; backupRef?: string}
  const [state, setState] = useState<State>({step: 'idle'})
  const [error, setError] = useState<string | null>(null)
  useEffect(() => setState({step: 'idle'}), [id])
  const preview = async () => {
    setError(null)
    setState({step: 'loading'})
    try {
      const body = await getJson<{label: string; changes: TreeChange[]}>(runUrl(id, 'restore'))
      setState({step: 'preview', label: body.label, changes: body.changes})
    } catch (e) {
      setError(message(e))
      setState({step: 'idle'})
    }
  }
  const confirm = async () => {
    if (state.step !== 'preview') return
    setError(null)
    setState({...state, step: 'applying'})
    try {
      const body = await postJson<{changes: TreeChange[]; backupRef?: string; undo: string}>(runUrl(id, 'restore'), {})
      setState({step: 'done', changes: body.changes, undo: body.undo, backupRef: body.backupRef})
    } catch (e) {
      setError(message(e))
      setState({...state, step: 'preview'})
    }
  }
  return (
    <div class="restore">
      <p class="muted">Puts the project folder back to the files this run ran on (a backup is taken first).</p>
      <ErrorBox error={error} />
      {(state.step === 'idle' || state.step === 'loading' || state.step === 'done') && (
        <button type="button" data-testid="restore-button" disabled={disabled || state.step === 'loading'} onClick={() => void preview()}>
          {state.step === 'loading' ? 'Looking…' : "Restore this run's files"}
        </button>
      )}
      {(state.step === 'preview' || state.step === 'applying') && (
        <div class="restore-box">
          <div>{state.changes.length === 0 ? 'The folder already matches this run; restoring changes nothing.' : `Restoring ${state.label} changes ${state.changes.length} file${state.changes.length === 1 ? '' : 's'}:`}</div>
          <ul class="changes" data-testid="restore-preview">
            {state.changes.map((c) => <li key={c.path}><span class={`change c-${c.status}`}>{c.status}</span> <code>{c.path}</code></li>)}
          </ul>
          <button type="button" class="primary" data-testid="restore-confirm" disabled={state.step === 'applying'} onClick={() => void confirm()}>{state.step === 'applying' ? 'Restoring…' : 'Confirm'}</button>{' '}
          <button type="button" data-testid="restore-cancel" disabled={state.step === 'applying'} onClick={() => setState({step: 'idle'})}>Cancel</button>
        </div>
      )}
      {state.step === 'done' && (
        <div class="restore-done" data-testid="restore-done">
          Restored: {state.changes.length} file{state.changes.length === 1 ? '' : 's'} changed. To undo: <code>{state.undo}</code>
        </div>
      )}
    </div>
  )
}
