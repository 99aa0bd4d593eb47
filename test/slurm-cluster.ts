import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, promises as fs, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {freePort} from './servers.js'

/**
 * A real single-node Slurm cluster for end-to-end tests: munged, slurmctld and slurmd in the
 * foreground as our children, every file (conf, key, sockets, state, spool, pids, logs) in one
 * temp folder, every port on 127.0.0.1. Needs root and Debian's slurmctld, slurmd,
 * slurm-client and munge.
 */

export interface SlurmCluster {
  /** The folder holding slurm.conf, state, logs. */
  dir: string
  /** Environment to give any process that runs sbatch/squeue/sacct/scancel/scontrol (SLURM_CONF=..., and whatever else is needed). */
  env: Record<string, string>
  /** The partition's name (the default one). */
  partition: string
  /** The node's name. */
  node: string
  /** Stops slurmd, slurmctld and munged (waits until they are gone) and removes dir. */
  stop(): Promise<void>
}

const DAEMONS = ['munged', 'slurmctld', 'slurmd', 'slurmstepd'] as const
const CLIENTS = ['sbatch', 'squeue', 'sinfo', 'scancel', 'scontrol'] as const
const SBIN = ['/usr/sbin', '/sbin', '/usr/local/sbin']

/** The absolute path of `name` on PATH (or in an sbin folder), or undefined. */
function which(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SBIN]) {
    const file = path.join(dir, name)
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {
      // not here
    }
  }
  return undefined
}

/** True when the Slurm daemons and munge are installed and we are root (tests use it to fail clearly, never to skip silently). */
export function slurmAvailable(): boolean {
  return process.getuid?.() === 0 && [...DAEMONS, ...CLIENTS].every((name) => which(name) !== undefined)
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeout = 15_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, {env, timeout, encoding: 'utf8'}, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
      resolve({code, stdout, stderr: stderr || (error && code === null ? String(error) : '')})
    })
  })
}

/** Whether process `pid` still exists (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Every process whose environment holds one of `markers` (exact `NAME=value` entries), but us. */
function marked(markers: string[]): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')
      if (markers.some((m) => env.includes(m)) && alive(pid)) found.push(pid)
    } catch {
      // gone, or a kernel thread
    }
  }
  return found
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

/** Waits until none of `pids` is alive; false after `ms`. */
async function gone(pids: number[], ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (pids.some(alive)) {
    if (Date.now() > until) return false
    await sleep(50)
  }
  return true
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(none)'
  }
}

