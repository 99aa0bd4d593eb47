import {promises as fs} from 'node:fs'
import path from 'node:path'
import type NodeGitModule from 'nodegit'
import {pathExists} from '../shared/path-exists.js'
import {parseRemoteUrl} from '../shared/remote-url.js'
import type {MlError} from '../shared/errors.js'
import type {OnProgress} from '../shared/progress.js'
import {Credentials, type CredentialSources} from './credentials.js'
import {checkServer} from './host-check.js'
import {loadNodegit, type NodeGit} from './nodegit.js'
import {authFailure, explainRemoteError} from './remote-errors.js'
import {type GitRoute, gitRoute, type JumpTunnel} from './ssh-route.js'

/** Where credentials come from (the command layer fills this in from the environment), and progress. */
export interface AuthOptions extends CredentialSources {
  /** Told how far a push, fetch or clone has come (objects and bytes sent or received). */
  onProgress?: OnProgress
  /** Reaches an ssh host through its ProxyJump hops; without it, such a remote is refused. */
  jump?: JumpTunnel
}

/** One ref's fate in a push: rejected ones carry the server's reason. */
export interface PushedRef {
  ref: string
  error?: string
}

/**
 * Talks to remotes for one command: list, fetch, push and clone, each with libgit2's
 * credential and certificate callbacks (credentials.ts, host-check.ts), and libgit2's failures
 * turned into MlErrors that say what was tried and what to do (remote-errors.ts).
 */
export class Transport {
  constructor(private readonly auth: AuthOptions) {}

  /** The refs a remote has (`git ls-remote`), as name -> commit id. */
  async listRefs(url: string): Promise<Map<string, string>> {
    const Git = await loadNodegit()
    const session = await Session.open(Git, this.auth, url)
    const remote = await Git.Remote.createDetached(session.route.url)
    try {
      await remote.connect(Git.Enums.DIRECTION.FETCH, session.callbacks() as unknown as NodeGitModule.RemoteCallbacks)
      const heads = (await remote.referenceList()) as unknown as Array<{name(): string; oid(): NodeGitModule.Oid}>
      return new Map(heads.filter((h) => !h.name().endsWith('^{}')).map((h) => [h.name(), h.oid().tostrS()]))
    } catch (error) {
      throw session.explain(error)
    } finally {
      await remote.disconnect().catch(() => undefined)
      await session.close()
    }
  }

  /** Fetches `refspecs` from `url` into `repo`. */
  async fetch(repo: NodeGitModule.Repository, url: string, refspecs: string[]): Promise<void> {
    const Git = await loadNodegit()
    const session = await Session.open(Git, this.auth, url)
    const remote = await Git.Remote.createAnonymous(repo, session.route.url)
    try {
      await remote.fetch(refspecs, {callbacks: session.callbacks(), downloadTags: Git.Remote.AUTOTAG_OPTION.DOWNLOAD_TAGS_NONE} as unknown as NodeGitModule.FetchOptions, 'ml fetch')
    } catch (error) {
      throw session.explain(error)
    } finally {
      await session.close()
    }
  }

