import {createHash, createHmac} from 'node:crypto'
import {promises as fs} from 'node:fs'

/** What a set of known_hosts files says of a host's key. */
export type HostKeyVerdict = 'known' | 'changed' | 'unknown'

/** `SHA256:...`, as `ssh` and `ssh-keygen -l` print a key's fingerprint. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`
}

/** The key type named inside an SSH public key blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, ...). */
export function keyType(key: Buffer): string {
  const length = key.readUInt32BE(0)
  return key.subarray(4, 4 + length).toString('latin1')
}

/** The name a known_hosts file uses for a host: `host`, or `[host]:port` off port 22. */
export function hostEntryName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

/**
 * Checks `key` for `host`:`port` against known_hosts files (missing files are skipped): plain,
 * wildcard and hashed (`|1|salt|hash`) host patterns, negations and `@revoked` lines, like
 * OpenSSH. `changed` means the host is listed but with other keys, or the key is revoked.
 */
export async function checkKnownHosts(files: string[], host: string, port: number, key: Buffer): Promise<HostKeyVerdict> {
  const name = hostEntryName(host, port)
  const wanted = key.toString('base64')
  let listed = false
  for (const file of files) {
    const text = await fs.readFile(file, 'utf8').catch(() => '')
    for (const raw of text.split('\n')) {
      const line = raw.trim()
      if (!line || line.startsWith('#')) continue
      const fields = line.split(/\s+/)
      const marker = fields[0].startsWith('@') ? fields.shift() : undefined
      const [patterns, , blob] = fields
      if (!blob || marker === '@cert-authority' || !hostMatches(patterns, name)) continue
      if (marker === '@revoked') {
        if (blob === wanted) return 'changed'
        continue
      }
      if (blob === wanted) return 'known'
      listed = true
    }
  }
  return listed ? 'changed' : 'unknown'
}

function hostMatches(patterns: string, name: string): boolean {
  let matched = false
  for (const pattern of patterns.split(',')) {
    if (pattern.startsWith('|1|')) {
      const [, , salt, hash] = pattern.split('|')
      if (createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash) matched = true
      continue
    }
    const negated = pattern.startsWith('!')
    if (globMatch(negated ? pattern.slice(1) : pattern, name)) {
      if (negated) return false
      matched = true
    }
  }
  return matched
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${re}$`, 'i').test(name)
}

/**
 * Asks an SSH server for its host key without logging in (the connection is dropped once the
 * key is seen). libgit2 only says whether ~/.ssh/known_hosts accepts a key, so this is how ml
 * learns the key itself: to check other known_hosts files and to show its fingerprint.
 */
export async function probeHostKey(host: string, port: number, timeoutMs = 10_000): Promise<Buffer> {
  const ssh2 = (await import('ssh2')).default // loaded only for ssh remotes: it costs 40 ms
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client()
    let key: Buffer | undefined
    const done = (error?: Error) => {
      client.end()
      if (key) resolve(key)
      else reject(error ?? new Error(`${host}:${port} sent no host key`))
    }
    client.on('error', (error) => done(error))
    client.on('close', () => done())
    client.connect({
      host,
      port,
      username: 'ml-host-key-probe',
      readyTimeout: timeoutMs,
      hostVerifier: (k: Buffer) => {
        key = Buffer.from(k)
        return false
      },
    })
  })
}
