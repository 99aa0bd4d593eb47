import {useLayoutEffect, useRef} from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export type PlotOptions = Omit<uPlot.Options, 'width'>

/**
 * One uPlot chart, as wide as its box. Made again whenever `options` or `data` change (both are
 * memoized by the caller); `onDraw` is called after each draw.
 */
export function Plot({options, data, onDraw, onCreate}: {options: PlotOptions; data: uPlot.AlignedData; onDraw?: (u: uPlot) => void; onCreate?: (u: uPlot) => void}) {
  const ref = useRef<HTMLDivElement>(null)
  const drawRef = useRef(onDraw)
  drawRef.current = onDraw
  useLayoutEffect(() => {
    const el = ref.current!
    const hooks = {...options.hooks, draw: [...options.hooks?.draw ?? [], (u: uPlot) => drawRef.current?.(u)]}
    const u = new uPlot({...options, hooks, width: Math.max(200, el.clientWidth)}, data, el)
    onCreate?.(u)
    const observer = new ResizeObserver(() => {
      const width = Math.max(200, el.clientWidth)
      if (width !== u.width) u.setSize({width, height: options.height})
    })
    observer.observe(el)
    return () => {
      observer.disconnect()
      u.destroy()
    }
  }, [options, data])
  return <div class="plot" ref={ref} />
}

export interface Series {
  x: ArrayLike<number>
  y: ArrayLike<number>
}

/**
 * uPlot draws series over one shared x: the series as they are when they share their x values
 * (typed arrays, nothing copied), otherwise on the sorted union of their x values, with null
 * where a series has no point.
 */
export function align(series: Series[], log: boolean): uPlot.AlignedData {
  const clean = (y: ArrayLike<number>): Float64Array | Array<number | null> => {
    if (!log) return y instanceof Float64Array ? y : Float64Array.from(y)
    return Array.from(y, (v) => (v > 0 ? v : null))
  }
  if (series.length === 0) return [new Float64Array(0)]
  const first = series[0].x
  const same = series.every(({x}) => x.length === first.length && everyEqual(x, first))
  if (same) return [first instanceof Float64Array ? first : Float64Array.from(first), ...series.map((s) => clean(s.y))]
  let total = 0
  for (const s of series) total += s.x.length
  const all = new Float64Array(total)
  let k = 0
  for (const s of series) for (let i = 0; i < s.x.length; i++) all[k++] = s.x[i]
  all.sort()
  let n = 0
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[n - 1]) all[n++] = all[i]
  const xs = all.slice(0, n)
  const ys = series.map(({x, y}) => {
    const out: Array<number | null> = new Array(n).fill(null)
    let j = 0
    for (let i = 0; i < x.length; i++) {
      while (xs[j] < x[i]) j++
      const v = y[i]
      out[j] = log && !(v > 0) ? null : v
    }
    return out
  })
  return [xs, ...ys]
}

function everyEqual(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a === b) return true
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
