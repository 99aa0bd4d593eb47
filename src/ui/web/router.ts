import {useEffect, useState} from 'preact/hooks'

export type Route =
  | {page: 'runs'}
  | {page: 'run'; id: string}
  | {page: 'compare'; ids: string[]}
  | {page: 'diff'; a: string; b: string}
  | {page: 'data'; path: string; version: string}
  | {page: 'missing'; hash: string}

/** `#/`, `#/run/ID`, `#/compare?runs=A,B`, `#/diff?a=A&b=B`, `#/data/PATH/VERSION` (PATH may hold slashes). */
export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/'
  const q = raw.indexOf('?')
  const path = q < 0 ? raw : raw.slice(0, q)
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1))
  if (path === '/' || path === '') return {page: 'runs'}
  const run = /^\/run\/(.+)$/.exec(path)
  if (run) return {page: 'run', id: safeDecode(run[1])}
  if (path === '/compare') return {page: 'compare', ids: (query.get('runs') ?? '').split(',').filter(Boolean)}
  if (path === '/diff') return {page: 'diff', a: query.get('a') ?? '', b: query.get('b') ?? ''}
  const data = /^\/data\/(.+)\/([^/]+)$/.exec(path)
  if (data) return {page: 'data', path: safeDecode(data[1]), version: safeDecode(data[2])}
  return {page: 'missing', hash: raw}
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

export const href = {
  runs: () => '#/',
  run: (id: string) => `#/run/${encodeURIComponent(id)}`,
  compare: (ids: string[]) => `#/compare?runs=${ids.map(encodeURIComponent).join(',')}`,
  diff: (a: string, b: string) => `#/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`,
  data: (path: string, version: string) => `#/data/${path.split('/').map(encodeURIComponent).join('/')}/${encodeURIComponent(version)}`,
}

/** The hash of the page shown before this one (within the dashboard), for a back link. */
let previous = ''

/** Back to the page the user came from, or to the runs when the page was opened directly. */
export function backHref(): string {
  return previous && previous !== location.hash ? previous : href.runs()
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash))
  useEffect(() => {
    const update = (e: HashChangeEvent) => {
      previous = new URL(e.oldURL).hash || href.runs()
      setRoute(parseHash(location.hash))
      window.scrollTo(0, 0)
    }
    addEventListener('hashchange', update)
    return () => removeEventListener('hashchange', update)
  }, [])
  return route
}
