import {promises as fs} from 'node:fs'
import type {ShadowRepo} from '../../git/shadow-repo.js'
import {MODE} from '../../git/trees.js'
import {MlError} from '../../shared/errors.js'
import {runPool} from '../../shared/run-pool.js'
import {OUTPUTS_DIR} from '../project/layout.js'
import {commandFor} from '../runs/script-command.js'
import type {RunRecord} from '../runs/runs.js'
import {unsafeReason} from '../trust/tree-path.js'
import {quote, runChecked, type Shell} from '../../ssh/shell.js'
import {mlflowEnvLines, storeScript} from './mlflow-store.js'
import type {ComputeTarget} from './targets.js'

/**
 * Where a run lives on a target, all absolute: `<work-dir>/<project-id>/` holds `objects/` (the
 * snapshot's files by their git blob id, kept for the project's next runs), `<run-id>/` (the run
 * folder: the snapshot's files, then outputs/) and `<run-id>.ml/` (ml's: the wrapper, the log,
 * the metrics file, MLflow's file store mlruns/, and the status files the wrapper leaves: pid,
 * started, exit).
 */
export interface RunPlace {
  base: string
  runDir: string
  ctl: string
}

/** The files the wrapper leaves in the control folder. */
export const CTL = {log: 'output.log', metrics: 'metrics.jsonl', pid: 'pid', started: 'started', exit: 'exit', canceled: 'canceled', environment: 'environment.txt', requirements: 'requirements.txt', wrapper: 'run.sh'} as const

/** The run's place on the target (nothing is made). */
export function placeOf(base: string, runId: string): RunPlace {
  return {base, runDir: `${base}/${runId}`, ctl: `${base}/${runId}.ml`}
}

/** Makes `<work-dir>/<project-id>/objects/` and returns `<work-dir>/<project-id>` as an absolute path. */
export async function projectBase(shell: Shell, target: ComputeTarget, projectId: string): Promise<string> {
  const base = `${target.workDir.replace(/\/+$/, '')}/${projectId}`
  const out = await runChecked(shell, `mkdir -p ${quote(`${base}/objects`)} && cd ${quote(base)} && pwd -P`, `make the work folder ${base}`)
  const absolute = out.trim()
  if (!absolute.startsWith('/') || absolute.includes('\n')) throw new MlError('COMPUTE_ERROR', `${shell.where} did not say where ${base} is (it printed "${absolute.slice(0, 100)}").`)
  return absolute
}

export interface Materialized {
  /** Files in the run folder. */
  files: number
  /** Of those, the distinct contents that were not on the target yet, and their bytes. */
  sent: number
  sentBytes: number
}

/**
 * Puts the snapshot of `record` into its run folder on the target: the contents the project's
 * objects/ lacks are sent (each once, whatever its path), then a script made here copies each
 * file from objects/ into place with its mode, and makes the symlinks. Nested repositories
 * (gitlinks) are not part of a snapshot's files and are left out. Makes the run's MLflow file
 * store (experiment `experimentName`, see mlflow-store.ts) and writes the wrapper too.
 */
export async function prepareRunFolder(shell: Shell, repo: ShadowRepo, target: ComputeTarget, place: RunPlace, record: RunRecord, runLogger: string, experimentName?: string): Promise<Materialized> {
  const entries = (await repo.listEntries(await repo.treeOf(record.snapshotId))).filter((e) => e.mode !== MODE.GITLINK)
  for (const entry of entries) {
    const reason = unsafeReason(entry.path)
    if (reason) throw new MlError('UNSAFE_PATH', `The snapshot of run ${record.runId} holds ${JSON.stringify(entry.path)}, which ${reason}; it cannot be sent to ${shell.where}.`)
  }
  const blobs = [...new Set(entries.filter((e) => e.mode !== MODE.SYMLINK).map((e) => e.oid))]
  const objects = `${place.base}/objects`
  const missing = blobs.length === 0 ? [] : (await runChecked(shell, `cd ${quote(objects)} && while read -r o; do [ -f "$o" ] || echo "$o"; done`, 'list the files it has', `${blobs.join('\n')}\n`)).split('\n').filter((o) => blobs.includes(o))
  let sentBytes = 0
  await runPool(missing, 8, async (oid) => {
    const data = await repo.readBlob(oid)
    await shell.writeFile(`${objects}/${oid}`, data, 0o444)
    sentBytes += data.length
  })

  const lines = ['set -e', `mkdir -p ${quote(place.runDir)} ${quote(place.ctl)}/lib`, ...storeScript(place, record.runId, experimentName), `cd ${quote(place.runDir)}`]
  const dirs = new Set<string>()
  for (const entry of entries) {
    const dir = entry.path.split('/').slice(0, -1).join('/')
    if (dir && !dirs.has(dir)) {
      dirs.add(dir)
      lines.push(`mkdir -p ${quote(dir)}`)
    }
    if (entry.mode === MODE.SYMLINK) {
      lines.push(`ln -s ${quote((await repo.readBlob(entry.oid)).toString())} ${quote(entry.path)}`)
    } else {
      lines.push(`cp ${quote(`${objects}/${entry.oid}`)} ${quote(entry.path)}`, `chmod ${entry.mode === 0o100755 ? 755 : 644} ${quote(entry.path)}`)
    }
  }
  await runChecked(shell, `mkdir -p ${quote(place.ctl)} && sh -s`, `copy the snapshot into ${place.runDir}`, `${lines.join('\n')}\n`)
  await shell.writeFile(`${place.ctl}/lib/run_logger.py`, await fs.readFile(runLogger))
  await shell.writeFile(`${place.ctl}/${CTL.wrapper}`, wrapperScript(target, place, record, experimentName))
  return {files: entries.length, sent: missing.length, sentBytes}
}