  /** Pushes `refspecs`; a ref the server refuses is reported, not thrown. */
  async push(repo: NodeGitModule.Repository, url: string, refspecs: string[]): Promise<PushedRef[]> {
    const Git = await loadNodegit()
    const session = await Session.open(Git, this.auth, url)
    const remote = await Git.Remote.createAnonymous(repo, session.route.url)
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
    } finally {
      await session.close()
    }
    return refspecs.map((spec) => {
      const ref = spec.replace(/^\+/, '').split(':').at(-1)!
      return results.get(ref) ?? {ref}
    })
  }

  /**
   * Clones `url` into `dir` with `origin` set to `url`, writing no file of its default branch:
   * the caller checks that branch's tree before checking it out (see user-repo.ts).
   * From a local remote (a path or file://), its object store is copied, not repacked object
   * by object (libgit2's local transport: 17 s for 240 MB), and never linked: a shared
   * folder's owner could change a linked file after the clone. A remote that borrows objects
   * from elsewhere (objects/info/alternates) is fetched as any other, so that no path it names
   * is ever read by the clone. `copied` says the clone holds all the remote's objects.
   */
  async clone(url: string, dir: string): Promise<{repo: NodeGitModule.Repository; copied: boolean}> {
    const Git = await loadNodegit()
    const modes = (Git.Clone as unknown as {LOCAL: Record<string, number>}).LOCAL
    const {scheme} = parseRemoteUrl(url)
    if (scheme === 'file' || scheme === 'local') {
      const repo = await this.cloneWith(url, dir, modes.NO_LINKS)
      if (!(await pathExists(path.join(repo.path(), 'objects', 'info', 'alternates')))) return {repo, copied: true}
      repo.cleanup()
      await fs.rm(dir, {recursive: true, force: true})
    }
    return {repo: await this.cloneWith(url, dir, modes.NO_LOCAL), copied: false}
  }

  private async cloneWith(url: string, dir: string, local: number): Promise<NodeGitModule.Repository> {
    const Git = await loadNodegit()
    const session = await Session.open(Git, this.auth, url)
    try {
      // Read at run time: @types/nodegit's const enum says NONE is 0, which libgit2 1.9 reads as SAFE (a full checkout).
      const none = (Git.Checkout as unknown as {STRATEGY: Record<string, number>}).STRATEGY.NONE
      const options = {local, fetchOpts: {callbacks: session.callbacks()}, checkoutOpts: {checkoutStrategy: none}}
      const repo = await (Git.Clone as unknown as {clone: typeof Git.Clone}).clone(session.route.url, dir, options as unknown as NodeGitModule.CloneOptions)
      if (session.route.url !== url) Git.Remote.setUrl(repo, 'origin', url)
      return repo
    } catch (error) {
      throw session.explain(error)
    } finally {
      await session.close()
    }
  }
}

/**
 * One connection's callbacks and what they found: the credential or the server check that
 * failed explains the failure better than libgit2's message after it.
 */
class Session {
  private readonly credentials: Credentials
  private failure?: MlError

  private constructor(private readonly Git: NodeGit, private readonly auth: AuthOptions, private readonly url: string, readonly route: GitRoute) {
    this.credentials = new Credentials(Git, auth, url, route.ssh)
  }

  /** A session for `url`, with the route ~/.ssh/config gives an ssh remote; closed when done with. */
  static async open(Git: NodeGit, auth: AuthOptions, url: string): Promise<Session> {
    return new Session(Git, auth, url, await gitRoute(url, auth.home, auth.jump))
  }

  close(): Promise<void> {
    return this.route.close()
  }

  callbacks() {
    const {onProgress} = this.auth
    return {
      credentials: async (_url: string, username: string | null, allowed: number) => {
        const credential = await this.credentials.next(username, allowed)
        if (credential) return credential
        // Failing the callback is what makes libgit2 stop asking (nodegit takes any other answer for a credential).
        this.failure ??= authFailure(this.url, this.credentials.tried)
        throw this.failure
      },
      certificateCheck: async (cert: NodeGitModule.Cert, valid: number, host: string) => {
        if (valid) return 0
        this.failure = (await checkServer(this.Git, cert, host, this.route, this.auth.home, this.auth.env.ML_SSH_KNOWN_HOSTS)) ?? undefined
        return this.failure ? -1 : 0
      },
      ...onProgress && {
        transferProgress: (p: NodeGitModule.TransferProgress) => {
          const stats = p as unknown as {receivedObjects(): number; totalObjects(): number; receivedBytes(): number}
          onProgress({done: stats.receivedObjects(), total: stats.totalObjects(), bytesDone: stats.receivedBytes(), bytesTotal: 0})
        },
        pushTransferProgress: (done: number, total: number, bytes: number) => onProgress({done, total, bytesDone: bytes, bytesTotal: 0}),
      },
    }
  }

  /** The MlError for a failed operation: what the callbacks found, else libgit2's message, redacted. */
  explain(error: unknown): MlError {
    return this.failure ?? explainRemoteError(error, this.url, this.credentials.tried)
  }
}