/** Starts munged, slurmctld and slurmd with a slurm.conf in a fresh temp dir; resolves once `sinfo` shows the node idle (timeout ~30 s, with the daemons' logs in the error). */
export async function startSlurm(options: {cpus?: number} = {}): Promise<SlurmCluster> {
  if (!slurmAvailable()) throw new Error(`startSlurm needs root and ${[...DAEMONS, ...CLIENTS].join(', ')} (Debian: slurmctld slurmd slurm-client munge)`)
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ml-slurm-'))
  // munged warns when its socket's folder is not searchable by all; jobs run as the submitter (root) anyway.
  await fs.chmod(dir, 0o755)
  const id = randomBytes(4).toString('hex')
  const cluster = `ml${id}`
  const partition = 'debug'
  const node = os.hostname().split('.')[0]
  const cpus = options.cpus ?? os.cpus().length
  const conf = path.join(dir, 'slurm.conf')
  const socket = path.join(dir, 'munge.socket')
  // Marks the daemons' processes (slurmstepd inherits slurmd's environment) so stop() finds any left over.
  const daemonMarker = `ML_SLURM_TEST_DAEMON=${dir}`
  // Every job step's processes carry their cluster's name.
  const jobMarker = `SLURM_CLUSTER_NAME=${cluster}`
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()]
  for (const sub of ['state', 'spool']) mkdirSync(path.join(dir, sub))
  writeFileSync(path.join(dir, 'munge.key'), randomBytes(1024), {mode: 0o400})
  writeFileSync(path.join(dir, 'plugstack.conf'), '')
  writeFileSync(conf, [
    `ClusterName=${cluster}`,
    `SlurmctldHost=${node}(127.0.0.1)`,
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${slurmdPort}`,
    // Bind to what the host name resolves to (127.0.0.1 here), not to every address.
    'CommunicationParameters=NoInAddrAny,NoCtldInAddrAny',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${socket}`,
    'SlurmUser=root',
    'SlurmdUser=root',
    `StateSaveLocation=${dir}/state`,
    `SlurmdSpoolDir=${dir}/spool`,
    `SlurmctldPidFile=${dir}/slurmctld.pid`,
    `SlurmdPidFile=${dir}/slurmd.pid`,
    `SlurmctldLogFile=${dir}/slurmctld.log`,
    `SlurmdLogFile=${dir}/slurmd.log`,
    'SlurmctldDebug=info',
    'SlurmdDebug=info',
    `PlugStackConfig=${dir}/plugstack.conf`,
    'MailProg=/bin/true',
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'MpiDefault=none',
    'SwitchType=switch/none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'SchedulerType=sched/backfill',
    // Schedule at submit and on every job end without delay, and look at pending jobs every second.
    'SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1',
    'MinJobAge=300',
    'KillWait=5',
    'InactiveLimit=0',
    'MessageTimeout=10',
    'SlurmdTimeout=300',
    'ReturnToService=2',
    // Accept a node with more CPUs configured than the machine has (options.cpus).
    'SlurmdParameters=config_overrides',
    `NodeName=${node} NodeAddr=127.0.0.1 NodeHostname=${node} CPUs=${cpus} State=UNKNOWN`,
    `PartitionName=${partition} Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
    '',
  ].join('\n'))

  const clientEnv: Record<string, string> = {SLURM_CONF: conf}
  const daemonEnv: NodeJS.ProcessEnv = {...process.env, SLURM_CONF: conf, ML_SLURM_TEST_DAEMON: dir}
  const children: Array<{name: string; child: ChildProcess}> = []
  const killAll = () => {
    for (const {child} of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  process.on('exit', killAll)

  const daemon = (name: string, args: string[]) => {
    const out = openSync(path.join(dir, `${name}.stderr`), 'a')
    try {
      const child = spawn(which(name)!, args, {cwd: dir, env: daemonEnv, stdio: ['ignore', out, out]})
      child.on('error', () => {}) // seen as an exit below
      children.push({name, child})
      return child
    } finally {
      closeSync(out)
    }
  }
  const logs = () => ['munged.stderr', 'slurmctld.log', 'slurmctld.stderr', 'slurmd.log', 'slurmd.stderr']
    .map((f) => `--- ${f}\n${tail(path.join(dir, f))}`).join('\n')

  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    try {
      const ctld = children.find((c) => c.name === 'slurmctld')?.child
      const ctldUp = ctld !== undefined && ctld.exitCode === null && ctld.signalCode === null
      if (ctldUp) {
        // End the jobs through Slurm first, so their steps clean up as they would on a real cluster.
        const env = {...process.env, ...clientEnv}
        await run(which('scancel')!, ['--user', os.userInfo().username], env, 10_000)
        const until = Date.now() + 15_000
        while (Date.now() < until) {
          const q = await run(which('squeue')!, ['-h', '-o', '%i'], env, 5_000)
          if (q.code !== 0 || q.stdout.trim() === '') break
          await sleep(200)
        }
      }
      // slurmd first (no new steps), then slurmctld, then munged.
      for (const name of ['slurmd', 'slurmctld', 'munged']) {
        for (const {child} of children.filter((c) => c.name === name)) {
          if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue
          const exited = new Promise((resolve) => child.once('exit', resolve))
          child.kill('SIGTERM')
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
          await exited
          clearTimeout(timer)
        }
      }
      // Whatever is left: slurmstepd and job processes.
      for (let round = 0; round < 3; round++) {
        const left = marked([daemonMarker, jobMarker])
        if (left.length === 0) break
        for (const pid of left) signal(pid, round === 0 ? 'SIGTERM' : 'SIGKILL')
        await gone(left, round === 0 ? 3_000 : 5_000)
      }
      const still = marked([daemonMarker, jobMarker])
      if (still.length > 0) throw new Error(`Slurm processes left behind: ${still.join(', ')}`)
    } finally {
      process.off('exit', killAll)
      rmSync(dir, {recursive: true, force: true})
    }
  }

  try {
    const munged = daemon('munged', ['--foreground', '--force', `--key-file=${dir}/munge.key`, `--socket=${socket}`,
      `--pid-file=${dir}/munged.pid`, `--log-file=${dir}/munged.log`, `--seed-file=${dir}/munged.seed`, '--num-threads=4'])
    for (let i = 0; !existsSync(socket); i++) {
      if (munged.exitCode !== null || munged.signalCode !== null || i > 200) throw new Error('munged did not start')
      await sleep(25)
    }
    const ctld = daemon('slurmctld', ['-D', '-f', conf])
    const slurmd = daemon('slurmd', ['-D', '-f', conf])
    const env = {...process.env, ...clientEnv}
    const until = Date.now() + 30_000
    let last = ''
    for (;;) {
      for (const [name, child] of [['munged', munged], ['slurmctld', ctld], ['slurmd', slurmd]] as const) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode})`)
      }
      const r = await run(which('sinfo')!, ['-h', '-N', '-n', node, '-o', '%T'], env, 5_000)
      last = `sinfo exit ${r.code}: ${r.stdout.trim()} ${r.stderr.trim()}`
      if (r.code === 0 && r.stdout.trim() === 'idle') break
      if (Date.now() > until) throw new Error(`the node did not become idle within 30 s (last ${last})`)
      await sleep(200)
    }
  } catch (error) {
    const message = `startSlurm failed: ${(error as Error).message}\n${logs()}`
    await stop().catch(() => {})
    throw new Error(message)
  }
  return {dir, env: clientEnv, partition, node, stop}
}
