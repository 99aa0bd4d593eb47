import {useEffect, useState} from 'preact/hooks'

/** What fitting needs of a column of the runs table. */
export interface Sized {
  key: string
  /** Its width when there is room. */
  width: number
  /** With `shrink`: the narrowest it is drawn (its text is cut with … below its width). */
  min?: number
  /** When there is no room, columns narrow towards their `min`, lowest rank first; without one, a column keeps its width. */
  shrink?: number
  /**
   * Hidden to fit when even the narrowest widths do not fit, lowest rank first, unless the user
   * chose to show it; never without one (the run id, the parameters and metrics).
   */
  collapse?: number
  /** False for a column the user cannot hide (the run id, the link to the run). */
  hideable?: boolean
}

/** The user's choice per column key: true shown, false hidden; a column not named follows the fit. */
export type ColumnChoice = Record<string, boolean>

/** The width of the checkbox column, before the others. */
export const CHECK_WIDTH = 32

const STORAGE_KEY = 'ml.runs.columns'

/**
 * The columns shown in `available` pixels, each with the width it is drawn at: those the user
 * hid are left out; when even the narrowest widths do not fit, columns with a `collapse` rank (and
 * no choice of the user's) are hidden, lowest rank first, until they do; then the columns that
 * can narrow do, a `shrink` rank at a time (all of one rank in proportion to how much each can),
 * just enough that the table does not scroll sideways. Only when the narrowest widths of what is
 * left do not fit does it.
 */
export function fitColumns<C extends Sized>(columns: C[], choice: ColumnChoice, available: number): {shown: Array<C & {px: number}>; fitted: string[]} {
  const least = (c: Sized) => (c.shrink === undefined ? c.width : Math.min(c.width, c.min ?? c.width))
  let shown = columns.filter((c) => c.hideable === false || choice[c.key] !== false)
  const fitted: string[] = []
  const total = (pick: (c: C) => number) => CHECK_WIDTH + shown.reduce((sum, c) => sum + pick(c), 0)
  const candidates = shown.filter((c) => c.collapse !== undefined && choice[c.key] === undefined).sort((a, b) => a.collapse! - b.collapse!)
  for (const column of candidates) {
    if (total(least) <= available) break
    shown = shown.filter((c) => c !== column)
    fitted.push(column.key)
  }
  const px = new Map(shown.map((c) => [c.key, c.width]))
  let over = total((c) => c.width) - available
  const ranks = [...new Set(shown.flatMap((c) => (c.shrink === undefined ? [] : [c.shrink])))].sort((a, b) => a - b)
  for (const rank of ranks) {
    if (over <= 0) break
    const group = shown.filter((c) => c.shrink === rank)
    const slack = group.reduce((sum, c) => sum + c.width - least(c), 0)
    if (slack <= 0) continue
    const ratio = Math.min(1, over / slack)
    for (const c of group) px.set(c.key, Math.floor(c.width - (c.width - least(c)) * ratio))
    over -= Math.min(over, slack)
  }
  return {shown: shown.map((c) => ({...c, px: px.get(c.key)!})), fitted}
}

/** The user's column choice, kept in localStorage so that it outlives a reload (and the server). */
export function useColumnChoice(): [ColumnChoice, (update: (c: ColumnChoice) => ColumnChoice) => void] {
  const [choice, setChoice] = useState<ColumnChoice>(loadChoice)
  useEffect(() => {
    try {
      if (Object.keys(choice).length === 0) localStorage.removeItem(STORAGE_KEY)
      else localStorage.setItem(STORAGE_KEY, JSON.stringify(choice))
    } catch {
      // Storage refused (a private window, a full quota): the choice lasts until the page closes.
    }
  }, [choice])
  return [choice, setChoice]
}

function loadChoice(): ColumnChoice {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}')
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {}
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, boolean] => typeof e[1] === 'boolean'))
  } catch {
    return {}
  }
}
