import {MlError} from '../../shared/errors.js'
import {isParamName, type Params, type ParamValue, paramText, paramValue} from '../runs/params.js'

/** One swept parameter: a list of values to try (`--grid`), or an interval to sample (`--range`). */
export type SweepAxis = {name: string; kind: 'grid'; values: ParamValue[]} | {name: string; kind: 'range'; lo: number; hi: number; log: boolean}

/**
 * The seed of a random plan when the caller gives none. A caller should pick a seed of its own
 * (given by the user, or drawn) and record it with the sweep: the same seed and axes give the
 * same plan, and nothing else can reproduce it.
 */
export const DEFAULT_SWEEP_SEED = 1

/**
 * `--grid name=v1,v2,...`: the values, each typed as paramValue types a command-line value
 * (`0.1` a number, `adam` text), blanks around them trimmed. A value cannot hold a comma.
 */
export function parseGrid(spec: string): SweepAxis {
  const bad = invalid('--grid', spec)
  const {name, rest} = nameAndRest(spec, bad, 'name=v1,v2,...')
  if (!rest.trim()) throw bad('it has no values after "="; write name=v1,v2,...')
  const texts = rest.split(',').map((v) => v.trim())
  const values: ParamValue[] = []
  texts.forEach((text, i) => {
    if (!text) throw bad(`value ${i + 1} is empty`)
    const value = paramValue(text)
    const first = values.indexOf(value)
    if (first >= 0) throw bad(`value ${i + 1} (${text}) repeats value ${first + 1} (${texts[first]})`)
    values.push(value)
  })
  return {name, kind: 'grid', values}
}

/** `--range name=lo:hi` (sampled uniformly) or `name=lo:hi:log` (log-uniformly, so lo > 0). */
export function parseRange(spec: string): SweepAxis {
  const bad = invalid('--range', spec)
  const {name, rest} = nameAndRest(spec, bad, 'name=lo:hi or name=lo:hi:log')
  const parts = rest.split(':').map((p) => p.trim())
  if (parts.length < 2 || parts.length > 3) throw bad(`"${rest}" is not lo:hi or lo:hi:log`)
  if (parts.length === 3 && parts[2] !== 'log') throw bad(`the third part "${parts[2]}" can only be "log"`)
  const end = (text: string, which: string): number => {
    if (!text) throw bad(`the ${which} end is empty`)
    const value = paramValue(text)
    if (typeof value !== 'number') throw bad(`the ${which} end "${text}" is not a finite number`)
    return value
  }
  const lo = end(parts[0], 'low')
  const hi = end(parts[1], 'high')
  if (!(lo < hi)) throw bad(`the low end ${parts[0]} is not below the high end ${parts[1]}`)
  const log = parts.length === 3
  if (log && lo <= 0) throw bad(`a log range needs a low end above 0, not ${parts[0]}`)
  return {name, kind: 'range', lo, hi, log}
}

