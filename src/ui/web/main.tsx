import {render} from 'preact'
import {useEffect, useState} from 'preact/hooks'
import {getRaw, message, type RunRecord} from './api.js'
import {ComparePage} from './compare.js'
import {DataVersionPage} from './data-version.js'
import {DiffPage} from './diff.js'
import {href, useRoute} from './router.js'
import {ErrorBox, RunPage} from './run-page.js'
import {initialRunsView, RunsView, type RunsViewState} from './runs.js'
import './style.css'

interface Live {
  runs: RunRecord[] | null
  error: string | null
  /** Goes up each time the run list changes: open pages fetch what they show again. */
  version: number
  mode: 'connecting' | 'live' | 'polling'
}

/**
 * The run list, fetched again whenever the server's event stream says it changed, or every
 * 2 s while the stream is down. An unchanged answer changes nothing on the page.
 */
function useLiveRuns(): Live {
  const [live, setLive] = useState<Live>({runs: null, error: null, version: 0, mode: 'connecting'})
  useEffect(() => {
    let alive = true
    let last = ''
    let busy = false
    let again = false
    let poll: number | undefined
    const load = async (): Promise<void> => {
      if (busy) return void (again = true)
      busy = true
      try {
        const text = await (await getRaw('/api/runs')).text()
        if (!alive) return
        if (text !== last) {
          const runs = JSON.parse(text) as RunRecord[]
          last = text
          setLive((s) => ({...s, runs, error: null, version: s.version + 1}))
        } else setLive((s) => (s.error ? {...s, error: null} : s))
        document.body.dataset.ready = 'runs'
      } catch (e) {
        if (alive) setLive((s) => ({...s, error: message(e)}))
      } finally {
        busy = false
        if (again && alive) {
          again = false
          void load()
        }
      }
    }
    void load()
    const events = new EventSource('/api/events')
    events.addEventListener('runs', () => void load())
    events.onopen = () => {
      setLive((s) => ({...s, mode: 'live'}))
      if (poll !== undefined) {
        clearInterval(poll)
        poll = undefined
        void load()
      }
    }
    events.onerror = () => {
      setLive((s) => ({...s, mode: 'polling'}))
      if (poll === undefined) poll = window.setInterval(() => void load(), 2000)
    }
    return () => {
      alive = false
      events.close()
      clearInterval(poll)
    }
  }, [])
  return live
}

function App() {
  const route = useRoute()
  const live = useLiveRuns()
  const [view, setView] = useState<RunsViewState>(initialRunsView)
  const project = live.runs?.find((r) => r.projectName)?.projectName
  useEffect(() => {
    document.title = project ? `${project} · ml` : 'ml dashboard'
  }, [project])
  return (
    <>
      <header class="top">
        <a class="brand" href={href.runs()}>ml</a>
        {project && <span class="project">{project}</span>}
        <nav><a href={href.runs()} class={route.page === 'runs' ? 'active' : ''}>Runs</a></nav>
        <span class="spacer" />
        <span class={`dot ${live.mode === 'live' ? 'live' : live.mode === 'polling' ? 'polling' : ''}`} title={live.mode === 'live' ? 'updates as runs change' : live.mode === 'polling' ? 'event stream down: checking every 2 s' : 'connecting'} />
        <span class="muted">{live.mode === 'live' ? 'live' : live.mode === 'polling' ? 'polling' : ''}</span>
      </header>
      <main>
        <ErrorBox error={live.error} />
        {route.page === 'runs' && (live.runs ? <RunsView runs={live.runs} state={view} setState={setView} /> : !live.error && <div class="muted">Loading runs…</div>)}
        {route.page === 'run' && <RunPage id={route.id} version={live.version} />}
        {route.page === 'compare' && <ComparePage ids={route.ids} version={live.version} />}
        {route.page === 'diff' && <DiffPage a={route.a} b={route.b} />}
        {route.page === 'data' && <DataVersionPage path={route.path} version={route.version} runs={live.runs} />}
        {route.page === 'missing' && <ErrorBox error={`There is no page ${route.hash}; go back to the runs.`} />}
      </main>
    </>
  )
}

render(<App />, document.getElementById('app')!)
