import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'
import type NodeGitModule from 'nodegit'
import {guardNodegit} from './native-guard.js'

export type NodeGit = typeof NodeGitModule

let loading: Promise<NodeGit> | undefined

/**
 * nodegit costs a few hundred milliseconds to load, so it is imported only when a command
 * first needs git, never at start-up.
 */
export function loadNodegit(): Promise<NodeGit> {
  loading ??= (() => {
    setUpTls(process.env)
    return import('nodegit').then((m) => {
      const Git = (m as {default?: NodeGit}).default ?? (m as unknown as NodeGit)
      // By default libgit2 looks up every entry's object before it writes a tree: one loose
      // object lookup per file, 150-450 ms for each tree of a 20,000-file folder. ml's trees
      // are written from entries whose blobs libgit2 has just written (the tests fsck them).
      const libgit2 = Git.Libgit2 as unknown as {opts(option: number, value: number): void; OPT: Record<string, number>}
      libgit2.opts(libgit2.OPT.ENABLE_STRICT_OBJECT_CREATION, 0)
      guardNodegit(Git)
      return Git
    })
  })()
  return loading
}

const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'
const SYSTEM_CA_DIR = '/etc/ssl/certs'

/**
 * libgit2 reads OpenSSL's CA locations once, when nodegit loads, and nodegit offers no way to
 * change them later: so they are set here first. ML_SSL_CA_FILE (or git's http.sslCAInfo)
 * names a CA for a server with its own certificate; the system's CA store stays trusted.
 */
function setUpTls(env: NodeJS.ProcessEnv): void {
  const caFile = env.ML_SSL_CA_FILE || globalGitConfigValue(env, 'http', 'sslcainfo')
  if (caFile) env.SSL_CERT_FILE = caFile
  else if (!env.SSL_CERT_FILE && existsSync(SYSTEM_CA_BUNDLE)) env.SSL_CERT_FILE = SYSTEM_CA_BUNDLE
  if (!env.SSL_CERT_DIR && existsSync(SYSTEM_CA_DIR)) env.SSL_CERT_DIR = SYSTEM_CA_DIR
}

/** The system and global git config files libgit2 reads, in that order. */
export function globalGitConfigFiles(env: NodeJS.ProcessEnv): string[] {
  const home = env.HOME || homedir()
  return ['/etc/gitconfig', path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'git', 'config'), path.join(home, '.gitconfig')]
}

/**
 * The files outside the repository whose contents decide what a snapshot holds: the system and
 * global config files and the global excludes file (core.excludesFile, or git's default).
 */
export function userGitFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir()
  const excludes = globalGitConfigValue(env, 'core', 'excludesfile')?.replace(/^~(?=\/)/, home)
    ?? path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'git', 'ignore')
  return [...globalGitConfigFiles(env), excludes]
}

/**
 * A value from the user's global git config files (no includes), read without loading libgit2.
 * Only the plain section counts: `[http "https://host"] sslCAInfo` is for that host alone.
 */
export function globalGitConfigValue(env: NodeJS.ProcessEnv, section: string, key: string): string | undefined {
  let value: string | undefined
  for (const file of globalGitConfigFiles(env)) {
    let current: string | null = null
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const raw of text.split('\n')) {
      const header = /^\s*\[\s*([^\]\s"]+)\s*("(?:[^"\\]|\\.)*")?\s*\]/.exec(raw)
      if (header) {
        current = header[2] === undefined ? header[1].toLowerCase() : null
        continue
      }
      if (current !== section) continue
      const match = /^\s*([A-Za-z0-9-]+)\s*=(.*)$/.exec(raw)
      if (match && match[1].toLowerCase() === key) value = configValue(match[2])
    }
  }
  return value
}

/** A config value as git reads it: a `#` or `;` outside quotes starts a comment; quotes go, escapes are read. */
function configValue(text: string): string {
  let value = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '\\' && i + 1 < text.length) {
      const next = text[++i]
      value += next === 'n' ? '\n' : next === 't' ? '\t' : next
    } else if (c === '"') quoted = !quoted
    else if ((c === '#' || c === ';') && !quoted) break
    else value += c
  }
  return value.trim()
}

/** A signature for commits ml makes: the user's git identity where configured, else ml's own. */
export async function signatureFor(repo: NodeGitModule.Repository): Promise<NodeGitModule.Signature> {
  const Git = await loadNodegit()
  try {
    return await Git.Signature.default(repo)
  } catch {
    return Git.Signature.now('ml', 'ml@localhost')
  }
}

/** nodegit and an open repository, as the functions that work on ShadowRepo's behalf take them. */
export interface RepoHandle {
  Git: NodeGit
  repo: NodeGitModule.Repository
}
