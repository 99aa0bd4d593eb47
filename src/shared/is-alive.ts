import {existsSync, readFileSync} from 'node:fs'

const HAS_PROC = existsSync('/proc/self/stat')

/**
 * Whether the process `pid` of this machine still runs. A zombie (ended, not yet reaped: in a
 * container whose init never reaps, it stays one) has ended.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  if (!HAS_PROC) return true
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false // it ended just now
    throw error
  }
}
