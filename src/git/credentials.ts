import {spawn} from 'node:child_process'
import {existsSync, promises as fs} from 'node:fs'
import {userInfo} from 'node:os'
import {parseRemoteUrl} from '../shared/remote-url.js'
import {keySources, type ResolvedSsh} from '../shared/ssh-config-resolve.js'
import type {NodeGit} from './nodegit.js'

/** Where credentials come from; the command layer fills this in from the environment. */
export interface CredentialSources {
  /** The user's home folder, for ~/.ssh. */
  home: string
  /** ML_SSH_KEY, ML_SSH_PASSPHRASE, ML_SSH_KNOWN_HOSTS, ML_GIT_TOKEN, ML_GIT_USERNAME, ML_GIT_PASSWORD, SSH_AUTH_SOCK. */
  env: Record<string, string | undefined>
  /** Asks for a key's passphrase on a terminal; absent when there is none. */
  askPassphrase?: (keyFile: string) => Promise<string | undefined>
}

const CRED = {USERPASS_PLAINTEXT: 1, SSH_KEY: 2, SSH_MEMORY: 64, USERNAME: 32}

/** A candidate: the credential, or null when it turns out there is none to give (no passphrase). */
type Candidate = () => Promise<unknown | null>

/**
 * The credentials for one connection, each tried once: libgit2 asks again after every refusal
 * and would otherwise be given the same one forever. `tried` names them for the error message.
 */
export class Credentials {
  readonly tried: string[] = []
  private ssh?: Promise<Candidate[]>
  private http?: Promise<Candidate[]>

  /** `route`: where ~/.ssh/config sends an ssh remote; its IdentityFile and IdentitiesOnly say which keys are tried. */
  constructor(private readonly Git: NodeGit, private readonly sources: CredentialSources, private readonly url: string, private readonly route?: ResolvedSsh) {}

  /** The next credential of a kind libgit2 `allowed`, or null when none is left. */
  async next(username: string | null, allowed: number): Promise<unknown | null> {
    if (allowed & CRED.USERNAME) return this.Git.Credential.usernameNew(username || userInfo().username)
    let candidates: Promise<Candidate[]>
    if (allowed & (CRED.SSH_KEY | CRED.SSH_MEMORY)) candidates = this.ssh ??= this.sshKeys(username || userInfo().username)
    else if (allowed & CRED.USERPASS_PLAINTEXT) candidates = this.http ??= this.passwords(username)
    else return null
    for (let next = (await candidates).shift(); next; next = (await candidates).shift()) {
      const credential = await next()
      if (credential) return credential
    }
    return null
  }

  /** The keys keySources gives (ssh-agent's, ML_SSH_KEY, the config's and the usual key files), as targets and stores try them. */
  private async sshKeys(user: string): Promise<Candidate[]> {
    const {env, home} = this.sources
    const Git = this.Git
    const candidates: Candidate[] = []
    for (const source of keySources(this.route ?? {identityFiles: [], identitiesOnly: false, defaultKeys: true}, env, home)) {
      if ('agent' in source) {
        candidates.push(async () => {
          this.tried.push('ssh-agent')
          return Git.Credential.sshKeyFromAgent(user)
        })
        continue
      }
      const {file} = source
      if (!existsSync(file)) continue
      candidates.push(async () => {
        this.tried.push(file)
        const key = await fs.readFile(file, 'utf8')
        let passphrase = ''
        if (isEncrypted(key)) {
          passphrase = env.ML_SSH_PASSPHRASE ?? (await this.sources.askPassphrase?.(file)) ?? ''
          if (!passphrase) return null
        }
        const pub = existsSync(`${file}.pub`) ? await fs.readFile(`${file}.pub`, 'utf8') : ''
        return Git.Credential.sshKeyMemoryNew(user, pub, key, passphrase)
      })
    }
    return candidates
  }

  /** ML_GIT_TOKEN, ML_GIT_USERNAME/ML_GIT_PASSWORD, then the git credential helper. */
  private async passwords(urlUser: string | null): Promise<Candidate[]> {
    const {env} = this.sources
    const Git = this.Git
    const candidates: Candidate[] = []
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
      const filled = await credentialFill(this.url, urlUser, this.sources)
      if (!filled) return null
      this.tried.push("git's credential helper")
      return Git.Credential.userpassPlaintextNew(filled.username, filled.password)
    })
    return candidates
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

/**
 * Asks the user's git credential helper, as `git credential fill` does, when one is
 * configured: the one place ml runs git, because the helper is the user's own setup.
 */
async function credentialFill(url: string, username: string | null, sources: CredentialSources): Promise<{username: string; password: string} | null> {
  const {scheme, hostPort, path: urlPath} = parseRemoteUrl(url)
  if (scheme !== 'http' && scheme !== 'https') return null
  const input = `protocol=${scheme}\nhost=${hostPort}\npath=${(urlPath || '/').slice(1)}\n${username ? `username=${username}\n` : ''}\n`
  const output = await new Promise<string | null>((resolve) => {
    const child = spawn('git', ['-c', 'credential.interactive=false', 'credential', 'fill'], {
      env: {...sources.env, HOME: sources.home, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: ''} as NodeJS.ProcessEnv,
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
