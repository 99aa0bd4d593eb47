import en from 'zod/v4/locales/en.js'
import * as z from 'zod/mini'
import {isGitOid, isInputName, isRunId, isSha256, isSweepId} from './ids.js'
import {unsafeReason} from './tree-path.js'

/** `Corrupt` is never stored: it is how a run whose run.json fails the trust gate is listed. */
export type RunStatus = 'Queued' | 'Running' | 'Completed' | 'Failed' | 'Canceled' | 'Corrupt'

/** A parameter's value, typed as YAML reads it. */
export type ParamValue = string | number | boolean | null

/**
 * One captured output file of a run. Its bytes are in the run's tree under `outputs/`, except
 * for a large file (with `sha256`), which is kept under .ml/large-outputs/ instead.
 */
export interface RunOutput {
  path: string
  size: number
  sha256?: string
}

/**
 * A version of tracked data the run read: the tracked path, its manifest's id (the manifest is
 * in the run's tree as `inputs/<version>`), and its size.
 */
export interface DataInput {
  kind: 'data'
  path: string
  version: string
  files: number
  bytes: number
}

/** Another run's output the run read (`--input NAME=RUN:outputs/PATH`), by content. */
export interface RunOutputInput {
  kind: 'run'
  /** The name the script knows it by: ML_INPUT_<NAME>. */
  name: string
  run: string
  /** The output's path, relative to the producing run's outputs/. */
  path: string
  size: number
  sha256: string
}

export type RunInput = DataInput | RunOutputInput

/** The record of one run, stored as run.json in the run's commits. */
export interface RunRecord {
  schema: 1
  runId: string
  projectId: string
  projectName: string
  script: string
  arguments: string[]
  compute: string
  status: RunStatus
  startTimeUtc: string
  endTimeUtc?: string
  durationMs?: number
  exitCode?: number
  error?: string
  snapshotId: string
  host: string
  /** The ml process that runs it, to tell a run whose process was killed from one still going. */
  pid?: number
  outputs: RunOutput[]
  /** The last value of each metric the run logged (all values are in metrics.jsonl). */
  metrics?: Record<string, number>
  /** The run's parameters: from params.yaml/json, its arguments, and what it logged (see runs/params.ts). */
  params?: Record<string, ParamValue>
  /** The sweep the run is part of (`ml experiment sweep`). */
  sweepId?: string
  /** When it was queued (`--queue`); its start time is when a worker started it. */
  queuedTimeUtc?: string
  /** True when it ran in a private checkout of its snapshot (.ml/work/<run-id>/), not in the project folder. */
  isolated?: boolean
  /** What the run read besides its snapshot: tracked data's versions, other runs' outputs. */
  inputs?: RunInput[]
  properties: Record<string, string>
}

/**
 * The gate for run.json, read from a run's tree: a record pushed by another machine or crafted
 * by hand is untrusted until it passes this schema. Loaded only when a record is read from git
 * (never by a listing served from the run cache), so zod costs nothing at start-up.
 */
z.config(en())

const isoTime = z.iso.datetime()
const outputPath = z.string().check(z.refine((p) => unsafeReason(p) === null, {message: 'is not a safe relative path'}))

const output = z.object({
  path: outputPath,
  size: z.number().check(z.int(), z.nonnegative()),
  sha256: z.optional(z.string().check(z.refine(isSha256, {message: 'is not a sha256 (64 hex digits)'}))),
})

const count = z.number().check(z.int(), z.nonnegative())
const sha256 = z.string().check(z.refine(isSha256, {message: 'is not a sha256 (64 hex digits)'}))

const input = z.discriminatedUnion('kind', [
  z.object({kind: z.literal('data'), path: outputPath, version: sha256, files: count, bytes: count}),
  z.object({
    kind: z.literal('run'),
    name: z.string().check(z.refine(isInputName, {message: 'is not an input name (letters, digits and _)'})),
    run: z.string().check(z.refine(isRunId, {message: 'is not a valid run id'})),
    path: outputPath,
    size: count,
    sha256,
  }),
])

const record = z.object({
  schema: z.literal(1),
  runId: z.string().check(z.refine(isRunId, {message: 'is not a valid run id'})),
  projectId: z.string(),
  projectName: z.string(),
  script: z.string(),
  arguments: z.array(z.string()),
  compute: z.string(),
  status: z.enum(['Queued', 'Running', 'Completed', 'Failed', 'Canceled']),
  startTimeUtc: isoTime,
  endTimeUtc: z.optional(isoTime),
  durationMs: z.optional(z.number().check(z.nonnegative())),
  exitCode: z.optional(z.number().check(z.int())),
  error: z.optional(z.string()),
  snapshotId: z.string().check(z.refine(isGitOid, {message: 'is not a git commit id (40 hex digits)'})),
  host: z.string(),
  pid: z.optional(z.number().check(z.int(), z.positive())),
  outputs: z.array(output).check(z.refine(distinctFiles, {message: 'has the same file twice, or a file inside another file'})),
  metrics: z.optional(z.record(z.string(), z.number())),
  params: z.optional(z.record(z.string().check(z.minLength(1), z.maxLength(200)), z.union([z.string().check(z.maxLength(10_000)), z.number(), z.boolean(), z.null()]))),
  sweepId: z.optional(z.string().check(z.refine(isSweepId, {message: 'is not a valid sweep id'}))),
  queuedTimeUtc: z.optional(isoTime),
  isolated: z.optional(z.boolean()),
  inputs: z.optional(z.array(input).check(z.maxLength(1000))),
  properties: z.record(z.string(), z.string()),
})

/** Outputs are written as files under one folder: no path may repeat or be the folder of another. */
function distinctFiles(outputs: Array<{path: string}>): boolean {
  const paths = outputs.map((o) => o.path).sort()
  return paths.every((p, i) => i === 0 || (p !== paths[i - 1] && !p.startsWith(`${paths[i - 1]}/`)))
}

/**
 * The record in `data` (run.json of the run whose ref is `refs/ml/runs/<refRunId>`), or why it is
 * not one. A record naming another run than its ref is refused: it must never act on that run.
 */
export function checkRunRecord(data: Buffer | null, refRunId: string): {record: RunRecord} | {reason: string} {
  if (data === null) return {reason: 'the run has no run.json'}
  let json: unknown
  try {
    json = JSON.parse(data.toString('utf8'))
  } catch (error) {
    return {reason: `run.json is not JSON (${(error as SyntaxError).message})`}
  }
  const result = record.safeParse(json)
  if (!result.success) {
    const [issue] = result.error.issues
    return {reason: `run.json ${issue.path.length ? `field ${issue.path.join('.')} ` : ''}${issue.message.replace(/^Invalid input: /, '')}`}
  }
  if (result.data.runId !== refRunId) return {reason: `run.json names the run ${result.data.runId}, not the run of its ref`}
  const checked: RunRecord = result.data
  return {record: checked}
}
