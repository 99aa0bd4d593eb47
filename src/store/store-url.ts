import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {MlError} from '../shared/errors.js'
import {parseRemoteUrl} from '../shared/remote-url.js'

export type StoreUrl =
  | {kind: 'folder'; path: string}
  | {kind: 'ssh'; user?: string; host: string; port?: number; path: string}
  | {kind: 's3'; bucket: string; prefix: string}

const FORMS = 'a folder (absolute, or relative to the project), file:///abs/path, ssh://[user@]host[:port]/abs/path, user@host:path or s3://bucket/prefix'

/** S3's rules for a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, not like an IP address. */
const BUCKET = /^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/**
 * Parses and checks a store URL. It is kept in the project's config and pushed to teammates,
 * so a URL carrying a secret (a password, an access key) is refused rather than stored.
 */
export function parseStoreUrl(url: string, baseDir: string): StoreUrl {
  const refuse = (reason: string): never => {
    throw new MlError('INVALID_ARGUMENT', `The store URL is not usable: ${reason}; give ${FORMS}.`)
  }
  if (!url.trim()) refuse('it is empty')
  if (/[\u0000-\u001f\u007f]/.test(url)) refuse('it holds a control character')
  const parsed = parseRemoteUrl(url)
  const isUrl = url.includes('://') || parsed.scheme === 'ssh'
  if (isUrl && /[?#]/.test(url)) refuse('a query string or fragment has no meaning in a store URL')
  if (parsed.password !== undefined) refuse('it holds a password or secret, which must never be stored; give the credentials through ssh keys or the AWS environment instead')
  switch (parsed.scheme) {
    case 'local':
      return {kind: 'folder', path: path.resolve(baseDir, url)}
    case 'file':
      if (parsed.user !== undefined || parsed.host && parsed.host !== 'localhost') refuse('a file URL names a folder on this machine (file:///abs/path)')
      return {kind: 'folder', path: fileURLToPath(`file://${parsed.path}`)}
    case 'ssh': {
      if (!parsed.host) refuse('an ssh URL needs a host')
      if (parsed.port !== undefined && !(parsed.port > 0 && parsed.port < 65536)) refuse(`${parsed.port} is not a port`)
      // ssh://host/~/x and scp-like host:x are paths under the login's home, which SFTP resolves relative paths against.
      const where = url.includes('://') ? parsed.path.replace(/^\/~(\/|$)/, '') : parsed.path
      if (!where || where === '/') refuse('an ssh URL needs the store\'s folder on the host')
      return {kind: 'ssh', ...parsed.user !== undefined && {user: parsed.user}, host: parsed.host, ...parsed.port !== undefined && {port: parsed.port}, path: where}
    }
    case 's3': {
      if (parsed.user !== undefined) refuse('an s3 URL names a bucket, never an access key: give the credentials through the AWS environment or ~/.aws')
      if (parsed.port !== undefined) refuse('an s3 URL has no port; give an S3-compatible service\'s address with --endpoint')
      if (!BUCKET.test(parsed.host)) refuse(`"${parsed.host}" is not a valid S3 bucket name`)
      const prefix = parsed.path.replace(/^\/+|\/+$/g, '')
      if (prefix.split('/').some((part) => part === '.' || part === '..' || (prefix && !part))) refuse('its prefix has an empty, "." or ".." part')
      return {kind: 's3', bucket: parsed.host, prefix}
    }
    default:
      return refuse(`ml does not know the scheme "${parsed.scheme}"`)
  }
}
