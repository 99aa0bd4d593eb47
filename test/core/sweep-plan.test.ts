import * as assert from 'uvu/assert'
import {combinationCount, DEFAULT_SWEEP_SEED, parseGrid, parseRange, planSweep, type SweepAxis, sweepArgs} from '../../src/core/execution/sweep-plan.js'
import {paramsFromArgs} from '../../src/core/runs/params.js'
import {thrown, timedSuite} from '../helpers.js'

const test = timedSuite('sweep-plan', 30_000)

test('--grid: the values typed as on a command line, blanks trimmed', () => {
  assert.equal(parseGrid('lr=0.1,1e-3,3'), {name: 'lr', kind: 'grid', values: [0.1, 0.001, 3]})
  assert.equal(parseGrid('opt=adam, sgd ,true,null,0.1.2'), {name: 'opt', kind: 'grid', values: ['adam', 'sgd', true, null, '0.1.2']})
  assert.equal(parseGrid('train.lr=-0.5'), {name: 'train.lr', kind: 'grid', values: [-0.5]})
  assert.equal(parseGrid('x=a=b'), {name: 'x', kind: 'grid', values: ['a=b']}, 'the name ends at the first =')
})

test('--range: lo:hi and lo:hi:log', () => {
  assert.equal(parseRange('lr=1e-5:1e-1:log'), {name: 'lr', kind: 'range', lo: 0.00001, hi: 0.1, log: true})
  assert.equal(parseRange('momentum=-1:1'), {name: 'momentum', kind: 'range', lo: -1, hi: 1, log: false})
  assert.equal(parseRange('m= 0 : 0.5 '), {name: 'm', kind: 'range', lo: 0, hi: 0.5, log: false})
})

test('a malformed --grid or --range is INVALID_ARGUMENT naming the bad part', () => {
  const cases: Array<[(spec: string) => SweepAxis, string, string]> = [
    [parseGrid, 'lr=0.1,,0.3', '--grid "lr=0.1,,0.3": value 2 is empty.'],
    [parseGrid, 'lr=0.1,0.3,', 'value 3 is empty'],
    [parseGrid, 'lr', '--grid "lr": it has no "="'],
    [parseGrid, 'lr=', '--grid "lr=": it has no values'],
    [parseGrid, '=0.1,0.2', '--grid "=0.1,0.2": the name before "=" is empty'],
    [parseGrid, '2lr=1', 'the name "2lr" must start with a letter'],
    [parseGrid, 'l r=1', 'the name "l r"'],
    [parseGrid, 'lr=0.1,0.2,0.10', 'value 3 (0.10) repeats value 1 (0.1)'],
    [parseGrid, 'opt=adam,sgd,adam', 'value 3 (adam) repeats value 1 (adam)'],
    [parseRange, 'lr=1:0', '--range "lr=1:0": the low end 1 is not below the high end 0.'],
    [parseRange, 'lr=1:1', 'the low end 1 is not below the high end 1'],
    [parseRange, 'lr', '--range "lr": it has no "="'],
    [parseRange, '=0:1', 'the name before "=" is empty'],
    [parseRange, 'lr=1', '"1" is not lo:hi or lo:hi:log'],
    [parseRange, 'lr=0:1:log:x', '"0:1:log:x" is not lo:hi or lo:hi:log'],
    [parseRange, 'lr=0:1:lin', 'the third part "lin" can only be "log"'],
    [parseRange, 'lr=a:1', 'the low end "a" is not a finite number'],
    [parseRange, 'lr=0:.inf', 'the high end ".inf" is not a finite number'],
    [parseRange, 'lr=:1', 'the low end is empty'],
    [parseRange, 'lr=0:', 'the high end is empty'],
    [parseRange, 'lr=0:1:log', 'a log range needs a low end above 0, not 0'],
    [parseRange, 'lr=-1:1:log', 'a log range needs a low end above 0, not -1'],
  ]
  for (const [parse, spec, part] of cases) {
    const error = thrown(() => parse(spec), 'INVALID_ARGUMENT')
    assert.ok(error.message.includes(part), `${spec}: ${error.message}`)
  }
})

