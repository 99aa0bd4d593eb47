import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import * as assert from 'uvu/assert'
import {parseMetrics} from '../../src/core/runs/metrics.js'
import {mergeParams, paramChanges, type Params, PARAMS_FILES, paramsFromArgs, paramsFromFile, paramsFromLog, paramText, paramValue} from '../../src/core/runs/params.js'
import {ROOT, tempDir, cleanup, thrown, timedSuite} from '../helpers.js'

const test = timedSuite('params', 30_000)
test.after.each(cleanup)

test('values are typed as YAML 1.2 (core schema) reads a plain scalar', () => {
  const table: Array<[string, unknown]> = [
    ['0.1', 0.1], ['3', 3], ['-3', -3], ['+3', 3], ['1e-3', 0.001], ['1E3', 1000], ['.5', 0.5], ['-0.5', -0.5], ['0x1F', 31], ['0o17', 15],
    ['true', true], ['True', true], ['FALSE', false], ['null', null], ['Null', null], ['~', null],
    ['adam', 'adam'], ['0.1.2', '0.1.2'], ['"quoted"', '"quoted"'], ["'q'", "'q'"], ['yes', 'yes'], ['on', 'on'], ['1_000', '1_000'],
    [' 1', ' 1'], ['1 ', '1 '], ['a: b', 'a: b'], ['[1, 2]', '[1, 2]'], ['- x', '- x'], ['#x', '#x'], ['tRUE', 'tRUE'],
    ['', ''], ['.inf', '.inf'], ['-.Inf', '-.Inf'], ['.nan', '.nan'], ['1e400', '1e400'],
    ['9007199254740991', 9007199254740991], ['12345678901234567890', '12345678901234567890'],
  ]
  for (const [text, value] of table) assert.is(paramValue(text), value, JSON.stringify(text))
})

test('args: --name value, --name=value, name=value, bare flags, negative values', () => {
  assert.equal(paramsFromArgs(['--lr=0.1']), {lr: 0.1})
  assert.equal(paramsFromArgs(['--lr', '0.1']), {lr: 0.1})
  assert.equal(paramsFromArgs(['lr=0.1']), {lr: 0.1})
  assert.equal(paramsFromArgs(['--verbose']), {verbose: true})
  assert.equal(paramsFromArgs(['--verbose', '--lr', '0.1']), {verbose: true, lr: 0.1})
  assert.equal(paramsFromArgs(['--lr', '-0.5', '--n', '-3', '--m', '-1e-3']), {lr: -0.5, n: -3, m: -0.001}, 'a negative number is a value')
  assert.equal(paramsFromArgs(['--in', '-', '--out', '-o']), {in: '-', out: true}, 'a lone - is a value, -o is an option')
  assert.equal(paramsFromArgs(['--lr=', '--opt=a=b', '--name', 'x=y']), {lr: '', opt: 'a=b', name: 'x=y'})
  assert.equal(paramsFromArgs(['--opt', 'adam', '--tag', '"v1"', '--ver', '0.1.2', '--cuda', 'false', '--w', 'null']), {opt: 'adam', tag: '"v1"', ver: '0.1.2', cuda: false, w: null})
  assert.equal(paramsFromArgs(['--train.lr', '0.1', '--dropout-rate=0.2', '_x=1']), {'train.lr': 0.1, 'dropout-rate': 0.2, _x: 1})
})

test('args: short options, positionals, bad names and everything after -- are ignored', () => {
  assert.equal(paramsFromArgs(['-v', '-n', '5', 'data.csv', '--lr', '0.1']), {lr: 0.1}, '-n 5: the 5 is a positional')
  assert.equal(paramsFromArgs(['--a', '1', '--', '--b', '2', 'c=3']), {a: 1})
  assert.equal(paramsFromArgs(['--flag', '--', '--b']), {flag: true}, 'a flag before -- is true, -- is not its value')
  assert.equal(paramsFromArgs(['=1', '--=2', 'a/b=3', '1x=4', 'https://h/?q=5', '--2x', '6', '---y', '7', '-x=8']), {}, 'a bad name is dropped with its value')
  assert.equal(paramsFromArgs([]), {})
})