function invalid(flag: string, spec: string): (problem: string) => MlError {
  return (problem) => new MlError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(spec)}: ${problem}.`)
}

function nameAndRest(spec: string, bad: (problem: string) => MlError, form: string): {name: string; rest: string} {
  const eq = spec.indexOf('=')
  if (eq < 0) throw bad(`it has no "="; write ${form}`)
  const name = spec.slice(0, eq).trim()
  if (!name) throw bad('the name before "=" is empty')
  if (!isParamName(name)) throw bad(`the name "${name}" must start with a letter or _ and hold only letters, digits, _, . and -`)
  return {name, rest: spec.slice(eq + 1)}
}

/**
 * The parameters of each run of a sweep, each combination's names in the order of the axes
 * (`grid`, then `ranges`).
 *
 * Without `random`: every combination of the grid axes, the first axis varying slowest (as
 * nested loops, the first axis outermost): `a=1,2` and `b=x,y` give a1 b=x, a1 b=y, a2 b=x, a2 b=y.
 *
 * With `random: N`: N combinations drawn independently (so one may repeat), each grid axis's value
 * chosen uniformly from its values and each range sampled uniformly, or log-uniformly for a log
 * range, then rounded to 6 significant digits (kept within [lo, hi]) so that arguments stay
 * readable. Draws come from a PRNG seeded by `seed` (DEFAULT_SWEEP_SEED if none), one draw per
 * axis in order: the same seed and axes always give the same plan.
 */
export function planSweep(options: {grid: SweepAxis[]; ranges: SweepAxis[]; random?: number; seed?: number}): Params[] {
  const axes = [...options.grid, ...options.ranges]
  const seen = new Set<string>()
  for (const {name} of axes) {
    if (seen.has(name)) throw new MlError('INVALID_ARGUMENT', `The parameter "${name}" is swept twice; give it one --grid or one --range.`)
    seen.add(name)
  }
  const {random, seed = DEFAULT_SWEEP_SEED} = options
  if (random === undefined) {
    const range = axes.find((axis) => axis.kind === 'range')
    if (range) throw new MlError('INVALID_ARGUMENT', `--range "${range.name}" needs --random N: a range is sampled, N times.`)
    if (axes.length === 0) throw new MlError('INVALID_ARGUMENT', 'Nothing to sweep: give --grid name=v1,v2,... or --range name=lo:hi with --random N.')
    let combinations: Array<Array<[string, ParamValue]>> = [[]]
    for (const axis of axes) {
      if (axis.kind === 'grid') combinations = combinations.flatMap((c) => axis.values.map((v): Array<[string, ParamValue]> => [...c, [axis.name, v]]))
    }
    return combinations.map((c) => Object.fromEntries(c))
  }
  if (!Number.isSafeInteger(random) || random < 1) throw new MlError('INVALID_ARGUMENT', `--random needs a whole number of runs of 1 or more, not ${random}.`)
  if (axes.length === 0) throw new MlError('INVALID_ARGUMENT', `--random ${random} has nothing to sample: give --grid or --range.`)
  if (!Number.isSafeInteger(seed) || seed < 0) throw new MlError('INVALID_ARGUMENT', `--seed needs a whole number from 0 to 2^53 - 1, not ${seed}.`)
  const next = mulberry32((seed % 2 ** 32) ^ Math.imul(Math.floor(seed / 2 ** 32), 0x9e3779b1))
  return Array.from({length: random}, () => Object.fromEntries(axes.map((axis) => [axis.name, sample(axis, next())])))
}

/** The value of `axis` at the uniform draw `u` in [0, 1). */
function sample(axis: SweepAxis, u: number): ParamValue {
  if (axis.kind === 'grid') return axis.values[Math.floor(u * axis.values.length)]
  const {lo, hi, log} = axis
  const x = log ? Math.exp(Math.log(lo) + u * (Math.log(hi) - Math.log(lo))) : lo + u * (hi - lo)
  return Math.min(hi, Math.max(lo, Number(x.toPrecision(6))))
}

/** mulberry32: a small, fast 32-bit PRNG, good enough to spread samples, and the same everywhere. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/**
 * The arguments that pass `params` to a script, in their order: `--name value`, each value as
 * paramText writes it, booleans too (`--flag true`, `--flag false`: a bare `--flag` could not say
 * false). A value that starts with `-` is passed as `--name=value`, so that a parser (argparse)
 * cannot take it for an option. paramsFromArgs reads them back as the same params.
 */
export function sweepArgs(params: Params): string[] {
  return Object.entries(params).flatMap(([name, value]) => {
    const text = paramText(value)
    return text.startsWith('-') ? [`--${name}=${text}`] : [`--${name}`, text]
  })
}

/**
 * How many runs planSweep would plan: `random` if given, else the product of the grid axes'
 * value counts (0 with no grid axis: planSweep refuses that). Cheap, so that a caller can ask
 * for confirmation of a large sweep before building it.
 */
export function combinationCount(grid: SweepAxis[], random?: number): number {
  if (random !== undefined) return random
  const axes = grid.filter((axis) => axis.kind === 'grid')
  return axes.length === 0 ? 0 : axes.reduce((n, axis) => n * axis.values.length, 1)
}
