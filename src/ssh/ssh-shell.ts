import {randomBytes} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import {userInfo} from 'node:os'
import path from 'node:path'
import net, {type Socket} from 'node:net'
import type {Duplex} from 'node:stream'
import type {Client, ClientChannel, SFTPWrapper} from 'ssh2'
import {resolvedHostKeyProblem} from '../git/host-check.js'
import {type ErrorCode, isMlError, MlError} from '../shared/errors.js'
import {outputCollector, type Shell, type ShellResult} from './shell.js'
import {type JumpHop, keySources, readSshConfig, resolveSshConfig, type ResolvedSsh, type SshFlags} from '../shared/ssh-config-resolve.js'

/** Where to connect and as whom: a target's host settings (a Host alias of ~/.ssh/config, or a host name). */
export interface SshPlace {
  host: string
  port?: number
  user?: string
  /** A private key file tried first. */
  identity?: string
}

/** What ml knows of the user's ssh setup: the same sources as for ssh remotes. */
export interface SshAuth {
  /** Whose ~/.ssh/config, known_hosts and id_* keys are read. */
  home: string
  /** SSH_AUTH_SOCK, ML_SSH_KEY, ML_SSH_PASSPHRASE, ML_SSH_KNOWN_HOSTS. */
  env: NodeJS.ProcessEnv
}

/** The codes a connection's failures get: a compute target's by default, a store's for stores. */
export interface SshErrorCodes {
  unreachable: ErrorCode
  lost: ErrorCode
  /** A host that offers no SFTP. */
  error: ErrorCode
}

export interface ConnectOptions {
  /** How long the whole login may take (15 s). */
  timeoutMs?: number
  /**
   * How long the host has to accept the connection and greet (`SSH-2.0-...`), 5 s unless set: a
   * host that is down is told quickly, without cutting short a slow but live login.
   */
  connectTimeoutMs?: number
  codes?: SshErrorCodes
}

const COMPUTE_CODES: SshErrorCodes = {unreachable: 'COMPUTE_UNREACHABLE', lost: 'COMPUTE_CONNECTION_LOST', error: 'COMPUTE_ERROR'}

/** ProxyJump hops through hops through...: more than this is taken for a loop in the config. */
const MAX_JUMPS = 4

const SFTP_NO_SUCH_FILE = 2

/** True for SFTP's "no such file" (a missing file or folder), which callers tell from other failures. */
export function isNoSuchFile(error: unknown): boolean {
  return (error as {code?: unknown} | null)?.code === SFTP_NO_SUCH_FILE
}

/** What one SFTP request carries: OpenSSH's packets hold 32 KiB at least, everywhere. */
const SFTP_PIECE = 32_768
/** readChunks gives out pieces joined up to this many bytes. */
const YIELD_BYTES = 1 << 20
/** Requests in flight per transfer, so that a file moves at the link's speed rather than one round trip per piece. */
const SFTP_WINDOW = 64

/**
 * Connects to an ssh host as a Shell (ssh2: exec channels and SFTP on one connection), as
 * `ssh HOST` would: HOST may be a Host alias of ~/.ssh/config, whose HostName, User, Port,
 * IdentityFile, IdentitiesOnly, UserKnownHostsFile and ProxyJump apply (the place's own port,
 * user and identity win). The host key must be in the known_hosts files (~/.ssh/known_hosts or
 * UserKnownHostsFile's) or ML_SSH_KNOWN_HOSTS, as for remotes; keys are tried in order: the
 * place's identity, IdentityFile's, ssh-agent, ML_SSH_KEY, then ~/.ssh/id_ed25519, id_ecdsa,
 * id_rsa when no IdentityFile is set (IdentitiesOnly: only the files).
 */
export async function connectSsh(place: SshPlace, auth: SshAuth, options: ConnectOptions = {}): Promise<SshShell> {
  const context = await newContext(auth, options)
  try {
    const {client, where} = await login(context, place.host, {port: place.port, user: place.user, identity: place.identity}, undefined, 0)
    return new SshShell(client, where, context.codes, context.clients.filter((c) => c !== client))
  } catch (error) {
    for (const client of context.clients) client.end()
    throw error
  }
}

