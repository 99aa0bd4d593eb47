import {execFile, spawnSync} from 'node:child_process'
import {existsSync, promises as fs, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {collectEnvironment} from '../../src/core/execution/environment.js'
import {CONDA_FILE, environmentChanges, environmentSummary, parseEnvironment, REQUIREMENTS_FILE, type RunEnvironment} from '../../src/core/runs/run-environment.js'
import {cleanup, tempDir, timedSuite, within, write} from '../helpers.js'

const test = timedSuite('environment', 60_000)
test.after.each(cleanup)

/** A folder on PATH holding fake tools: bash scripts, so that each is a real process. */
async function fakeTools(tools: Record<string, string>): Promise<string> {
  const bin = tempDir('ml-test-bin-')
  for (const [name, body] of Object.entries(tools)) {
    await fs.writeFile(path.join(bin, name), `#!/bin/bash\n${body}\n`, {mode: 0o755})
  }
  return bin
}

/** The machine's environment with CONDA_* removed, so that only what a test sets is there. */
function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = {...process.env}
  for (const name of Object.keys(env)) if (name.startsWith('CONDA_')) delete env[name]
  return {...env, ...extra}
}

/** A command's exit code and output, without waiting synchronously (the probes run meanwhile). */
function run(command: string, args: string[], options: {cwd: string; env: NodeJS.ProcessEnv}): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(command, args, {...options, encoding: 'utf8'}, (error, stdout, stderr) => resolve({code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr}))
  })
}

