/**
 * Deterministic fault injection for the crash tests, like git's GIT_TEST_* variables: the CLI
 * sets the point from ML_TEST_CRASH_AT (only when that is set), and the process kills itself
 * with SIGKILL when it reaches it, as a power cut or `kill -9` would.
 */
let armed: string | undefined

export function armCrashPoint(point: string | undefined): void {
  armed = point || undefined
}

/** Dies here when this is the armed point. */
export function crashPoint(point: string): void {
  if (armed === point) process.kill(process.pid, 'SIGKILL')
}

/** True when a point starting with `prefix` is armed: a caller can then skip work that only feeds crash points. */
export function crashPointArmed(prefix: string): boolean {
  return armed?.startsWith(prefix) ?? false
}