/** A port on 127.0.0.1 that reaches a host through an ssh connection, open until closed. */
export interface SshTunnel {
  port: number
  close(): Promise<void>
}

/**
 * For a client that connects by itself (libgit2): logs in to the last of `target`'s ProxyJump
 * hops (through the hops before it) and listens on 127.0.0.1, each connection there becoming a
 * channel (forwardOut) to `target`'s host and port, as `ssh -J` carries it. The client still
 * logs in to the target itself, and checks its host key.
 */
export async function tunnelThroughJumps(target: {host: string; port: number; proxyJump: JumpHop[]}, auth: SshAuth, options: ConnectOptions = {}): Promise<SshTunnel> {
  const context = await newContext(auth, options)
  const hops = target.proxyJump
  const sockets = new Set<Duplex>()
  const close = async () => {
    for (const socket of sockets) socket.destroy()
    for (const client of context.clients) client.end()
  }
  try {
    const hop = hops[hops.length - 1]
    const jump = await login(context, hop.host, {port: hop.port, user: hop.user}, hops.length > 1 ? hops.slice(0, -1) : undefined, 1)
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => socket.destroy())
      socket.on('close', () => sockets.delete(socket))
      jump.client.forwardOut('127.0.0.1', 0, target.host, target.port, (error, channel) => {
        if (error) return socket.destroy()
        sockets.add(channel)
        channel.on('close', () => sockets.delete(channel))
        socket.pipe(channel).pipe(socket)
      })
    })
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
    return {
      port: (server.address() as net.AddressInfo).port,
      close: async () => {
        server.close()
        await close()
      },
    }
  } catch (error) {
    await close()
    throw error
  }
}

async function newContext(auth: SshAuth, options: ConnectOptions): Promise<Context> {
  const {Client} = (await import('ssh2')).default // loaded only when a target is used
  return {
    Client,
    auth,
    config: await readSshConfig(auth.home),
    timeoutMs: options.timeoutMs ?? 15_000,
    connectTimeoutMs: Math.min(options.connectTimeoutMs ?? 5000, options.timeoutMs ?? 15_000),
    codes: options.codes ?? COMPUTE_CODES,
    clients: [],
  }
}

interface Context {
  Client: typeof Client
  auth: SshAuth
  config: string
  timeoutMs: number
  connectTimeoutMs: number
  codes: SshErrorCodes
  /** Every connection made, the jump hosts' too, so that a failure or a close ends them all. */
  clients: Client[]
}

/**
 * Logs in to `alias` (resolved against the config), through its ProxyJump hops when it has any
 * (`jumps` overrides them: the hops before a hop of a list), each hop reached by a channel
 * (forwardOut) of the connection to the one before.
 */
