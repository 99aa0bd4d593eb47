import {execFileSync} from 'node:child_process'
import {existsSync, promises as fs, symlinkSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {parseEnvironment} from '../../src/core/compute/collect-run.js'
import {placeOf, prepareRunFolder, projectBase} from '../../src/core/compute/run-folder.js'
import {LocalShell, quote} from '../../src/ssh/shell.js'
import {attachTarget, type SlurmTarget} from '../../src/core/compute/targets.js'
import {newRecord, snapshotForRuns} from '../../src/core/execution/experiment.js'
import {findProject} from '../../src/core/project/project.js'
import {initProject} from '../../src/core/setup/init.js'
import {cleanup, folderState, git, tempDir, thrownAsync, timedSuite, write} from '../helpers.js'

const test = timedSuite('compute')
test.after.each(cleanup)

test('quote makes any text one sh word, run by nothing', () => {
  const dir = tempDir()
  for (const text of ["it's", '$(touch PWNED)', '`touch PWNED`', 'a\nb', "'\\''", '"; touch PWNED; "', '-n', '']) {
    const out = execFileSync('sh', ['-c', `printf %s ${quote(text)}`], {cwd: dir, encoding: 'utf8'})
    assert.is(out, text)
  }
  assert.not.ok(existsSync(path.join(dir, 'PWNED')))
})

test('a run folder made through objects/ holds the snapshot byte for byte, modes and links included; a second sends nothing', async () => {
  const dir = tempDir()
  await initProject({dir})
  await write(dir, {'train.py': 'print(1)\n', "odd name 'q' $(x).txt": 'odd\n', 'deep/er/file.txt': 'deep\n', 'same-a.txt': 'same\n', 'same-b.txt': 'same\n', 'run.sh': 'echo run\n'})
  await fs.chmod(path.join(dir, 'run.sh'), 0o755)
  symlinkSync('deep/er/file.txt', path.join(dir, 'link.txt'))
  await write(dir, {'vendor/x.txt': 'nested\n'})
  git(path.join(dir, 'vendor'), ['init', '-q'])
  git(path.join(dir, 'vendor'), ['add', '.'])
  git(path.join(dir, 'vendor'), ['commit', '-qm', 'x'])
  const project = await findProject(dir)
  const {snapshot, open} = await snapshotForRuns(project, 'test', {})
  const repo = await open()
  const record = newRecord(project, {runId: 'p_1700000000000_abcd', script: 'train.py', args: [], compute: 'hpc', snapshot, properties: {}, params: {}, isolated: false})
  const work = tempDir('ml-work-')
  const target: SlurmTarget = {schema: 1, name: 'hpc', type: 'slurm', workDir: work, sbatchArgs: []}
  const shell = new LocalShell(process.env, work)
  const base = await projectBase(shell, target, project.config.id)
  const place = placeOf(base, record.runId)
  const first = await prepareRunFolder(shell, repo, target, place, record, path.join('templates', 'common', 'run_logger.py'))
  assert.is(first.sent, first.files - 2, 'one object for the two same files, none for the link')
  assert.equal(await folderState(place.runDir, []), await folderState(dir, ['.git', '.ml', 'vendor']))
  assert.is((await fs.stat(path.join(place.runDir, 'run.sh'))).mode & 0o777, 0o755)
  assert.is(await fs.readlink(path.join(place.runDir, 'link.txt')), 'deep/er/file.txt')
  assert.not.ok(existsSync(path.join(place.runDir, 'vendor')), 'a nested repository is not part of the snapshot\'s files')
  assert.ok(existsSync(path.join(place.ctl, 'run.sh')) && existsSync(path.join(place.ctl, 'lib', 'run_logger.py')))

  const again = await prepareRunFolder(shell, repo, target, placeOf(base, 'p_1700000000001_abcd'), {...record, runId: 'p_1700000000001_abcd'}, path.join('templates', 'common', 'run_logger.py'))
  assert.equal([again.sent, again.sentBytes], [0, 0])
})

test('the environment a wrapper probed becomes environment.json; what it cannot read is left empty', () => {
  const env = parseEnvironment([
    'type=Linux', 'release=6.1.0', 'arch=x86_64', 'hostname=gpu1', 'user=alice', 'cpus=64', 'memory=270000000000', 'cpu=AMD EPYC 7763',
    'interpreter=python3', 'interpreter_path=/usr/bin/python3', 'interpreter_version=Python 3.11.2',
    'gpu=NVIDIA A100-SXM4-80GB, 81920 MiB, 535.104.05', 'gpu=NVIDIA A100-SXM4-80GB, 81920 MiB, 535.104.05', 'garbage line', `long=${'x'.repeat(5000)}`,
  ].join('\n'), '1.2.3')
  assert.equal(env.os, {platform: 'linux', release: '6.1.0', type: 'Linux', arch: 'x86_64'})
  assert.equal(env.cpu, {count: 64, model: 'AMD EPYC 7763'})
  assert.is(env.memoryBytes, 270_000_000_000)
  assert.equal(env.interpreter, {command: 'python3', path: '/usr/bin/python3', version: '3.11.2'})
  assert.is(env.gpus?.length, 2)
  assert.is(env.ml, '1.2.3')
  const empty = parseEnvironment('', 'x')
  assert.equal([empty.cpu.count, empty.memoryBytes, empty.hostname, empty.interpreter], [0, 0, '', undefined])
})

test('attach checks every setting that ends up in a command line or a connection', async () => {
  const dir = tempDir()
  await initProject({dir})
  const home = tempDir('ml-home-')
  const spec = {cwd: dir, home}
  const bad: Array<Record<string, unknown>> = [
    {name: 'local', type: 'ssh', host: 'h'},
    {name: '-x', type: 'ssh', host: 'h'},
    {name: 'a/b', type: 'ssh', host: 'h'},
    {name: 'x', type: 'vm', host: 'h'},
    {name: 'x', type: 'ssh'},
    {name: 'x', type: 'ssh', host: '-oProxyCommand=x'},
    {name: 'x', type: 'ssh', host: 'h; touch PWNED'},
    {name: 'x', type: 'ssh', host: 'bad user@h'},
    {name: 'x', type: 'ssh', host: 'h', port: 0},
    {name: 'x', type: 'ssh', host: 'h', workDir: 'a\nb'},
    {name: 'x', type: 'ssh', host: 'h', identity: 'nosuchkey'},
    {name: 'x', type: 'slurm', partition: 'gpu;rm'},
    {name: 'x', type: 'slurm', sbatchArgs: ['--time=1', 'notanoption']},
  ]
  for (const settings of bad) await thrownAsync(() => attachTarget(dir, {...spec, ...settings} as never), 'INVALID_ARGUMENT')
  const slurm = await attachTarget(dir, {...spec, name: 'hpc', type: 'slurm'})
  assert.is(slurm.workDir, path.join(home, '.ml-runs'), 'without a host, runs go under this machine\'s home')
  const ssh = await attachTarget(dir, {...spec, name: 'gpu', type: 'ssh', host: 'alice@gpu1.example.com', port: 2222})
  assert.equal([ssh.user, ssh.host, ssh.port, ssh.workDir], ['alice', 'gpu1.example.com', 2222, '.ml-runs'])
  await thrownAsync(() => attachTarget(dir, {...spec, name: 'gpu', type: 'ssh', host: 'h'}), 'COMPUTE_EXISTS')
})

test.run()