test('a grid plan is every combination, the first axis varying slowest', () => {
  const plan = planSweep({grid: [parseGrid('lr=0.1,0.01'), parseGrid('opt=adam,sgd,rmsprop')], ranges: []})
  assert.equal(plan, [
    {lr: 0.1, opt: 'adam'},
    {lr: 0.1, opt: 'sgd'},
    {lr: 0.1, opt: 'rmsprop'},
    {lr: 0.01, opt: 'adam'},
    {lr: 0.01, opt: 'sgd'},
    {lr: 0.01, opt: 'rmsprop'},
  ])
  for (const params of plan) assert.equal(Object.keys(params), ['lr', 'opt'], 'names in the order of the axes')
  assert.is(combinationCount([parseGrid('lr=0.1,0.01'), parseGrid('opt=adam,sgd,rmsprop')]), 6)
  assert.is(planSweep({grid: [parseGrid('a=1,2,3'), parseGrid('b=1,2,3,4'), parseGrid('c=x,y')], ranges: []}).length, 24)
  assert.equal(planSweep({grid: [parseGrid('a=1')], ranges: []}), [{a: 1}])
})

test('a random plan is reproducible from its seed, and every value is within its axis', () => {
  const grid = [parseGrid('opt=adam,sgd,rmsprop')]
  const ranges = [parseRange('lr=1e-5:1e-1:log'), parseRange('momentum=-1:1')]
  const plan = planSweep({grid, ranges, random: 500, seed: 42})
  assert.is(plan.length, 500)
  assert.equal(planSweep({grid, ranges, random: 500, seed: 42}), plan, 'the same seed, the same plan')
  assert.not.equal(planSweep({grid, ranges, random: 500, seed: 43}), plan, 'another seed, another plan')
  assert.equal(planSweep({grid, ranges, random: 5}), planSweep({grid, ranges, random: 5, seed: DEFAULT_SWEEP_SEED}))
  assert.equal(planSweep({grid, ranges, random: 5, seed: 2 ** 40}), planSweep({grid, ranges, random: 5, seed: 2 ** 40}))
  assert.not.equal(planSweep({grid, ranges, random: 5, seed: 2 ** 40}), planSweep({grid, ranges, random: 5, seed: 0}), 'the high bits of a seed count')

  const lrs = plan.map((p) => p.lr as number)
  const momenta = plan.map((p) => p.momentum as number)
  for (const p of plan) assert.equal(Object.keys(p), ['opt', 'lr', 'momentum'])
  assert.ok(lrs.every((lr) => lr >= 1e-5 && lr <= 1e-1), 'log samples within [lo, hi]')
  assert.ok(momenta.every((m) => m >= -1 && m <= 1))
  assert.ok(plan.every((p) => ['adam', 'sgd', 'rmsprop'].includes(p.opt as string)))
  assert.equal(new Set(plan.map((p) => p.opt)).size, 3, 'every grid value is drawn')
  assert.ok([...lrs, ...momenta].every((x) => Number(x.toPrecision(6)) === x), 'rounded to 6 significant digits')
  assert.ok(lrs.some((x) => Number(x.toPrecision(5)) !== x), 'but not to fewer')
  // Log-uniform: as many samples in each decade; uniform: as many on each side of 0.
  const decades = [0, 0, 0, 0]
  for (const lr of lrs) decades[Math.min(3, Math.floor(Math.log10(lr) + 5))]++
  assert.ok(decades.every((n) => n > 90 && n < 160), `per decade: ${decades}`)
  const below = momenta.filter((m) => m < 0).length
  assert.ok(below > 200 && below < 300, `below 0: ${below}`)
})

