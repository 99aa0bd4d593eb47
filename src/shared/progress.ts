/** How far a long operation (a snapshot, a restore) has come, for a progress bar. */
export interface Progress {
  done: number
  total: number
  /** 0 when the operation does not count bytes. */
  bytesDone: number
  bytesTotal: number
}

export type OnProgress = (progress: Progress) => void
