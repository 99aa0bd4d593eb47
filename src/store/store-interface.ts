import type {Stats} from 'node:fs'

/** What opening a store needs, all of it explicit: a store never reads process.env or the real HOME. */
export interface StoreOptions {
  /** The folder a relative folder path in the URL is taken from (the project folder). */
  baseDir: string
  /** This user's home: ~/.ssh (keys, known_hosts) and ~/.aws (config, credentials) are under it. */
  home: string
  /** The environment: SSH_AUTH_SOCK, ML_SSH_KEY, ML_SSH_PASSPHRASE, ML_SSH_KNOWN_HOSTS for ssh (as
   *  compute targets use them); the standard AWS variables for s3 (AWS_ACCESS_KEY_ID,
   *  AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE,
   *  AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL). */
  env: NodeJS.ProcessEnv
  /** s3 only: the endpoint of an S3-compatible service (`--endpoint`); wins over the environment. */
  endpoint?: string
  /** How long to wait for a connection (default about 10 s). */
  connectTimeoutMs?: number
}

/** The parts of a file's stat that tell it has not changed since it was hashed (as git's index does). */
export type VouchedStat = Pick<Stats, 'size' | 'mtimeMs' | 'ctimeMs' | 'ino' | 'mode'>

/** Whether `st` is still the stat that was vouched for. */
export function sameStat(st: VouchedStat, vouched: VouchedStat): boolean {
  return st.size === vouched.size && st.mtimeMs === vouched.mtimeMs && st.ctimeMs === vouched.ctimeMs && st.ino === vouched.ino && st.mode === vouched.mode
}

/**
 * Files kept by their content's sha256, the same way in every backend: at
 * `<root>/sha256/<first 2 hex>/<remaining 62 hex>`, visible only once whole and verified.
 */
export interface ArtifactStore {
  /** The store's URL, safe to print. */
  readonly where: string
  /** Of `ids` (sha256, 64 lowercase hex), the ones the store holds (whole: a temp/partial upload never counts). */
  has(ids: string[]): Promise<Set<string>>
  /**
   * Sends the local file `file` of `size` bytes as object `id`, streamed (never whole in memory).
   * The bytes are hashed as they are sent: if they do not hash to `id` or are not `size` bytes
   * (the file changed meanwhile), nothing becomes visible and it fails with DATA_CORRUPT naming
   * the file. The object is visible under its id only once whole (temp name then rename; for S3
   * a single PUT or a completed multipart upload). Two puts of the same id at once (two machines)
   * both succeed. An object already there is not sent again.
   * `vouched` is the stat `file` had when it was hashed to `id` (the data stat cache): a store
   * may then copy it without hashing it again, as long as the file still has that stat after the
   * copy (the folder store does, with the kernel's copy; the others hash as they send anyway).
   */
  put(id: string, file: string, size: number, onBytes?: (bytes: number) => void, vouched?: VouchedStat): Promise<void>
  /**
   * Fetches object `id`, expected to be `size` bytes, into the local file `dest` (which must not
   * exist yet; its folder exists): streamed into a temporary file beside `dest`, hashed on the
   * way, never more than `size` bytes read; renamed to `dest` only if it is exactly `size` bytes
   * hashing to `id`. Other bytes are STORE_CORRUPT; a missing object is DATA_MISSING; a full
   * disk or a kill leaves no file at `dest` (a kill may leave a temp file that
   * `isStoreTempFile` tells).
   */
  get(id: string, dest: string, size: number, onBytes?: (bytes: number) => void): Promise<void>
  /**
   * A store on this machine's filesystem (the folder store) may copy object `id` to `dest` (a
   * temporary name of the caller's) with the kernel, unchecked: the caller hashes it (on all
   * cores) and renames it into place only if it holds `id`. DATA_MISSING when absent.
   */
  copyOut?(id: string, dest: string): Promise<void>
  close(): Promise<void>
}
