import {spawn} from 'node:child_process'
import {existsSync, promises as fs} from 'node:fs'
import {isIP} from 'node:net'
import {userInfo} from 'node:os'
import path from 'node:path'
import type NodeGitModule from 'nodegit'
import {MlError} from '../shared/errors.js'
import {redactSecrets} from '../shared/redact-url.js'
import {checkKnownHosts, fingerprint, hostEntryName, keyType, probeHostKey} from './known-hosts.js'
import type {OnProgress} from '../shared/progress.js'
import {loadNodegit, type NodeGit} from './nodegit.js'

/** Where credentials come from; the command layer fills this in from the environment. */
export interface AuthOptions {
  /** The user's home folder, for ~/.ssh. */
  home: string
  /** ML_SSH_KEY, ML_SSH_PASSPHRASE, ML_SSH_KNOWN_HOSTS, ML_GIT_TOKEN, ML_GIT_USERNAME, ML_GIT_PASSWORD, SSH_AUTH_SOCK. */
  env: Record<string, string | undefined>
  /** Asks for a key's passphrase on a terminal; absent when there is none. */
  askPassphrase?: (keyFile: string) => Promise<string | undefined>
  /** Told how far a push, fetch or clone has come (objects and bytes sent or received). */
  onProgress?: OnProgress
}

/** One ref's fate in a push: rejected ones carry the server's reason. */
export interface PushedRef {
  ref: string
  error?: string
}

const CRED = {USERPASS_PLAINTEXT: 1, SSH_KEY: 2, SSH_MEMORY: 64, USERNAME: 32}

/**
 * Talks to remotes for one command: builds libgit2's credential and certificate callbacks
 * from AuthOptions, tries each credential once (libgit2 would otherwise ask forever), and turns
 * libgit2's failures into MlErrors that say what was tried and what to do.
 */
export class Transport {
  constructor(private readonly auth: AuthOptions) {}

  /** The refs a remote has (`git ls-remote`), as name -> commit id. */
  async listRefs(url: string): Promise<Map<string, string>> {
    const Git = await loadNodegit()
    const session = new Session(Git, this.auth, url)
    const remote = await Git.Remote.createDetached(url)
    try {
      await remote.connect(Git.Enums.DIRECTION.FETCH, session.callbacks() as unknown as NodeGitModule.RemoteCallbacks)
      const heads = (await remote.referenceList()) as unknown as Array<{name(): string; oid(): NodeGitModule.Oid}>
      return new Map(heads.filter((h) => !h.name().endsWith('^{}')).map((h) => [h.name(), h.oid().tostrS()]))
    } catch (error) {
      throw session.explain(error)
    } finally {
      await remote.disconnect().catch(() => undefined)
    }
  }

  /** Fetches `refspecs` from `url` into `repo`. */
  async fetch(repo: NodeGitModule.Repository, url: string, refspecs: string[]): Promise<void> {
    const Git = await loadNodegit()
    const session = new Session(Git, this.auth, url)
    const remote = await Git.Remote.createAnonymous(repo, url)
    try {
      await remote.fetch(refspecs, {callbacks: session.callbacks(), downloadTags: Git.Remote.AUTOTAG_OPTION.DOWNLOAD_TAGS_NONE} as unknown as NodeGitModule.FetchOptions, 'ml fetch')
    } catch (error) {
      throw session.explain(error)
    }
  }

  /** Pushes `refspecs`; a ref the server refuses is reported, not thrown. */
  async push(repo: NodeGitModule.Repository, url: string, refspecs: string[]): Promise<PushedRef[]> {
    const Git = await loadNodegit()
    const session = new Session(Git, this.auth, url)
    const remote = await Git.Remote.createAnonymous(repo, url)
    const results = new Map<string, PushedRef>()
    const callbacks = {
      ...session.callbacks(),
      pushUpdateReference: (ref: string, status: string | null) => {
        results.set(ref, status ? {ref, error: status} : {ref})
        return 0
      },
    }
    try {
      await remote.push(refspecs, {callbacks} as unknown as NodeGitModule.PushOptions)
    } catch (error) {
      throw session.explain(error)
    }
    return refspecs.map((spec) => {
      const ref = spec.replace(/^\+/, '').split(':').at(-1)!
      return results.get(ref) ?? {ref}
    })
  }