async function login(context: Context, alias: string, flags: SshFlags, jumps: JumpHop[] | undefined, depth: number): Promise<{client: Client; where: string}> {
  const ssh = resolveSshConfig(context.config, alias, flags, {home: context.auth.home, localUser: userInfo().username})
  const where = `${ssh.user}@${ssh.host}${ssh.port === 22 ? '' : `:${ssh.port}`}`
  const named = ssh.alias === ssh.host ? where : `${ssh.alias} (${where})`
  const hops = jumps ?? ssh.proxyJump
  let sock: Duplex
  if (hops.length > 0) {
    if (depth >= MAX_JUMPS) throw new MlError('INVALID_ARGUMENT', `ProxyJump in ~/.ssh/config goes through more than ${MAX_JUMPS} hosts to reach ${alias}; is there a loop?`)
    const hop = hops[hops.length - 1]
    const jump = await login(context, hop.host, {port: hop.port, user: hop.user}, hops.length > 1 ? hops.slice(0, -1) : undefined, depth + 1)
    sock = await new Promise<Duplex>((resolve, reject) => jump.client.forwardOut('127.0.0.1', 0, ssh.host, ssh.port, (error, channel) => {
      if (error) reject(new MlError(context.codes.unreachable, `${jump.where}, the ProxyJump host, could not reach ${where} (${error.message}); check the host and port, and that sshd runs there.`, {cause: error}))
      else resolve(channel)
    }))
  } else {
    sock = tcpConnect(ssh.host, ssh.port)
  }
  await greeted(sock, context.connectTimeoutMs).catch((error: Error) => {
    sock.destroy()
    throw new MlError(context.codes.unreachable, `Could not connect to ${named} (${error.message}); check the host and port, and that sshd runs there.`, {cause: error})
  })
  const methods = await authMethods(ssh, context.auth)
  const tried = methods.map((m) => m.label)
  const client = new context.Client()
  context.clients.push(client)
  let keyProblem: MlError | null = null
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve())
    client.once('error', (error: Error & {level?: string; code?: string}) => {
      client.end()
      if (keyProblem) reject(keyProblem)
      else if (error.level === 'client-authentication') reject(new MlError('AUTH_FAILED', `${named} refused every key ml tried (${tried.join(', ') || 'none: no ssh-agent, no ML_SSH_KEY, no ~/.ssh/id_* key'}); add one of them to the host's authorized_keys, or give the target's key with --identity (or IdentityFile in ~/.ssh/config).`))
      else reject(new MlError(context.codes.unreachable, `Could not connect to ${named} (${error.code ?? error.message}); check the host and port, and that sshd runs there.`, {cause: error}))
    })
    client.connect({
      sock,
      username: ssh.user,
      readyTimeout: context.timeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        resolvedHostKeyProblem(ssh, Buffer.from(key), context.auth.home, context.auth.env.ML_SSH_KNOWN_HOSTS).then((problem) => {
          keyProblem = problem
          verify(!problem)
        }, (error: Error) => {
          keyProblem = new MlError('HOST_KEY_UNKNOWN', `The SSH host key of ${named} could not be checked (${error.message}).`)
          verify(false)
        })
      },
      authHandler: (_left: unknown, _partial: unknown, next: (method: unknown) => void) => next(methods.shift()?.method ?? false),
    } as never)
  })
  return {client, where: named}
}

/** A TCP connection to host:port (not waited for: greeted() does, with the connect timeout). */
function tcpConnect(host: string, port: number): Socket {
  return net.connect({host, port})
}

/**
 * Waits until `sock` has said something (an ssh server speaks first: `SSH-2.0-...`), at most
 * `timeoutMs`, and puts what it said back for ssh2 to read. A host that is down, a port that
 * refuses, and one that takes the connection but never answers all fail here, quickly.
 */
