import {randomBytes} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import {userInfo} from 'node:os'
import path from 'node:path'
import type {Client, ClientChannel, SFTPWrapper} from 'ssh2'
import {hostKeyProblem} from '../git/host-check.js'
import {isMlError, MlError} from '../shared/errors.js'
import {outputCollector, type Shell, type ShellResult} from './shell.js'

/** Where to connect and as whom: a target's host settings. */
export interface SshPlace {
  host: string
  port?: number
  user?: string
  /** A private key file tried first. */
  identity?: string
}

/** What ml knows of the user's ssh setup: the same sources as for ssh remotes. */
export interface SshAuth {
  home: string
  /** SSH_AUTH_SOCK, ML_SSH_KEY, ML_SSH_PASSPHRASE, ML_SSH_KNOWN_HOSTS. */
  env: NodeJS.ProcessEnv
}

const SFTP_NO_SUCH_FILE = 2

/**
 * Connects to an ssh host as a Shell (ssh2: exec channels and SFTP on one connection). The
 * host key must be in ~/.ssh/known_hosts or ML_SSH_KNOWN_HOSTS, as for remotes; keys are tried
 * in order: the target's identity, ssh-agent, ML_SSH_KEY, ~/.ssh/id_ed25519, id_ecdsa, id_rsa.
 */
export async function connectSsh(place: SshPlace, auth: SshAuth, timeoutMs = 15_000): Promise<Shell> {
  const {Client} = (await import('ssh2')).default // loaded only when a target is used
  const port = place.port ?? 22
  const username = place.user ?? userInfo().username
  const where = `${username}@${place.host}${port === 22 ? '' : `:${port}`}`
  const methods = await authMethods(place, auth, username)
  const tried = methods.map((m) => m.label)
  const client = new Client()
  let keyProblem: MlError | null = null
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve())
    client.once('error', (error: Error & {level?: string; code?: string}) => {
      client.end()
      if (keyProblem) reject(keyProblem)
      else if (error.level === 'client-authentication') reject(new MlError('AUTH_FAILED', `${where} refused every key ml tried (${tried.join(', ') || 'none: no ssh-agent, no ML_SSH_KEY, no ~/.ssh/id_* key'}); add one of them to the host's authorized_keys, or give the target's key with --identity.`))
      else reject(new MlError('COMPUTE_UNREACHABLE', `Could not connect to ${where} (${error.code ?? error.message}); check the host and port, and that sshd runs there.`, {cause: error}))
    })
    client.connect({
      host: place.host,
      port,
      username,
      readyTimeout: timeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        const files = [path.join(auth.home, '.ssh', 'known_hosts'), auth.env.ML_SSH_KNOWN_HOSTS].filter((f): f is string => Boolean(f))
        hostKeyProblem(place.host, port, Buffer.from(key), files).then((problem) => {
          keyProblem = problem
          verify(!problem)
        }, (error: Error) => {
          keyProblem = new MlError('HOST_KEY_UNKNOWN', `The SSH host key of ${where} could not be checked (${error.message}).`)
          verify(false)
        })
      },
      authHandler: (_left: unknown, _partial: unknown, next: (method: unknown) => void) => next(methods.shift()?.method ?? false),
    } as never)
  })
  return new SshShell(client, where)
}

interface AuthMethod {
  label: string
  method: Record<string, unknown>
}

