import {isParamName, type ParamValue, paramValue} from './params.js'
import type {RunRecord} from './runs.js'

/**
 * The parameters a sweep gave each of its runs, in the sweep's own order (its first axis first),
 * read back from the runs' arguments: a sweep appends its `--name value` pairs (or `--name=value`
 * for a value that starts with `-`, see execution/sweep-plan.ts `sweepArgs`) after the fixed
 * arguments, and records nothing else of its axes. The pairs are read from the end of each run's
 * arguments; only the names every run ends with, in the same order, count. A fixed argument that
 * reads as a pair (`--epochs 2` just before them) may count too: it is the same in every run, so
 * it orders nothing.
 */
export function sweptParams(runs: RunRecord[]): string[] {
  if (runs.length === 0) return []
  const tails = runs.map((run) => trailingPairs(run.arguments).map(([name]) => name))
  const common: string[] = []
  for (let i = 1; tails.every((names) => names.length >= i); i++) {
    const name = tails[0][tails[0].length - i]
    if (!tails.every((names) => names[names.length - i] === name) || common.includes(name)) break
    common.unshift(name)
  }
  return common
}

/**
 * A sweep's runs ordered by its swept parameters, the first axis first (as its plan is laid out:
 * the first axis varies slowest), numbers numerically; runs alike in all of them keep the order
 * they come in (start order, for history compare --sweep).
 */
export function inSweepOrder<R extends RunRecord>(runs: R[]): R[] {
  const names = sweptParams(runs)
  if (names.length === 0) return [...runs]
  const keyed = runs.map((run) => {
    const values = new Map(trailingPairs(run.arguments))
    return {run, key: names.map((name) => values.get(name))}
  })
  // Array.prototype.sort is stable: runs alike keep their order.
  keyed.sort((a, b) => {
    for (let i = 0; i < names.length; i++) {
      const order = compareParam(a.key[i], b.key[i])
      if (order !== 0) return order
    }
    return 0
  })
  return keyed.map((k) => k.run)
}

/**
 * The `--name value` and `--name=value` pairs at the end of `args`, read from the end as
 * sweepArgs writes them: a value that does not start with `-` after its `--name`, or one
 * `--name=value` word whose value does. Gives them in their order; a name twice keeps its last.
 */
function trailingPairs(args: string[]): Array<[string, ParamValue]> {
  const pairs: Array<[string, ParamValue]> = []
  let i = args.length - 1
  while (i >= 0) {
    const word = args[i]
    if (word.startsWith('-')) {
      const eq = word.indexOf('=')
      const name = word.slice(2, eq)
      if (!word.startsWith('--') || eq < 0 || !word.slice(eq + 1).startsWith('-') || !isParamName(name)) break
      pairs.push([name, paramValue(word.slice(eq + 1))])
      i -= 1
    } else {
      const option = i > 0 ? args[i - 1] : ''
      const name = option.slice(2)
      if (!option.startsWith('--') || !isParamName(name)) break
      pairs.push([name, paramValue(word)])
      i -= 2
    }
  }
  const seen = new Set<string>()
  return pairs.filter(([name]) => !seen.has(name) && (seen.add(name), true)).reverse()
}

/** Numbers numerically and before anything else; the rest (text, booleans, null) by their text; a missing value last. */
function compareParam(a: ParamValue | undefined, b: ParamValue | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'number' || typeof b === 'number') return typeof a === 'number' ? -1 : 1
  const [x, y] = [String(a), String(b)]
  return x < y ? -1 : x > y ? 1 : 0
}