  /**
   * Clones `url` into `dir` with `origin` set to `url`, writing no file of its default branch:
   * the caller checks that branch's tree before checking it out (see user-repo.ts).
   */
  async clone(url: string, dir: string): Promise<NodeGitModule.Repository> {
    const Git = await loadNodegit()
    const session = new Session(Git, this.auth, url)
    try {
      // Read at run time: @types/nodegit's const enum says NONE is 0, which libgit2 1.9 reads as SAFE (a full checkout).
      const none = (Git.Checkout as unknown as {STRATEGY: Record<string, number>}).STRATEGY.NONE
      const options = {fetchOpts: {callbacks: session.callbacks()}, checkoutOpts: {checkoutStrategy: none}}
      return await (Git.Clone as unknown as {clone: typeof Git.Clone}).clone(url, dir, options as unknown as NodeGitModule.CloneOptions)
    } catch (error) {
      throw session.explain(error)
    }
  }
}

/** The state of one connection: which credentials were tried, what went wrong. */
class Session {
  private readonly tried: string[] = []
  private sshCandidates?: Promise<Array<() => Promise<unknown>>>
  private httpCandidates?: Promise<Array<() => Promise<unknown>>>
  private failure?: MlError

  constructor(private readonly Git: NodeGit, private readonly auth: AuthOptions, private readonly url: string) {}

  callbacks() {
    const {onProgress} = this.auth
    return {
      credentials: (url: string, username: string | null, allowed: number) => this.credential(url, username, allowed),
      certificateCheck: (cert: NodeGitModule.Cert, valid: number, host: string) => this.checkCertificate(cert, valid, host),
      ...onProgress && {
        transferProgress: (p: NodeGitModule.TransferProgress) => {
          const stats = p as unknown as {receivedObjects(): number; totalObjects(): number; receivedBytes(): number}
          onProgress({done: stats.receivedObjects(), total: stats.totalObjects(), bytesDone: stats.receivedBytes(), bytesTotal: 0})
        },
        pushTransferProgress: (done: number, total: number, bytes: number) => onProgress({done, total, bytesDone: bytes, bytesTotal: 0}),
      },
    }
  }

  private async credential(_url: string, username: string | null, allowed: number): Promise<unknown> {
    const Git = this.Git
    if (allowed & CRED.USERNAME) return Git.Credential.usernameNew(username || userInfo().username)
    if (allowed & (CRED.SSH_KEY | CRED.SSH_MEMORY)) {
      this.sshCandidates ??= this.sshKeys(username || userInfo().username)
      const next = (await this.sshCandidates).shift()
      if (next) return next()
    } else if (allowed & CRED.USERPASS_PLAINTEXT) {
      this.httpCandidates ??= this.passwords(username)
      const next = (await this.httpCandidates).shift()
      if (next) return next()
    }
    // Failing the callback is what makes libgit2 stop asking (nodegit takes any other answer for a credential).
    this.failure ??= this.authFailure()
    throw this.failure
  }