/**
 * The script that runs one run on the target and leaves how it went beside it: its pid (the
 * process group to signal), `started`, the log, the metrics file, the environment, and `exit`
 * (the script's exit status and the time) written last, through a rename. A signal to the
 * group reaches the script (Python's KeyboardInterrupt) while the wrapper waits to record it.
 */
export function wrapperScript(target: ComputeTarget, place: RunPlace, record: RunRecord, experimentName?: string): string {
  const [program, args] = commandFor(record.script, 'node')
  const words = program === 'python3' && target.python ? target.python.split(/\s+/).filter(Boolean) : [program]
  const interpreter = words[0]
  const command = [...words, ...args, ...record.arguments].map(quote).join(' ')
  const probe = [
    'echo "type=$(uname -s)"', 'echo "release=$(uname -r)"', 'echo "arch=$(uname -m)"', 'echo "hostname=$(hostname 2>/dev/null || uname -n)"',
    'echo "user=$(id -un)"', 'echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"',
    `echo "memory=$(awk '/^MemTotal:/ {printf "%.0f", $2 * 1024}' /proc/meminfo 2>/dev/null)"`,
    `echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)"`,
    `echo "interpreter=${interpreter.replace(/["`$\\]/g, '')}"`,
    `echo "interpreter_path=$(command -v ${quote(interpreter)})"`,
    `echo "interpreter_version=$(${quote(interpreter)} --version 2>&1 | head -n 1)"`,
    `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/gpu=/'`,
  ]
  const pip = program === 'python3' ? `(${words.map(quote).join(' ')} -m pip freeze > "$ctl/${CTL.requirements}" 2>/dev/null) &` : ''
  return `#!/bin/sh
# Written by ml for run ${record.runId}: runs it, and leaves how it went in this folder.
ctl=${quote(place.ctl)}
cd ${quote(place.runDir)} || { printf '127\\n%s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$ctl/exit"; exit 127; }
echo $$ > "$ctl/pid.tmp" && mv "$ctl/pid.tmp" "$ctl/${CTL.pid}"
ML_RUN_ID=${quote(record.runId)} ML_PROJECT_DIR="$PWD" ML_OUTPUTS_DIR="$PWD/${OUTPUTS_DIR}" ML_METRICS_FILE="$ctl/${CTL.metrics}" PYTHONUNBUFFERED=1
PYTHONPATH="\${PYTHONPATH:+$PYTHONPATH:}$ctl/lib"
export ML_RUN_ID ML_PROJECT_DIR ML_OUTPUTS_DIR ML_METRICS_FILE PYTHONUNBUFFERED PYTHONPATH
${mlflowEnvLines(place, record.runId, experimentName).join('\n')}
mkdir -p ${OUTPUTS_DIR}
{
${probe.map((l) => `  ${l}`).join('\n')}
} > "$ctl/${CTL.environment}" 2>/dev/null
${pip}
trap 'stopped=1' INT TERM
date -u +%Y-%m-%dT%H:%M:%SZ > "$ctl/${CTL.started}"
${command} > "$ctl/${CTL.log}" 2>&1 < /dev/null
code=$?
wait
printf '%s\\n%s\\n' "$code" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$ctl/exit.tmp" && mv "$ctl/exit.tmp" "$ctl/${CTL.exit}"
`
}