test('a sample that rounding would take out of a narrow range is kept within it', () => {
  const above = planSweep({grid: [], ranges: [parseRange('x=1.0000001:1.0000004')], random: 20, seed: 3})
  assert.equal(new Set(above.map((p) => p.x)), new Set([1.0000001]), 'rounded down to 1, below the low end')
  const below = planSweep({grid: [], ranges: [parseRange('x=0.9999995:0.9999999:log')], random: 20, seed: 3})
  assert.equal(new Set(below.map((p) => p.x)), new Set([0.9999999]), 'rounded up to 1, above the high end')
})

test('a plan that cannot be made is INVALID_ARGUMENT', () => {
  const lr = parseRange('lr=0:1')
  const cases: Array<[Parameters<typeof planSweep>[0], string]> = [
    [{grid: [], ranges: [lr]}, '--range "lr" needs --random N'],
    [{grid: [parseGrid('a=1,2')], ranges: [lr]}, '--range "lr" needs --random N'],
    [{grid: [], ranges: [], random: 10}, '--random 10 has nothing to sample'],
    [{grid: [], ranges: []}, 'Nothing to sweep'],
    [{grid: [parseGrid('lr=1,2')], ranges: [lr], random: 3}, 'The parameter "lr" is swept twice'],
    [{grid: [parseGrid('a=1'), parseGrid('a=2')], ranges: []}, 'The parameter "a" is swept twice'],
    [{grid: [], ranges: [lr], random: 0}, '--random needs a whole number of runs of 1 or more, not 0'],
    [{grid: [], ranges: [lr], random: 2.5}, 'not 2.5'],
    [{grid: [], ranges: [lr], random: 3, seed: -1}, '--seed needs a whole number from 0 to 2^53 - 1, not -1'],
    [{grid: [], ranges: [lr], random: 3, seed: 0.5}, 'not 0.5'],
  ]
  for (const [options, part] of cases) {
    const error = thrown(() => planSweep(options), 'INVALID_ARGUMENT')
    assert.ok(error.message.includes(part), `${JSON.stringify(options)}: ${error.message}`)
  }
})

test('sweepArgs: --name value in the params order, booleans and null spelled out, read back the same', () => {
  assert.equal(sweepArgs({lr: 0.1, epochs: 3}), ['--lr', '0.1', '--epochs', '3'])
  assert.equal(sweepArgs({cuda: true, amp: false, w: null, opt: 'adam', tiny: 1e-7}), ['--cuda', 'true', '--amp', 'false', '--w', 'null', '--opt', 'adam', '--tiny', '1e-7'])
  assert.equal(sweepArgs({m: -0.5, n: -1e-7, s: '-x'}), ['--m=-0.5', '--n=-1e-7', '--s=-x'], 'a value that looks like an option is joined to its name')
  assert.equal(sweepArgs({}), [])
  const grid = [parseGrid('opt=adam,sgd'), parseGrid('cuda=true,false'), parseGrid('w=null,0.5,-2')]
  const plans = [...planSweep({grid, ranges: []}), ...planSweep({grid, ranges: [parseRange('lr=1e-9:1e-7:log'), parseRange('m=-1:1')], random: 20, seed: 9})]
  for (const params of plans) assert.equal(paramsFromArgs(sweepArgs(params)), params, JSON.stringify(params))
})

test('combinationCount: the runs a plan would have, before it is built', () => {
  const a = parseGrid('a=1,2,3')
  const b = parseGrid('b=1,2,3,4,5,6,7,8,9,10')
  assert.is(combinationCount([a, b]), 30)
  assert.is(combinationCount([a, b, parseGrid('c=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34')]), 1020)
  assert.is(combinationCount([a, b], 7), 7, 'a random plan has N runs')
  assert.is(combinationCount([]), 0)
  assert.is(combinationCount([a, b]), planSweep({grid: [a, b], ranges: []}).length)
})

test.run()
