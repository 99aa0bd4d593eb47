import {useEffect, useRef, useState} from 'preact/hooks'
import type {ColumnChoice} from './columns.js'

/** A column as the chooser lists it. */
export interface ChoosableColumn {
  key: string
  label: string
  /** Its group in the list: the run's own fields, its parameters, its metrics. */
  group: 'run' | 'param' | 'metric'
  hideable?: boolean
}

const GROUPS = [['run', 'Run'], ['param', 'Parameters'], ['metric', 'Metrics']] as const

/**
 * The Columns button and its list of checkboxes, one per column: ticked is shown. A column hidden
 * only to fit the width is unticked and says so; ticking it shows it (something else then hides
 * to fit, if anything can). Reset forgets every choice.
 */
export function ColumnChooser({columns, choice, fitted, onChange}: {columns: ChoosableColumn[]; choice: ColumnChoice; fitted: readonly string[]; onChange: (update: (c: ColumnChoice) => ColumnChoice) => void}) {
  const [open, setOpen] = useState(false)
  const box = useRef<HTMLSpanElement>(null)
  useEffect(() => {
    if (!open) return
    const away = (e: Event) => box.current && !box.current.contains(e.target as Node) && setOpen(false)
    const escape = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false)
    document.addEventListener('mousedown', away)
    document.addEventListener('keydown', escape)
    return () => {
      document.removeEventListener('mousedown', away)
      document.removeEventListener('keydown', escape)
    }
  }, [open])
  const hidden = columns.filter((c) => choice[c.key] === false || fitted.includes(c.key)).length
  return (
    <span class="column-chooser" ref={box}>
      <button type="button" data-testid="columns-button" aria-expanded={open} title="Choose the table's columns" onClick={() => setOpen(!open)}>
        Columns{hidden > 0 && <span class="muted"> ({hidden} hidden)</span>}
      </button>
      {open && (
        <div class="chooser card" data-testid="column-chooser">
          {GROUPS.map(([group, title]) => {
            const list = columns.filter((c) => c.group === group)
            if (list.length === 0) return null
            return (
              <div key={group} class="chooser-group">
                <h3>{title}</h3>
                {list.map((c) => {
                  const isFitted = fitted.includes(c.key)
                  const shown = choice[c.key] !== false && !isFitted
                  return (
                    <label key={c.key} title={c.hideable === false ? 'always shown' : undefined}>
                      <input type="checkbox" data-testid="column-toggle" data-column={c.key} checked={c.hideable === false || shown} disabled={c.hideable === false} onChange={() => onChange((old) => ({...old, [c.key]: !shown}))} />
                      <span>{c.label}</span>
                      {isFitted && <span class="muted"> (hidden to fit)</span>}
                    </label>
                  )
                })}
              </div>
            )
          })}
          <div class="chooser-foot">
            <button type="button" class="plain" data-testid="columns-reset" disabled={Object.keys(choice).length === 0} onClick={() => onChange(() => ({}))}>Reset</button>
          </div>
        </div>
      )}
    </span>
  )
}