  /** ssh-agent, then ML_SSH_KEY, then the usual key files, each once. */
  private async sshKeys(user: string): Promise<Array<() => Promise<unknown>>> {
    const {env, home} = this.auth
    const Git = this.Git
    const candidates: Array<() => Promise<unknown>> = []
    if (env.SSH_AUTH_SOCK) {
      candidates.push(async () => {
        this.tried.push('ssh-agent')
        return Git.Credential.sshKeyFromAgent(user)
      })
    }
    const files = [env.ML_SSH_KEY, ...['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(home, '.ssh', f))]
    for (const file of files) {
      if (!file || !existsSync(file)) continue
      candidates.push(async () => {
        this.tried.push(file)
        const key = await fs.readFile(file, 'utf8')
        let passphrase = ''
        if (isEncrypted(key)) {
          passphrase = env.ML_SSH_PASSPHRASE ?? (await this.auth.askPassphrase?.(file)) ?? ''
          if (!passphrase) return this.credential('', user, CRED.SSH_KEY)
        }
        const pub = existsSync(`${file}.pub`) ? await fs.readFile(`${file}.pub`, 'utf8') : ''
        return Git.Credential.sshKeyMemoryNew(user, pub, key, passphrase)
      })
    }
    return candidates
  }

  /** ML_GIT_TOKEN, ML_GIT_USERNAME/ML_GIT_PASSWORD, then the git credential helper, each once. */
  private async passwords(urlUser: string | null): Promise<Array<() => Promise<unknown>>> {
    const {env} = this.auth
    const Git = this.Git
    const candidates: Array<() => Promise<unknown>> = []
    if (env.ML_GIT_TOKEN) {
      candidates.push(async () => {
        this.tried.push('the token in ML_GIT_TOKEN')
        return Git.Credential.userpassPlaintextNew(env.ML_GIT_USERNAME || urlUser || 'ml', env.ML_GIT_TOKEN!)
      })
    }
    if (env.ML_GIT_USERNAME && env.ML_GIT_PASSWORD) {
      candidates.push(async () => {
        this.tried.push('ML_GIT_USERNAME and ML_GIT_PASSWORD')
        return Git.Credential.userpassPlaintextNew(env.ML_GIT_USERNAME!, env.ML_GIT_PASSWORD!)
      })
    }
    candidates.push(async () => {
      const filled = await credentialFill(this.url, urlUser, this.auth)
      if (!filled) return this.credential('', urlUser, CRED.USERPASS_PLAINTEXT)
      this.tried.push("git's credential helper")
      return Git.Credential.userpassPlaintextNew(filled.username, filled.password)
    })
    return candidates
  }

  private async checkCertificate(cert: NodeGitModule.Cert, valid: number, host: string): Promise<number> {
    if (valid) return 0
    if ((cert as unknown as {certType(): number}).certType() === this.Git.Cert.TYPE.HOSTKEY_LIBSSH2) return this.checkHostKey(host)
    const byIp = isIP(host) ? ' Certificates are matched by host name, so use the server\'s name rather than its IP address.' : ''
    this.failure = new MlError('TLS_CERT_INVALID', `The TLS certificate of ${host} is not trusted; if the server uses its own CA, name the CA file in ML_SSL_CA_FILE (or git's http.sslCAInfo).${byIp}`)
    return -1
  }

  /**
   * libgit2 found the key in no ~/.ssh/known_hosts entry: look at the key itself to check
   * ML_SSH_KNOWN_HOSTS, and to tell the user its fingerprint.
   */
  private async checkHostKey(host: string): Promise<number> {
    const port = Number(/^ssh:\/\/[^/]*:(\d+)\//.exec(this.url)?.[1] ?? 22)
    const files = [path.join(this.auth.home, '.ssh', 'known_hosts'), this.auth.env.ML_SSH_KNOWN_HOSTS].filter((f): f is string => Boolean(f))
    let key: Buffer
    try {
      key = await probeHostKey(host, port)
    } catch (error) {
      this.failure = new MlError('HOST_KEY_UNKNOWN', `The SSH host key of ${hostEntryName(host, port)} could not be checked (${(error as Error).message}).`)
      return -1
    }
    const verdict = await checkKnownHosts(files, host, port, key)
    if (verdict === 'known') return 0
    const what = `${keyType(key)} key ${fingerprint(key)}`
    const where = hostEntryName(host, port)
    this.failure = verdict === 'changed'
      ? new MlError('HOST_KEY_CHANGED', `The SSH host key of ${where} has changed (it now sends the ${what}); this may be an attack. If the change is expected, replace its line in ~/.ssh/known_hosts.`)
      : new MlError('HOST_KEY_UNKNOWN', `The SSH host ${where} is not known (it sends the ${what}); if that is right, add it with \`ssh-keyscan${port === 22 ? '' : ` -p ${port}`} ${host} >> ~/.ssh/known_hosts\`.`)
    return -1
  }

  private authFailure(): MlError {
    const host = hostOf(this.url)
    const ssh = this.url.startsWith('ssh://') || /^[^/]+@[^/]+:/.test(this.url)
    if (this.tried.length === 0) {
      return new MlError('AUTH_FAILED', ssh
        ? `${host} asks for an SSH key and none was found; start ssh-agent, create ~/.ssh/id_ed25519, or name a key in ML_SSH_KEY.`
        : `${host} asks for credentials; set ML_GIT_TOKEN (or ML_GIT_USERNAME and ML_GIT_PASSWORD), or configure a git credential helper.`)
    }
    const fix = ssh ? 'add your public key to the server, or name another key in ML_SSH_KEY' : 'check the token or password, or set ML_GIT_TOKEN'
    return new MlError('AUTH_FAILED', `${host} refused every credential tried (${this.tried.join(', ')}); ${fix}.`)
  }

  /** The MlError for a failed operation: what the callbacks found, else libgit2's message, redacted. */
  explain(error: unknown): MlError {
    if (this.failure) return this.failure
    if (error instanceof MlError) return error
    const message = redactSecrets((error as Error)?.message ?? String(error))
    const host = hostOf(this.url)
    if (/failed to (connect|resolve)|connection refused|could not connect|timed out|no such host|Failed to retrieve list of SSH authentication methods|Failed getting banner/i.test(message)) {
      return new MlError('REMOTE_UNREACHABLE', `The remote ${redactSecrets(this.url)} cannot be reached (${message}); check the URL and that the server is up.`, {cause: error})
    }
    if (/unpack failed|correct password/i.test(message)) {
      const key = this.tried.at(-1) ?? 'the SSH key'
      return new MlError('AUTH_FAILED', `The passphrase for ${key} is wrong; check ML_SSH_PASSPHRASE or the passphrase you typed.`, {cause: error})
    }
    if (/authenticat|401|403|unauthorized|credentials/i.test(message)) {
      return new MlError('AUTH_FAILED', `${host} refused the credentials (${message}); check ML_GIT_TOKEN, ML_SSH_KEY or your credential helper.`, {cause: error})
    }
    if (/not found|does not appear to be a git repository|not a git repository|404|could not find repository/i.test(message)) {
      return new MlError('REMOTE_ERROR', `There is no git repository at ${redactSecrets(this.url)} (${message}); check the URL.`, {cause: error})
    }
    return new MlError('REMOTE_ERROR', `The remote ${redactSecrets(this.url)} failed: ${message}.`, {cause: error})
  }
}

/** True for a private key file that needs a passphrase. */
function isEncrypted(key: string): boolean {
  if (/ENCRYPTED/.test(key)) return true
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END/.exec(key)?.[1]
  if (!body) return false
  const data = Buffer.from(body.replace(/\s+/g, ''), 'base64')
  const magic = 'openssh-key-v1\0'.length
  const cipherLength = data.readUInt32BE(magic)
  return data.subarray(magic + 4, magic + 4 + cipherLength).toString('latin1') !== 'none'
}

function hostOf(url: string): string {
  return /^[a-z+]+:\/\/(?:[^@/]*@)?([^/:]+)/i.exec(url)?.[1] ?? /^(?:[^@]*@)?([^:]+):/.exec(url)?.[1] ?? url
}

/**
 * Asks the user's git credential helper, as `git credential fill` does, when one is
 * configured: the one place ml runs git, because the helper is the user's own setup.
 */
async function credentialFill(url: string, username: string | null, auth: AuthOptions): Promise<{username: string; password: string} | null> {
  const match = /^(https?):\/\/(?:[^@/]*@)?([^/]+)(\/.*)?$/.exec(url)
  if (!match) return null
  const input = `protocol=${match[1]}\nhost=${match[2]}\npath=${(match[3] ?? '/').slice(1)}\n${username ? `username=${username}\n` : ''}\n`
  const output = await new Promise<string | null>((resolve) => {
    const child = spawn('git', ['-c', 'credential.interactive=false', 'credential', 'fill'], {
      env: {...auth.env, HOME: auth.home, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: ''} as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.on('error', () => resolve(null))
    child.on('close', (code) => resolve(code === 0 ? out : null))
    child.stdin.end(input)
  })
  if (!output) return null
  const fields = Object.fromEntries(output.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  return fields.password ? {username: fields.username ?? username ?? '', password: fields.password} : null
}
