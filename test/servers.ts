import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {mkdirSync, promises as fs, writeFileSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import {userInfo} from 'node:os'
import path from 'node:path'
import {git, tempDir} from './helpers.js'

/** Real git servers on 127.0.0.1 for the remote tests, each stopped by its close(). */

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

/** A new bare repository under `root`, optionally with a pre-receive hook that refuses pushes while `blockFile` exists. */
export function bareRepo(root: string, name = 'project.git', blockFile?: string): string {
  const dir = path.join(root, name)
  git(root, ['init', '-q', '--bare', dir])
  if (blockFile) {
    const hook = path.join(dir, 'hooks', 'pre-receive')
    writeFileSync(hook, `#!/bin/sh\nif [ -e '${blockFile}' ]; then echo "push refused by policy" >&2; exit 1; fi\nexit 0\n`, {mode: 0o755})
  }
  return dir
}

export interface HttpGitServer {
  url: (repo: string) => string
  /** How many requests came with wrong or missing credentials. */
  unauthorized: number
  close: () => Promise<void>
}

/**
 * `git http-backend` behind a small HTTP(S) server, with basic auth when `user`/`password` are
 * given (only that pair is let in).
 */
export async function startHttpGitServer(options: {root: string; user?: string; password?: string; tls?: {key: string; cert: string}}): Promise<HttpGitServer> {
  const state: HttpGitServer = {url: () => '', unauthorized: 0, close: async () => {}}
  const expected = options.user ? `Basic ${Buffer.from(`${options.user}:${options.password}`).toString('base64')}` : undefined
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (expected && req.headers.authorization !== expected) {
      state.unauthorized++
      res.writeHead(401, {'WWW-Authenticate': 'Basic realm="git"'})
      res.end('unauthorized')
      return
    }
    const url = new URL(req.url ?? '/', 'http://localhost')
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...process.env,
        GIT_PROJECT_ROOT: options.root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: options.user ?? 'anonymous',
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: (req.headers['content-encoding'] as string | undefined) ?? '',
        GIT_PROTOCOL: (req.headers['git-protocol'] as string | undefined) ?? '',
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    req.pipe(cgi.stdin)
    let head = Buffer.alloc(0)
    let headersDone = false
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk)
        return
      }
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      headersDone = true
      let status = 200
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const colon = line.indexOf(':')
        const name = line.slice(0, colon).trim()
        const value = line.slice(colon + 1).trim()
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10)
        else res.setHeader(name, value)
      }
      res.writeHead(status)
      res.write(head.subarray(end + 4))
    })
    cgi.stdout.on('end', () => res.end())
  }
  const server = options.tls ? https.createServer({key: options.tls.key, cert: options.tls.cert}, handler) : http.createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  // libgit2 1.9 matches certificates by DNS name only (an IP address in the certificate is
  // never accepted), so TLS remotes are reached as localhost.
  state.url = (repo) => (options.tls ? `https://localhost:${port}/${repo}` : `http://127.0.0.1:${port}/${repo}`)
  state.close = () => new Promise((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })
  return state
}

/** A self-signed certificate for localhost, its own CA. */
export function selfSignedCert(dir: string): {key: string; cert: string; certFile: string} {
  const keyFile = path.join(dir, 'key.pem')
  const certFile = path.join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], {stdio: 'ignore'})
  return {key: execFileSync('cat', [keyFile], {encoding: 'utf8'}), cert: execFileSync('cat', [certFile], {encoding: 'utf8'}), certFile}
}

export interface SshServer {
  port: number
  /** `ssh://USER@127.0.0.1:PORT/abs/path`, USER being whoever runs the tests */
  url: (repoPath: string) => string
  /** A private key the server accepts. */
  userKey: string
  /** The line to put into known_hosts for this server. */
  knownHostsLine: string
  close: () => Promise<void>
}

/** OpenSSH's sshd on a free loopback port with a new host key, accepting one new user key. */
export async function startSshd(options: {config?: string[]} = {}): Promise<SshServer> {
  const dir = tempDir('ml-sshd-')
  const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ml-test', '-f', file], {stdio: 'ignore'})
  keygen(path.join(dir, 'host_key'))
  keygen(path.join(dir, 'user_key'))
  await fs.copyFile(path.join(dir, 'user_key.pub'), path.join(dir, 'authorized_keys'))
  const port = await freePort()
  try {
    mkdirSync('/run/sshd', {recursive: true}) // sshd's privilege separation folder; apt's openssh-server makes it too
  } catch {
    // not root: sshd then runs without privilege separation for our own user
  }
  writeFileSync(path.join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${dir}/host_key`, `AuthorizedKeysFile ${dir}/authorized_keys`,
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes', 'PermitRootLogin yes',
    'StrictModes no', 'UsePAM no', `PidFile ${dir}/sshd.pid`, 'MaxAuthTries 10', 'LogLevel ERROR', 'Subsystem sftp internal-sftp', ...options.config ?? [], '',
  ].join('\n'))
  const sshd: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], {stdio: ['ignore', 'ignore', 'pipe']})
  let log = ''
  sshd.stderr!.on('data', (d: Buffer) => (log += d.toString()))
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (up) break
    if (i > 100 || sshd.exitCode !== null) throw new Error(`sshd did not start: ${log}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  const hostPub = (await fs.readFile(path.join(dir, 'host_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ')
  return {
    port,
    url: (repoPath) => `ssh://${userInfo().username}@127.0.0.1:${port}${repoPath}`,
    userKey: path.join(dir, 'user_key'),
    knownHostsLine: `[127.0.0.1]:${port} ${hostPub}\n`,
    close: async () => {
      sshd.kill('SIGTERM')
      if (sshd.exitCode === null) await new Promise((r) => sshd.once('exit', r))
    },
  }
}

/** A TCP relay on 127.0.0.1 (see startRelay). */
export interface Relay {
  port: number
  /** Connections taken so far. */
  connections: () => number
  /** Bytes the clients sent through it. */
  sent: () => number
  /** Drops every connection (a network that fails mid-run); new ones are still taken. */
  cut: () => void
  close: () => Promise<void>
}

/**
 * A TCP server on 127.0.0.1 that forwards each connection to port `to` (or, without it, takes
 * connections and never says a word: a host that hangs), counting them: a jump host, a
 * network to cut, a host that does not answer.
 */
export async function startRelay(to?: number): Promise<Relay> {
  let connections = 0
  let sent = 0
  const sockets = new Set<net.Socket>()
  const hold = (s: net.Socket) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
  }
  const server = net.createServer((client) => {
    connections++
    hold(client)
    if (to === undefined) return
    const upstream = net.connect(to, '127.0.0.1')
    hold(upstream)
    client.on('data', (d: Buffer) => (sent += d.length))
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const cut = () => {
    for (const s of sockets) s.destroy()
  }
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    sent: () => sent,
    cut,
    close: () => new Promise<void>((resolve) => {
      cut()
      server.close(() => resolve())
    }),
  }
}
