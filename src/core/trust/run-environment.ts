import * as z from 'zod/mini'
import {MAX_ENVIRONMENT_STRING, MAX_GPUS} from './environment-limits.js'

/**
 * Where a run ran, stored as environment.json beside run.json: what a later `history info` or
 * `history diff` needs to explain why two runs of the same snapshot behaved differently.
 */
export interface RunEnvironment {
  schema: 1
  os: {platform: string; release: string; type: string; arch: string}
  cpu: {count: number; model: string}
  memoryBytes: number
  hostname: string
  user: string
  /** The Node.js that ran ml (process.version). */
  node: string
  /** ml's own version. */
  ml: string
  /** What ran the script: `path` is the command found on PATH, `executable` what it resolved to (sys.executable). */
  interpreter?: {command: string; path?: string; version?: string; executable?: string}
  gpus?: RunGpu[]
  conda?: {prefix: string}
}

/** One GPU as nvidia-smi reports it; `memoryTotal` is its text, e.g. `81920 MiB`. */
export interface RunGpu {
  name: string
  memoryTotal: string
  driverVersion: string
}

/** A larger environment.json is not one ml wrote, and is not parsed at all. */
const MAX_ENVIRONMENT_BYTES = 1 << 20

const text = z.string().check(z.maxLength(MAX_ENVIRONMENT_STRING))
const count = z.number().check(z.int(), z.nonnegative())

const environment = z.object({
  schema: z.literal(1),
  os: z.object({platform: text, release: text, type: text, arch: text}),
  cpu: z.object({count, model: text}),
  memoryBytes: count,
  hostname: text,
  user: text,
  node: text,
  ml: text,
  interpreter: z.optional(z.object({command: text, path: z.optional(text), version: z.optional(text), executable: z.optional(text)})),
  gpus: z.optional(z.array(z.object({name: text, memoryTotal: text, driverVersion: text})).check(z.maxLength(MAX_GPUS))),
  conda: z.optional(z.object({prefix: text})),
})

/**
 * The gate for environment.json, read from a run's tree: a record pushed by another machine is
 * untrusted, so anything that is not what ml writes (wrong types, overlong strings) is null,
 * and a field ml does not know is dropped rather than shown.
 */
export function checkRunEnvironment(data: Buffer | string | null): RunEnvironment | null {
  if (data === null || data.length > MAX_ENVIRONMENT_BYTES) return null
  let json: unknown
  try {
    json = JSON.parse(data.toString())
  } catch {
    return null
  }
  const result = environment.safeParse(json)
  if (!result.success) return null
  const checked: RunEnvironment = result.data
  return checked
}