async function authMethods(place: SshPlace, auth: SshAuth, username: string): Promise<AuthMethod[]> {
  const {utils} = (await import('ssh2')).default
  const methods: AuthMethod[] = []
  const keyFile = async (file: string | undefined) => {
    if (!file || !existsSync(file) || methods.some((m) => m.label === file)) return
    const key = await fs.readFile(file)
    const passphrase = auth.env.ML_SSH_PASSPHRASE
    const parsed = utils.parseKey(key, passphrase)
    if (parsed instanceof Error) return // encrypted without ML_SSH_PASSPHRASE, or a kind ssh2 cannot use
    methods.push({label: file, method: {type: 'publickey', username, key, ...passphrase && {passphrase}}})
  }
  await keyFile(place.identity)
  if (auth.env.SSH_AUTH_SOCK) methods.push({label: 'ssh-agent', method: {type: 'agent', username, agent: auth.env.SSH_AUTH_SOCK}})
  for (const file of [auth.env.ML_SSH_KEY, ...['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(auth.home, '.ssh', f))]) await keyFile(file)
  return methods
}

class SshShell implements Shell {
  bytesSent = 0
  private closed: string | null = null
  private sftpChannel?: Promise<SFTPWrapper>

  constructor(private readonly client: Client, readonly where: string) {
    client.on('close', () => (this.closed ??= 'the connection was closed'))
    client.on('error', (error: Error) => (this.closed ??= error.message))
  }

  private lost(): MlError {
    return new MlError('COMPUTE_CONNECTION_LOST', `Lost the connection to ${this.where} (${this.closed ?? 'it stopped answering'}).`)
  }

  /** A failure of the connection itself becomes COMPUTE_CONNECTION_LOST; others are left as they are. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw this.lost()
    try {
      return await fn()
    } catch (error) {
      if (this.closed || /No response from server|Not connected|Channel open failure|connection/i.test((error as Error).message)) {
        if (!isMlError(error)) throw this.lost()
      }
      throw error
    }
  }

  run(command: string, stdin?: string): Promise<ShellResult> {
    return this.guard(() => new Promise<ShellResult>((resolve, reject) => {
      this.client.exec(command, (error: Error | undefined, stream: ClientChannel) => {
        if (error) return reject(error)
        const output = outputCollector()
        let code: number | null = null
        stream.on('data', output.stdout)
        stream.stderr.on('data', output.stderr)
        stream.on('exit', (c: number | null, signal?: string) => (code = c ?? (signal ? 143 : 1)))
        stream.on('close', () => {
          if (code === null) reject(this.lost())
          else resolve(output.result(code))
        })
        stream.end(stdin ?? '')
      })
    }))
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpChannel ??= new Promise((resolve, reject) => this.client.sftp((error, sftp) => {
      if (!error) return resolve(sftp)
      reject(this.closed ? this.lost() : new MlError('COMPUTE_ERROR', `${this.where} does not offer SFTP (${error.message}), which ml sends and fetches files with; enable sshd's \`Subsystem sftp\` there.`))
    }))
    return this.sftpChannel
  }

  writeFile(file: string, data: Buffer | string, mode = 0o644): Promise<void> {
    return this.guard(async () => {
      const sftp = await this.sftp()
      const temp = `${file}.tmp-${randomBytes(4).toString('hex')}`
      await new Promise<void>((resolve, reject) => sftp.writeFile(temp, data, {mode}, (error) => (error ? reject(error) : resolve())))
      // OpenSSH's posix-rename replaces an existing file, as rename(2) does.
      await new Promise<void>((resolve, reject) => sftp.ext_openssh_rename(temp, file, (error) => (error ? reject(error) : resolve())))
      this.bytesSent += Buffer.byteLength(data)
    })
  }

  readFile(file: string, offset = 0, max = Number.MAX_SAFE_INTEGER): Promise<Buffer | null> {
    return this.guard(async () => {
      const sftp = await this.sftp()
      const handle = await new Promise<Buffer | null>((resolve, reject) => sftp.open(file, 'r', (error, h) => {
        if (!error) resolve(h)
        else if ((error as Error & {code?: number}).code === SFTP_NO_SUCH_FILE) resolve(null)
        else reject(error)
      }))
      if (!handle) return null
      try {
        const {size} = await new Promise<{size: number}>((resolve, reject) => sftp.fstat(handle, (error, stats) => (error ? reject(error) : resolve(stats))))
        const chunks: Buffer[] = []
        let position = offset
        const end = Math.min(size, offset + max)
        while (position < end) {
          const length = Math.min(end - position, 32_768)
          const bytesRead = await new Promise<number>((resolve, reject) => sftp.read(handle, Buffer.alloc(length), 0, length, position, (error, n, buffer) => {
            if (error) return reject(error)
            chunks.push(buffer.subarray(0, n))
            resolve(n)
          }))
          if (bytesRead === 0) break
          position += bytesRead
        }
        return Buffer.concat(chunks)
      } finally {
        await new Promise<void>((resolve) => sftp.close(handle, () => resolve()))
      }
    })
  }

  download(file: string, local: string): Promise<void> {
    return this.guard(async () => {
      const sftp = await this.sftp()
      await new Promise<void>((resolve, reject) => sftp.fastGet(file, local, (error) => (error ? reject(error) : resolve())))
    })
  }

  close(): void {
    this.closed ??= 'closed by ml'
    this.client.end()
  }
}