test('args: a name given twice keeps its last value, at its first place', () => {
  const params = paramsFromArgs(['--lr', '0.1', '--epochs', '3', 'lr=0.2'])
  assert.equal(params, {lr: 0.2, epochs: 3})
  assert.equal(Object.keys(params), ['lr', 'epochs'])
})

test('a YAML file: nested mappings become dotted names, typed as YAML reads them', () => {
  const text = [
    '# a comment',
    'seed: 42',
    'train:',
    '  lr: 1e-3',
    '  optimizer: adam',
    '  schedule: {warmup: 100, decay: null}',
    '  layers: [64, 32]',
    '  options: {}',
    'quoted: "0.1"',
    'flag: yes',
    'big: 12345678901234567890',
    'far: .inf',
    'when: 2024-01-01',
    '',
  ].join('\n')
  const params = paramsFromFile('params.yaml', text)
  assert.equal(params, {
    seed: 42,
    'train.lr': 0.001,
    'train.optimizer': 'adam',
    'train.schedule.warmup': 100,
    'train.schedule.decay': null,
    'train.layers': '[64,32]',
    'train.options': '{}',
    quoted: '0.1',
    flag: 'yes',
    big: '12345678901234567890',
    far: '.inf',
    when: '2024-01-01',
  })
  assert.equal(Object.keys(params), ['seed', 'train.lr', 'train.optimizer', 'train.schedule.warmup', 'train.schedule.decay', 'train.layers', 'train.options', 'quoted', 'flag', 'big', 'far', 'when'])
  assert.equal(paramsFromFile('params.yaml', 'list: [{a: 1}, [2, x]]\n'), {list: '[{"a":1},[2,"x"]]'}, 'a list is its JSON text, whatever it holds')
})

test('a YAML file: anchors and merge keys are followed; an empty file has no parameters', () => {
  const text = 'base: &base {lr: 0.1, epochs: 3}\nfast:\n  <<: *base\n  epochs: 1\n'
  assert.equal(paramsFromFile('params.yaml', text), {'base.lr': 0.1, 'base.epochs': 3, 'fast.lr': 0.1, 'fast.epochs': 1})
  assert.equal(paramsFromFile('params.yaml', ''), {})
  assert.equal(paramsFromFile('params.yaml', '# nothing yet\n'), {})
})

test('a JSON file is flattened like YAML, and read as JSON (no YAML typing of its strings)', () => {
  const text = '{\n\t"train": {"lr": 0.001, "optimizer": "adam", "layers": [64, 32], "nested": {"deep": true}},\n\t"seed": 12345678901234567890,\n\t"flag": "yes",\n\t"n": "3",\n\t"none": null\n}\n'
  const params = paramsFromFile('params.json', text)
  assert.equal(params, {'train.lr': 0.001, 'train.optimizer': 'adam', 'train.layers': '[64,32]', 'train.nested.deep': true, seed: '12345678901234567890', flag: 'yes', n: '3', none: null})
  assert.equal(Object.keys(params)[0], 'train.lr')
  assert.equal(PARAMS_FILES, ['params.yaml', 'params.json'])
})

test('a name that would set __proto__ is a parameter like any other', () => {
  for (const [name, text] of [['params.yaml', '__proto__: 1\nx: {__proto__: 2}\n'], ['params.json', '{"__proto__": 1, "x": {"__proto__": 2}}']]) {
    const params = paramsFromFile(name, text)
    assert.equal(Object.keys(params), ['__proto__', 'x.__proto__'], name)
    assert.is(Object.getPrototypeOf(params), Object.prototype)
  }
  const merged = mergeParams({a: 1}, paramsFromArgs(['--__proto__', 'null']))
  assert.equal(Object.keys(merged), ['a', '__proto__'])
  assert.is(merged.__proto__, null)
  assert.is(Object.getPrototypeOf(merged), Object.prototype)
})

