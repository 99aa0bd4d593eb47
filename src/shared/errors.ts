/**
 * The one error type of `ml`. `code` is stable and is what tests and scripts match on;
 * `message` is a full sentence that names the problem and the fix.
 */
export type ErrorCode =
  | 'PROJECT_EXISTS'
  | 'NOT_A_PROJECT'
  | 'PROJECT_CORRUPT'
  | 'INVALID_ARGUMENT'
  | 'INVALID_PARAMS'
  | 'SCRIPT_NOT_FOUND'
  | 'SCRIPT_OUTSIDE_PROJECT'
  | 'SCRIPT_NOT_EXECUTABLE'
  | 'INTERPRETER_NOT_FOUND'
  | 'RUN_IN_PROGRESS'
  | 'RUN_NOT_QUEUED'
  | 'SWEEP_NOT_FOUND'
  | 'QUEUE_WORKER_RUNNING'
  | 'QUEUE_NOT_RUNNING'
  | 'UNKNOWN_COMPUTE'
  | 'COMPUTE_EXISTS'
  | 'COMPUTE_IN_USE'
  | 'COMPUTE_UNREACHABLE'
  | 'COMPUTE_CONNECTION_LOST'
  | 'COMPUTE_ERROR'
  | 'RUN_NOT_CANCELABLE'
  | 'UNKNOWN_TEMPLATE'
  | 'RUN_NOT_FOUND'
  | 'RUN_CORRUPT'
  | 'NOTHING_TO_UNDO'
  | 'BACKUP_NOT_FOUND'
  | 'CONFIRMATION_REQUIRED'
  | 'ABORTED'
  | 'CONCURRENT_UPDATE'
  | 'GIT_ERROR'
  | 'NO_REMOTE'
  | 'REMOTE_NOT_EMPTY'
  | 'NOT_AN_ML_REMOTE'
  | 'REMOTE_UNREACHABLE'
  | 'REMOTE_ERROR'
  | 'AUTH_FAILED'
  | 'HOST_KEY_UNKNOWN'
  | 'HOST_KEY_CHANGED'
  | 'TLS_CERT_INVALID'
  | 'PUSH_REJECTED'
  | 'DESTINATION_EXISTS'
  | 'UNSAFE_PATH'
  | 'SNAPSHOT_TOO_LARGE'
  | 'SNAPSHOT_TOO_DEEP'
  | 'UNSUPPORTED_NAME'
  | 'LOCKED'
  | 'WRITE_FAILED'
  | 'INSTALL_BROKEN'
  | 'NO_STORE'
  | 'STORE_UNREACHABLE'
  | 'STORE_ERROR'
  | 'STORE_CORRUPT'
  | 'DATA_MISSING'
  | 'DATA_CORRUPT'
  | 'INTERNAL'

export class MlError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'MlError'
    this.code = code
  }
}

export function isMlError(error: unknown, code?: ErrorCode): error is MlError {
  return error instanceof MlError && (code === undefined || error.code === code)
}