/** Whether a process runs (a zombie left to an init that does not reap counts as gone). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return true
}

function environment(overrides: Partial<RunEnvironment> = {}): RunEnvironment {
  return {
    schema: 1,
    os: {platform: 'linux', release: '6.1.0', type: 'Linux', arch: 'x64'},
    cpu: {count: 2, model: 'Intel Xeon'},
    memoryBytes: Math.round(7.8 * 2 ** 30),
    hostname: 'box',
    user: 'ada',
    node: 'v20.11.0',
    ml: '0.1.0',
    interpreter: {command: 'python3', path: '/usr/bin/python3', version: '3.11.2', executable: '/usr/bin/python3'},
    ...overrides,
  }
}

test('a python script: the machine, the python3 the run gets, and pip freeze iff pip works', async () => {
  const dir = tempDir()
  // A project module named like one of the standard library's must never be run by a probe.
  await write(dir, {'train.py': 'print(1)\n', 'json.py': 'open("ran", "w").write("yes")\nraise SystemExit(3)\n'})
  const env = baseEnv()
  // The oracles, python3 itself asked the usual way in the same folder with the same PATH, at
  // the same time as the probes (pip freeze takes a second).
  const python3 = (args: string[]) => run('python3', args, {cwd: dir, env})
  const [{environment: e, files}, version, executable, pip, freeze] = await Promise.all([
    collectEnvironment({script: 'train.py', command: ['python3', ['train.py']], env, cwd: dir, mlVersion: '9.8.7'}),
    python3(['--version']),
    python3(['-c', 'import sys; print(sys.executable)']),
    python3(['-m', 'pip', '--version']),
    python3(['-m', 'pip', 'freeze']),
  ])
  assert.is(e.schema, 1)
  assert.equal(e.os, {platform: process.platform, release: os.release(), type: os.type(), arch: process.arch})
  assert.is(e.cpu.count, os.cpus().length)
  assert.ok(e.cpu.count > 0 && e.cpu.model.length > 0)
  assert.is(e.memoryBytes, os.totalmem())
  assert.is(e.hostname, os.hostname())
  assert.is(e.user, os.userInfo().username)
  assert.is(e.node, process.version)
  assert.is(e.ml, '9.8.7')
  assert.not.ok(existsSync(path.join(dir, 'ran')), 'json.py of the project was run')
  assert.is(version.code, 0, version.stderr)
  assert.is(`Python ${e.interpreter?.version}`, (version.stdout || version.stderr).trim())
  assert.is(e.interpreter?.command, 'python3')
  assert.is(e.interpreter?.executable, executable.stdout.trim())
  assert.ok(e.interpreter?.path && existsSync(e.interpreter.path))
  assert.is(e.conda, undefined)
  assert.ok(!files.some((f) => f.path === CONDA_FILE))
  assert.match(environmentSummary(e), new RegExp(`, Python ${e.interpreter?.version!.replace(/\./g, '\\.')}, node ${process.version}$`))

  const requirements = files.find((f) => f.path === REQUIREMENTS_FILE)
  if (pip.code === 0) {
    assert.is(freeze.code, 0)
    assert.is(requirements?.data, freeze.stdout)
  } else {
    assert.is(requirements, undefined)
  }
})

test('a python3 whose pip fails: no requirements.txt, and no error', async () => {
  const dir = tempDir()
  await write(dir, {'train.py': ''})
  const bin = await fakeTools({python3: 'if [ "$1" = -m ]; then echo "No module named pip" >&2; exit 1; fi\necho \'{"version": "3.0.1", "executable": "/fake/python"}\''})
  const {environment: e, files} = await collectEnvironment({script: 'train.py', command: ['python3', ['train.py']], env: baseEnv({PATH: bin}), cwd: dir, mlVersion: '1'})
  assert.equal(files, [])
  assert.equal(e.interpreter, {command: 'python3', path: path.join(bin, 'python3'), version: '3.0.1', executable: '/fake/python'})
})

test('pip freeze is kept in pipCache and reused while the sys.path folders are unchanged', async () => {
  const dir = tempDir()
  await write(dir, {'train.py': ''})
  const site = tempDir('ml-test-site-')
  // A fake python3 that reports `site` as its one sys.path folder (with its real mtime) and counts its pip runs.
  const runs = path.join(tempDir(), 'pip-runs')
  const bin = await fakeTools({python3: `if [ "$1" = -m ]; then n=0; [ -f ${runs} ] && n=$(<${runs}); n=$((n + 1)); echo $n > ${runs}; echo "pkg==$n"; exit 0; fi
echo "{\\"version\\": \\"3.0.1\\", \\"executable\\": \\"/fake/python\\", \\"paths\\": [[\\"${site}\\", $(/usr/bin/stat -c %Y ${site})]]}"`})
  const pipCache = path.join(tempDir(), 'pip-freeze-cache.json')
  const collect = () => collectEnvironment({script: 'train.py', command: ['python3', ['train.py']], env: baseEnv({PATH: bin}), cwd: dir, mlVersion: '1', pipCache})
  const requirements = async () => (await collect()).files.find((f) => f.path === REQUIREMENTS_FILE)?.data
  assert.is(await requirements(), 'pkg==1\n')
  assert.is(await requirements(), 'pkg==1\n', 'reused: pip did not run again')
  await fs.utimes(site, new Date(), new Date(Date.now() + 5000))
  assert.is(await requirements(), 'pkg==2\n', 'a package folder changed: pip ran again')
  await fs.writeFile(pipCache, '{damaged')
  assert.is(await requirements(), 'pkg==3\n', 'a damaged cache is written again')
})

test('a missing interpreter and no tools on PATH: no version, no files, no error', async () => {
  const dir = tempDir()
  await write(dir, {'train.py': ''})
  const empty = tempDir('ml-test-empty-path-')
  for (const env of [baseEnv({PATH: empty}), {}]) {
    const {environment: e, files} = await collectEnvironment({script: 'train.py', command: ['python3', ['train.py']], env, cwd: dir, mlVersion: '1'})
    assert.equal(e.interpreter, {command: 'python3'})
    assert.equal(files, [])
    assert.is(e.node, process.version)
  }
})

test('a script run directly is not started again: its #! line names the interpreter', async () => {
  const dir = tempDir()
  await write(dir, {tool: '#!/usr/bin/env -S bash -e\ntouch started\n'})
  await fs.chmod(path.join(dir, 'tool'), 0o755)
  const {environment: e} = await collectEnvironment({script: 'tool', command: ['./tool', []], env: baseEnv(), cwd: dir, mlVersion: '1'})
  assert.is(e.interpreter?.command, 'bash')
  const bash = spawnSync('bash', ['--version'], {encoding: 'utf8'}).stdout.split('\n')[0]
  assert.is(e.interpreter?.version, bash)
  assert.not.ok(existsSync(path.join(dir, 'started')), 'the script itself never ran')
  assert.match(environmentSummary(e), /, bash \d+\.\d+/)
})

test('an interpreter that is not there, or cannot start, named by a #! path: no version, and no error', async () => {
  const dir = tempDir()
  await write(dir, {tool: '#!/nonexistent/python3\n'})
  await fs.chmod(path.join(dir, 'tool'), 0o755)
  const {environment: e, files} = await collectEnvironment({script: 'tool', command: ['./tool', []], env: baseEnv(), cwd: dir, mlVersion: '1'})
  assert.equal(e.interpreter, {command: '/nonexistent/python3'})
  assert.equal(files, [])
  // One that is there but cannot be started (a folder): spawn fails, and that is no error either.
  await write(dir, {tool: `#!${dir}\n`})
  const folder = await collectEnvironment({script: 'tool', command: ['./tool', []], env: baseEnv(), cwd: dir, mlVersion: '1'})
  assert.equal(folder.environment.interpreter, {command: dir, path: dir})
})

test('a node script: the node that runs it, without a process', async () => {
  const dir = tempDir()
  await write(dir, {'a.mjs': ''})
  const {environment: e} = await collectEnvironment({script: 'a.mjs', command: [process.execPath, ['a.mjs']], env: {PATH: tempDir()}, cwd: dir, mlVersion: '1'})
  assert.equal(e.interpreter, {command: process.execPath, path: process.execPath, version: process.version, executable: process.execPath})
  assert.not.match(environmentSummary(e), /node.*node/)
})

test('nvidia-smi on PATH gives the GPUs it lists', async () => {
  const dir = tempDir()
  await write(dir, {'run.sh': ''})
  const bin = await fakeTools({
    'nvidia-smi': [
      '[ "$*" = "--query-gpu=name,memory.total,driver_version --format=csv,noheader" ] || exit 9',
      'echo "NVIDIA A100-SXM4-80GB, 81920 MiB, 535.104.05"',
      'echo "Tesla T4, 15360 MiB, 535.104.05"',
      'echo "Tesla T4, 15360 MiB, 535.104.05"',
    ].join('\n'),
  })
  const {environment: e} = await collectEnvironment({script: 'run.sh', command: ['bash', ['run.sh']], env: baseEnv({PATH: `${bin}${path.delimiter}${process.env.PATH}`}), cwd: dir, mlVersion: '1'})
  assert.equal(e.gpus, [
    {name: 'NVIDIA A100-SXM4-80GB', memoryTotal: '81920 MiB', driverVersion: '535.104.05'},
    {name: 'Tesla T4', memoryTotal: '15360 MiB', driverVersion: '535.104.05'},
    {name: 'Tesla T4', memoryTotal: '15360 MiB', driverVersion: '535.104.05'},
  ])
  assert.match(environmentSummary(e), /, 3 GPUs: NVIDIA A100-SXM4-80GB \(80 GB\), 2 x Tesla T4 \(15 GB\)$/)
  // A failing nvidia-smi (no driver) gives no GPUs.
  await fs.writeFile(path.join(bin, 'nvidia-smi'), '#!/bin/bash\necho "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."\nexit 9\n')
  const failed = await collectEnvironment({script: 'run.sh', command: ['bash', ['run.sh']], env: baseEnv({PATH: `${bin}${path.delimiter}${process.env.PATH}`}), cwd: dir, mlVersion: '1'})
  assert.is(failed.environment.gpus, undefined)
})

test('a tool slower than timeoutMs is left out and killed with what it started', async () => {
  const dir = tempDir()
  await write(dir, {'run.sh': ''})
  const pids = tempDir()
  const bin = await fakeTools({'nvidia-smi': `echo $$ > ${pids}/tool\nsleep 60 &\necho $! > ${pids}/child\nwait`})
  const {environment: e} = await collectEnvironment({script: 'run.sh', command: ['bash', ['run.sh']], env: baseEnv({PATH: `${bin}${path.delimiter}${process.env.PATH}`}), cwd: dir, mlVersion: '1', timeoutMs: 1000})
  assert.is(e.gpus, undefined)
  assert.is(e.node, process.version)
  for (const name of ['tool', 'child']) {
    const pid = Number(await fs.readFile(path.join(pids, name), 'utf8'))
    assert.ok(await waitFor(() => !running(pid), 5000), `${name} ${pid} still runs`)
  }
})

test('the tools are asked at once, not one after the other', async () => {
  // Each fake waits for the other to have started: one after the other, the first would time out.
  const dir = tempDir()
  await write(dir, {'run.sh': ''})
  const marks = tempDir()
  const waitForOther = (mine: string, other: string) => `touch ${marks}/${mine}\nfor i in $(seq 100); do [ -e ${marks}/${other} ] && break; sleep 0.05; done\n[ -e ${marks}/${other} ] || exit 1`
  const bin = await fakeTools({
    'nvidia-smi': `${waitForOther('gpu', 'conda')}\necho "Tesla T4, 15360 MiB, 1"`,
    conda: `${waitForOther('conda', 'gpu')}\necho "numpy=1.26.4=py311_0"`,
  })
  const prefix = tempDir()
  const {environment: e, files} = await collectEnvironment({
    script: 'run.sh', command: ['bash', ['run.sh']], env: baseEnv({PATH: `${bin}${path.delimiter}${process.env.PATH}`, CONDA_PREFIX: prefix}), cwd: dir, mlVersion: '1', timeoutMs: 20_000,
  })
  assert.is(e.gpus?.length, 1)
  assert.ok(files.some((f) => f.path === CONDA_FILE))
})

test('CONDA_PREFIX and conda on PATH give conda.txt; without CONDA_PREFIX there is none', async () => {
  const dir = tempDir()
  await write(dir, {'run.sh': ''})
  const prefix = tempDir('ml-test-conda-env-')
  const bin = await fakeTools({conda: `[ "$1 $2" = "list --export" ] || exit 2\n[ "$4" = "${prefix}" ] || exit 3\nprintf '# platform: linux-64\\nnumpy=1.26.4=py311_0\\n'`})
  const PATH = `${bin}${path.delimiter}${process.env.PATH}`
  const {environment: e, files} = await collectEnvironment({script: 'run.sh', command: ['bash', ['run.sh']], env: baseEnv({PATH, CONDA_PREFIX: prefix}), cwd: dir, mlVersion: '1'})
  assert.equal(e.conda, {prefix})
  assert.equal(files, [{path: CONDA_FILE, data: '# platform: linux-64\nnumpy=1.26.4=py311_0\n'}])
  const without = await collectEnvironment({script: 'run.sh', command: ['bash', ['run.sh']], env: baseEnv({PATH}), cwd: dir, mlVersion: '1'})
  assert.is(without.environment.conda, undefined)
  assert.equal(without.files, [])
  // CONDA_PREFIX without any conda: the prefix is known, the list is not.
  const noConda = await collectEnvironment({script: 'run.sh', command: ['bash', ['run.sh']], env: baseEnv({PATH: process.env.PATH, CONDA_PREFIX: prefix}), cwd: dir, mlVersion: '1'})
  assert.equal(noConda.environment.conda, {prefix})
  assert.equal(noConda.files, [])
})

test('aborting kills the tools still running', async () => {
  const dir = tempDir()
  await write(dir, {'run.sh': ''})
  const pids = tempDir()
  const bin = await fakeTools({'nvidia-smi': `echo $$ > ${pids}/tool\nsleep 60`})
  const controller = new AbortController()
  const collecting = collectEnvironment({
    script: 'run.sh', command: ['bash', ['run.sh']], env: baseEnv({PATH: `${bin}${path.delimiter}${process.env.PATH}`}), cwd: dir, mlVersion: '1', timeoutMs: 50_000, signal: controller.signal,
  })
  assert.ok(await waitFor(() => existsSync(path.join(pids, 'tool')), 10_000))
  controller.abort()
  // Far sooner than its timeout of 50 s.
  const {environment: e} = await within(20_000, collecting)
  assert.is(e.gpus, undefined)
  const pid = Number(await fs.readFile(path.join(pids, 'tool'), 'utf8'))
  assert.ok(await waitFor(() => !running(pid), 5000), `${pid} still runs`)
})

test('environmentSummary: one line', () => {
  assert.is(environmentSummary(environment()), 'Linux 6.1.0 x64, 2 CPUs (Intel Xeon), 7.8 GB, Python 3.11.2, node v20.11.0')
  const gpus = [{name: 'NVIDIA A100', memoryTotal: '81920 MiB', driverVersion: '535'}]
  assert.is(environmentSummary(environment({cpu: {count: 1, model: ''}, interpreter: undefined, gpus})), 'Linux 6.1.0 x64, 1 CPU, 7.8 GB, node v20.11.0, 1 GPU: NVIDIA A100 (80 GB)')
})

test('environmentChanges: the machine, python, node, ml and GPUs that changed', () => {
  assert.equal(environmentChanges({environment: environment()}, {environment: environment()}), [])
  assert.equal(environmentChanges({}, {}), [])
  const after = environment({
    os: {platform: 'linux', release: '6.5.0', type: 'Linux', arch: 'x64'},
    cpu: {count: 8, model: 'AMD EPYC'},
    memoryBytes: Math.round(15.6 * 2 ** 30),
    hostname: 'gpu-box',
    node: 'v20.12.0',
    ml: '0.2.0',
    interpreter: {command: 'python3', version: '3.12.1'},
    gpus: [{name: 'Tesla T4', memoryTotal: '15360 MiB', driverVersion: '535'}],
  })
  assert.equal(environmentChanges({environment: environment()}, {environment: after}), [
    'os: Linux 6.1.0 x64 -> Linux 6.5.0 x64',
    'cpu: 2 x Intel Xeon -> 8 x AMD EPYC',
    'memory: 7.8 GB -> 15.6 GB',
    'hostname: box -> gpu-box',
    'python: 3.11.2 -> 3.12.1',
    'node: v20.11.0 -> v20.12.0',
    'ml: 0.1.0 -> 0.2.0',
    'gpus: none -> Tesla T4 (15 GB, driver 535)',
  ])
  // The same python elsewhere (another path, user) is no change; the user is not compared.
  assert.equal(environmentChanges({environment: environment()}, {environment: environment({user: 'bob', interpreter: {command: 'python', version: '3.11.2'}})}), [])
  assert.equal(environmentChanges({environment: environment()}, {environment: environment({interpreter: {command: 'bash', version: 'GNU bash, version 5.2'}})}), ['interpreter: Python 3.11.2 -> bash 5.2'])
  assert.equal(environmentChanges({}, {environment: environment()}), ['environment: not recorded -> recorded'])
})

test('environmentChanges: packages added, removed and changed, by PEP 503 name', () => {
  const before = [
    '# comment', 'numpy==1.26.3', 'pandas==2.1.0', 'torch==2.1.0', 'Typing_Extensions==4.9.0', 'Pillow==10.0.0',
    'mylib @ file:///src/mylib', '-e git+https://example.com/x.git@aaaa#egg=xlib', '',
  ].join('\n')
  const after = [
    'numpy==1.26.3', 'torch==2.2.0', 'typing-extensions==4.9.0', 'pillow==10.0.0', 'scikit-learn==1.4.0',
    'mylib @ file:///src/mylib2', '-e git+https://example.com/x.git@bbbb#egg=xlib',
  ].join('\n')
  assert.equal(environmentChanges({requirements: before}, {requirements: after}), [
    '~ mylib @ file:///src/mylib -> @ file:///src/mylib2',
    '- pandas 2.1.0',
    '+ scikit-learn 1.4.0',
    '~ torch 2.1.0 -> 2.2.0',
    '~ xlib -e git+https://example.com/x.git@aaaa#egg=xlib -> -e git+https://example.com/x.git@bbbb#egg=xlib',
  ])
  assert.equal(environmentChanges({requirements: before}, {requirements: before}), [])
  assert.equal(environmentChanges({requirements: 'numpy==1.0\n'}, {}), ['requirements.txt: 1 package -> not recorded'])
  const both = environmentChanges(
    {environment: environment(), requirements: 'numpy==1.26.4\n'},
    {environment: environment({interpreter: {command: 'python3', version: '3.12.1'}}), requirements: 'numpy==1.26.4\npandas==2.2.0\n'},
  )
  assert.equal(both, ['python: 3.11.2 -> 3.12.1', '+ pandas 2.2.0'])
})

test('parseEnvironment accepts what collectEnvironment wrote and refuses crafted junk', async () => {
  const dir = tempDir()
  await write(dir, {'train.py': ''})
  const bin = await fakeTools({
    python3: 'echo \'{"version": "3.11.2", "executable": "/venv/bin/python3"}\'',
    'nvidia-smi': 'echo "Tesla T4, 15360 MiB, 535"',
  })
  const {environment: e} = await collectEnvironment({script: 'train.py', command: ['python3', ['train.py']], env: baseEnv({PATH: bin, CONDA_PREFIX: '/opt/conda'}), cwd: dir, mlVersion: '1'})
  assert.ok(e.gpus && e.conda && e.interpreter, 'every optional part is there')
  const json = JSON.stringify(e, null, 2)
  assert.equal(await parseEnvironment(json), e)
  assert.equal(await parseEnvironment(Buffer.from(json)), e)
  // A field ml does not know is dropped, not shown.
  assert.equal(await parseEnvironment(JSON.stringify({...e, extra: 'x'.repeat(10)})), e)

  const valid = environment()
  const junk: unknown[] = [
    null, 'not json', '[]', '"text"', '{}',
    {...valid, schema: 2},
    {...valid, hostname: 'x'.repeat(1001)},
    {...valid, os: {...valid.os, release: 5}},
    {...valid, cpu: {count: -1, model: 'x'}},
    {...valid, cpu: {count: 1.5, model: 'x'}},
    {...valid, memoryBytes: '8 GB'},
    {...valid, interpreter: {version: '3.11'}},
    {...valid, gpus: {name: 'x'}},
    {...valid, gpus: Array.from({length: 65}, () => ({name: 'g', memoryTotal: '1 MiB', driverVersion: '1'}))},
    {...valid, gpus: [{name: 'g', memoryTotal: 1, driverVersion: '1'}]},
    {...valid, conda: {prefix: ['a']}},
    {...valid, node: undefined},
    {...valid, padding: 'x'.repeat(2 << 20)},
  ]
  for (const item of junk) {
    const data = item === null ? null : typeof item === 'string' ? item : JSON.stringify(item)
    assert.is(await parseEnvironment(data), null, String(data).slice(0, 100))
  }
  assert.equal(await parseEnvironment(JSON.stringify(valid)), valid)
})

test.run()