test('a malformed params file is INVALID_PARAMS, on one line naming the file and what is wrong', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['params.yaml', 'train:\n  lr: [0.1\n', /^params\.yaml is not valid YAML: .*line \d+, column \d+; fix it or remove it\.$/],
    ['params.yaml', 'a: 1\n---\nb: 2\n', /^params\.yaml is not valid YAML: Source contains multiple documents/],
    ['params.yaml', 'a: *nowhere\n', /^params\.yaml is not valid YAML: /],
    ['params.json', '{"a": 1,}', /^params\.json is not valid JSON: .* \(line 1, column 9\); fix it or remove it\.$/],
    ['params.json', '{\n"a": 1\n"b": 2}', /^params\.json is not valid JSON: .*\(line 3, column 1\)/],
    ['params.json', '', /^params\.json is not valid JSON: /],
    ['params.json', 'lr: 0.1\n', /^params\.json is not valid JSON: /],
    ['params.yaml', 'a: 1\na: 2\n', /^params\.yaml gives a name twice \(at line 2, column 1\)/],
    ['params.json', '{"a": 1, "a": 2}', /^params\.json gives a name twice \(at line 1, column 10\)/],
    ['params.yaml', '- 0.1\n- 0.2\n', /^params\.yaml must be a mapping of names to values at its top level, not a list; fix it or remove it\.$/],
    ['params.yaml', '0.1\n', /not a number/],
    ['params.yaml', 'just text\n', /not a string/],
    ['params.json', 'null', /not null/],
    ['params.json', '[]', /not a list/],
    ['params.yaml', '"": 1\n', /^params\.yaml has an empty name; /],
    ['params.yaml', '~: 1\n', /^params\.yaml has an empty name; /],
    ['params.json', '{"train": {"": 1}}', /^params\.json has an empty name in "train"; /],
    ['params.yaml', 'a.b: 1\na: {b: 2}\n', /^params\.yaml gives "a\.b" twice/],
    ['params.json', '{"a": {"b": 2}, "a.b": 1}', /^params\.json gives "a\.b" twice/],
  ]
  for (const [name, text, message] of cases) {
    const error = thrown(() => paramsFromFile(name, text), 'INVALID_PARAMS')
    assert.match(error.message, message, `${name}: ${JSON.stringify(text)}: ${error.message}`)
    assert.not.match(error.message, /\n/, 'one line')
  }
  const aliases = Array.from({length: 8}, (_, i) => (i === 0 ? 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]' : `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`)).join('\n')
  assert.match(thrown(() => paramsFromFile('params.yaml', aliases), 'INVALID_PARAMS').message, /^params\.yaml is not valid YAML: .*alias/i, 'an alias bomb is refused')
})

test('the log: param lines are params, metric lines are not, a bad param line is warned about by number', () => {
  const text = [
    '{"name": "loss", "value": 0.5, "step": 1}',
    '{"param": "lr", "value": 0.1}',
    '{"param": "optimizer", "value": "adam"}',
    'not json',
    '{"param": "", "value": 1}',
    '{"param": "epochs"}',
    '{"param": "layers", "value": [64, 32]}',
    '',
    '{"param": 3, "value": 1}',
    '{"param": "cuda", "value": false}',
    '{"param": "warm", "value": null}',
    '{"name": "acc", "value": 0.9}',
    '{"param": "lr", "value": 0.2}',
    '[1, 2]',
    '{"name": "bad metric"}',
  ].join('\n')
  const {params, warnings} = paramsFromLog(text)
  assert.equal(params, {lr: 0.2, optimizer: 'adam', cuda: false, warm: null})
  assert.equal(Object.keys(params), ['lr', 'optimizer', 'cuda', 'warm'])
  assert.is(warnings.length, 4, warnings.join('\n'))
  for (const [i, line] of [5, 6, 7, 9].entries()) assert.match(warnings[i], new RegExp(`^metrics line ${line} needs \\{"param"`))
  assert.match(warnings[2], /\[64, 32\]/, 'the warning shows the line')

  const metrics = parseMetrics(text)
  assert.equal(metrics.points.map((p) => p.name), ['loss', 'acc'])
  assert.equal(metrics.warnings.map((w) => /line (\d+)/.exec(w)?.[1]), ['4', '14', '15'], 'param lines, good or bad, are not warned about as metrics')
  assert.equal(paramsFromLog(''), {params: {}, warnings: []})
})