function greeted(sock: Duplex, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer)
      sock.off('readable', onReadable)
      sock.off('error', onError)
      sock.off('end', onEnd)
      if (error) reject(error)
      else resolve()
    }
    const onReadable = () => {
      const chunk = sock.read() as Buffer | null
      if (chunk === null) return
      sock.unshift(chunk)
      done()
    }
    const onError = (error: Error & {code?: string}) => done(new Error(error.code ?? error.message))
    const onEnd = () => done(new Error('it closed the connection without a word'))
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs >= 1000 ? `${+(timeoutMs / 1000).toFixed(1)} s` : `${timeoutMs} ms`}`)), timeoutMs)
    sock.on('readable', onReadable)
    sock.on('error', onError)
    sock.on('end', onEnd)
  })
}

interface AuthMethod {
  label: string
  method: Record<string, unknown>
}

async function authMethods(ssh: ResolvedSsh, auth: SshAuth): Promise<AuthMethod[]> {
  const {utils} = (await import('ssh2')).default
  const methods: AuthMethod[] = []
  const username = ssh.user
  const keyFile = async (file: string) => {
    if (!existsSync(file)) return
    const key = await fs.readFile(file)
    const passphrase = auth.env.ML_SSH_PASSPHRASE
    const parsed = utils.parseKey(key, passphrase)
    if (parsed instanceof Error) return // encrypted without ML_SSH_PASSPHRASE, or a kind ssh2 cannot use
    methods.push({label: file, method: {type: 'publickey', username, key, ...passphrase && {passphrase}}})
  }
  for (const source of keySources(ssh, auth.env, auth.home)) {
    if ('agent' in source) methods.push({label: 'ssh-agent', method: {type: 'agent', username, agent: source.agent}})
    else await keyFile(source.file)
  }
  return methods
}

/** An ssh connection as a Shell, with the streamed file verbs a store needs besides. */
export class SshShell implements Shell {
  bytesSent = 0
  private closed: string | null = null
  private sftpChannel?: Promise<SFTPWrapper>

  /** `jumps`: the connections to the ProxyJump hosts this one goes through, ended with it. */
  constructor(private readonly client: Client, readonly where: string, private readonly codes: SshErrorCodes, private readonly jumps: Client[] = []) {
    client.on('close', () => (this.closed ??= 'the connection was closed'))
    client.on('error', (error: Error) => (this.closed ??= error.message))
  }

  private lost(): MlError {
    return new MlError(this.codes.lost, `Lost the connection to ${this.where} (${this.closed ?? 'it stopped answering'}).`)
  }

  /** A failure of the connection itself becomes COMPUTE_CONNECTION_LOST (or the store's code); others are left as they are. */
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
      reject(this.closed ? this.lost() : new MlError(this.codes.error, `${this.where} does not offer SFTP (${error.message}), which ml sends and fetches files with; enable sshd's \`Subsystem sftp\` there.`))
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

  /** Size and kind of `file`, or null when nothing is there. */
  stat(file: string): Promise<{size: number; isFile: boolean; isDirectory: boolean} | null> {
    return this.guard(async () => {
      const sftp = await this.sftp()
      return new Promise((resolve, reject) => sftp.stat(file, (error, stats) => {
        if (!error) resolve({size: stats.size, isFile: stats.isFile(), isDirectory: stats.isDirectory()})
        else if (isNoSuchFile(error)) resolve(null)
        else reject(error)
      }))
    })
  }

  /** The names of the regular files in folder `dir`, or null when there is no such folder. */
  listFiles(dir: string): Promise<string[] | null> {
    return this.guard(async () => {
      const sftp = await this.sftp()
      return new Promise((resolve, reject) => sftp.readdir(dir, (error, entries) => {
        if (!error) resolve(entries.filter((e) => e.attrs.isFile()).map((e) => e.filename))
        else if (isNoSuchFile(error)) resolve(null)
        else reject(error)
      }))
    })
  }

  /** Makes folder `dir` and whatever parents it lacks, as `mkdir -p` (another maker at once is fine). */
  makeFolders(dir: string): Promise<void> {
    return this.guard(async () => {
      const sftp = await this.sftp()
      const mkdir = (d: string) => new Promise<unknown>((resolve) => sftp.mkdir(d, (error) => resolve(error)))
      const make = async (d: string): Promise<void> => {
        let error = await mkdir(d)
        if (error && isNoSuchFile(error) && path.posix.dirname(d) !== d) {
          await make(path.posix.dirname(d))
          error = await mkdir(d)
        }
        // SFTP tells an existing folder only as a generic failure: it is fine when a folder is there.
        if (error && !(await this.stat(d))?.isDirectory) throw error
      }
      await make(dir)
    })
  }

  /** Renames `from` to `to`, replacing it as rename(2) does (OpenSSH's posix-rename). */
  rename(from: string, to: string): Promise<void> {
    return this.guard(async () => {
      const sftp = await this.sftp()
      await new Promise<void>((resolve, reject) => sftp.ext_openssh_rename(from, to, (error) => (error ? reject(error) : resolve())))
    })
  }

  /** Removes `file`; nothing there is fine. */
  remove(file: string): Promise<void> {
    return this.guard(async () => {
      const sftp = await this.sftp()
      await new Promise<void>((resolve, reject) => sftp.unlink(file, (error) => (!error || isNoSuchFile(error) ? resolve() : reject(error))))
    })
  }

  /**
   * Writes `chunks` into the new file `file` (it must not exist), with up to SFTP_WINDOW
   * pieces in flight; when `chunks` throws, the writes sent are waited for and the error is
   * thrown (the caller removes the file).
   */
  writeChunks(file: string, chunks: AsyncIterable<Buffer>, onBytes?: (bytes: number) => void): Promise<void> {
    return this.guard(async () => {
      const sftp = await this.sftp()
      const handle = await new Promise<Buffer>((resolve, reject) => sftp.open(file, 'wx', (error, h) => (error ? reject(error) : resolve(h))))
      const pending = new Set<Promise<void>>()
      let failure: unknown = null
      try {
        let position = 0
        for await (const chunk of chunks) {
          for (let offset = 0; offset < chunk.length; offset += SFTP_PIECE) {
            const piece = chunk.subarray(offset, offset + SFTP_PIECE)
            const write: Promise<void> = new Promise<void>((resolve, reject) => sftp.write(handle, piece, 0, piece.length, position, (error) => (error ? reject(error) : resolve())))
              .then(() => {
                this.bytesSent += piece.length
                onBytes?.(piece.length)
              }, (error) => void (failure ??= error))
              .finally(() => pending.delete(write))
            pending.add(write)
            position += piece.length
            while (pending.size >= SFTP_WINDOW) await Promise.race(pending)
            if (failure) throw failure
          }
        }
        await Promise.all(pending)
        if (failure) throw failure
      } finally {
        await Promise.all(pending)
        await new Promise<void>((resolve, reject) => sftp.close(handle, (error) => (error && !failure ? reject(error) : resolve())))
      }
    })
  }

  /**
   * Up to `max` bytes of `file` from its start, with up to SFTP_WINDOW reads in flight. A
   * missing file throws SFTP's no-such-file error (see isNoSuchFile).
   */
  async* readChunks(file: string, max: number): AsyncGenerator<Buffer> {
    const sftp = await this.guard(() => this.sftp())
    const handle = await this.guard(() => new Promise<Buffer>((resolve, reject) => sftp.open(file, 'r', (error, h) => (error ? reject(error) : resolve(h)))))
    const queue: Array<{at: number; length: number; data: Promise<Buffer>}> = []
    let next = 0
    const request = () => {
      const at = next
      const length = Math.min(SFTP_PIECE, max - at)
      next += length
      const data = this.guard(() => new Promise<Buffer>((resolve, reject) => sftp.read(handle, Buffer.allocUnsafe(length), 0, length, at, (error, n, buffer) => (error ? reject(error) : resolve(buffer.subarray(0, n))))))
      data.catch(() => {}) // awaited in order below, or dropped once the reading stops
      queue.push({at, length, data})
    }
    // Pieces are given out a megabyte at a time: a sink's write (and its trip to the thread pool) per 32 KiB piece made a 2 GB pull five times scp's time.
    let batch: Buffer[] = []
    let batched = 0
    const flush = () => {
      const out = batch.length === 1 ? batch[0] : Buffer.concat(batch, batched)
      batch = []
      batched = 0
      return out
    }
    try {
      for (;;) {
        while (queue.length < SFTP_WINDOW && next < max) request()
        const first = queue.shift()
        const chunk = first && await first.data
        if (!first || !chunk || chunk.length === 0) {
          if (batched > 0) yield flush()
          return
        }
        batch.push(chunk)
        batched += chunk.length
        if (batched >= YIELD_BYTES) yield flush()
        if (chunk.length < first.length) {
          // A short read before the end: the reads after it start at the wrong offsets, so ask again from here.
          queue.length = 0
          next = first.at + chunk.length
        }
      }
    } finally {
      await Promise.allSettled(queue.map((q) => q.data))
      await new Promise<void>((resolve) => sftp.close(handle, () => resolve()))
    }
  }

  close(): void {
    this.closed ??= 'closed by ml'
    this.client.end()
    for (const jump of this.jumps) jump.end()
  }
}