test('mergeParams: a later source wins, names in the order they first appear', () => {
  const fromFile: Params = {'train.lr': 0.1, epochs: 10, seed: 1}
  const fromArgs = paramsFromArgs(['--epochs', '3', '--verbose'])
  const fromLog: Params = {seed: 7, device: 'cpu'}
  const merged = mergeParams(fromFile, fromArgs, fromLog)
  assert.equal(merged, {'train.lr': 0.1, epochs: 3, seed: 7, verbose: true, device: 'cpu'})
  assert.equal(Object.keys(merged), ['train.lr', 'epochs', 'seed', 'verbose', 'device'])
  assert.equal(mergeParams(), {})
  assert.equal(mergeParams({a: null}, {}), {a: null})
  assert.equal(fromFile, {'train.lr': 0.1, epochs: 10, seed: 1}, 'no source is changed')
})

test('paramText shows a value as it would be typed', () => {
  assert.equal([0.1, 3, 1e-7, -0.5, 1e21, true, false, null, 'adam', ''].map(paramText), ['0.1', '3', '1e-7', '-0.5', '1e+21', 'true', 'false', 'null', 'adam', ''])
})

test('paramChanges: added, removed and changed parameters, by name; a type change is a change', () => {
  const before: Params = {lr: 0.1, epochs: 3, opt: 'adam', seed: 1, gone: null, n: 1}
  const after: Params = {epochs: 3, lr: 0.2, seed: 1, added: null, opt: 'sgd', n: '1', Big: true}
  assert.equal(paramChanges(before, after), [
    {name: 'Big', after: true},
    {name: 'added', after: null},
    {name: 'gone', before: null},
    {name: 'lr', before: 0.1, after: 0.2},
    {name: 'n', before: 1, after: '1'},
    {name: 'opt', before: 'adam', after: 'sgd'},
  ])
  const [added, removed] = paramChanges({gone: 1}, {added: 2}).sort((a, b) => (a.name < b.name ? -1 : 1))
  assert.ok(!('before' in added) && !('after' in removed), 'a side that has no value has no key')
  assert.equal(paramChanges(before, {...before}), [])
})

test('run_logger.log_param, from Python, is read back by paramsFromLog; its metrics still by parseMetrics', async () => {
  const file = path.join(tempDir(), 'metrics.jsonl')
  const script = [
    'from run_logger import log, log_param',
    'log_param("lr", 0.001)',
    'log_param("optimizer", "adam")',
    'log_param("cuda", False)',
    'log_param("warmup", None)',
    'log_param("layers", [64, 32])',
    'log_param("far", float("inf"))',
    'log("loss", 0.5, step=1)',
  ].join('\n')
  const {stdout} = await promisify(execFile)('python3', ['-c', script], {env: {...process.env, ML_METRICS_FILE: file, PYTHONPATH: path.join(ROOT, 'templates', 'common')}})
  assert.match(stdout, /^param lr = 0\.001\nparam optimizer = adam\n/)
  const text = readFileSync(file, 'utf8')
  assert.equal(paramsFromLog(text), {params: {lr: 0.001, optimizer: 'adam', cuda: false, warmup: null, layers: '[64,32]', far: 'inf'}, warnings: []})
  assert.equal(parseMetrics(text), {points: [{name: 'loss', value: 0.5, step: 1}], warnings: []})
})

test.run()
