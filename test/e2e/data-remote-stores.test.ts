import {createHash, randomBytes} from 'node:crypto'
import {promises as fs, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {cleanup, git, ml, ok, tempDir, timedSuite, write} from '../helpers.js'
import {startS3Server} from '../s3-server.js'
import {startSshd} from '../servers.js'

/**
 * Restore with data through the store kinds that cross a network: an ssh store (a real sshd,
 * SFTP) and an s3 store (s3rver). A makes the runs and pushes; B, another HOME with only the
 * store's credentials, gets the data back byte for byte, lets gc empty its cache, and gets it
 * back again from the store.
 */
const test = timedSuite('data-remote-stores', 240_000)
const closers: Array<() => Promise<void>> = []
test.after.each(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await cleanup()
})

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')
const json = async <T>(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<T> => JSON.parse(ok(await ml(cwd, [...args, '-o', 'json'], env)).stdout) as T

interface StoreSetup {
  /** The arguments of `ml project update` that set the store. */
  args: string[]
  /** What a HOME needs besides: keys, known hosts, AWS credentials. */
  env: (home: string) => Promise<NodeJS.ProcessEnv>
}

async function sshStore(): Promise<StoreSetup> {
  const sshd = await startSshd()
  closers.push(() => sshd.close())
  const root = path.join(tempDir('ml-host-'), 'store')
  return {
    args: ['--store', sshd.url(root)],
    env: async (home) => {
      await fs.mkdir(path.join(home, '.ssh'), {recursive: true})
      writeFileSync(path.join(home, '.ssh', 'known_hosts'), sshd.knownHostsLine)
      return {HOME: home, SSH_AUTH_SOCK: '', ML_SSH_KEY: sshd.userKey}
    },
  }
}

async function s3Store(): Promise<StoreSetup> {
  const s3 = await startS3Server()
  closers.push(() => s3.close())
  return {args: ['--store', `s3://${s3.bucket}/team`, '--endpoint', s3.endpoint], env: async (home) => ({HOME: home, ...s3.env})}
}

for (const [kind, setup] of [['ssh', sshStore], ['s3', s3Store]] as const) {
  test(`${kind}: a teammate restores a run's data from the store, and again after gc empties the cache`, async () => {
    const store = await setup()
    const root = tempDir()
    const a = path.join(root, 'a')
    const bare = path.join(root, 'remote.git')
    git(root, ['init', '-q', '--bare', bare])
    const envA = await store.env(path.join(root, 'homeA'))
    const envB = await store.env(path.join(root, 'homeB'))
    const files: Record<string, Uint8Array | string> = {'train.py': 'print(open("data/f0.bin", "rb").read()[:1])\n', 'data/labels.csv': 'x,y\n'}
    for (let i = 0; i < 8; i++) files[`data/f${i}.bin`] = randomBytes(300 * 1024 + i)
    await write(a, files)
    ok(await ml(a, ['project', 'init', '.', '--name', `roam-${kind}`], envA))
    ok(await ml(a, ['data', 'track', 'data'], envA))
    ok(await ml(a, ['project', 'update', '-r', bare, ...store.args], envA))
    ok(await ml(a, ['experiment', 'submit', 'train.py'], envA))
    const [run] = await json<Array<{runId: string}>>(a, ['history', 'list'], envA)

    ok(await ml(root, ['project', 'clone', bare, 'b'], envB))
    const b = path.join(root, 'b')
    ok(await ml(b, ['project', 'restore', run.runId, '--with-data', '--yes'], envB))
    const dataFiles = Object.keys(files).filter((f) => f.startsWith('data/'))
    for (const rel of dataFiles) assert.is(sha(path.join(b, rel)), sha(path.join(a, rel)), rel)

    const gc = ok(await ml(b, ['data', 'gc', '--max-size', '0'], envB))
    assert.match(gc.stdout, /Removed 9 objects/)
    await fs.rm(path.join(b, 'data'), {recursive: true})
    ok(await ml(b, ['project', 'restore', run.runId, '--with-data', '--yes'], envB))
    for (const rel of dataFiles) assert.is(sha(path.join(b, rel)), sha(path.join(a, rel)), `${rel}, again`)
  })
}

test.run()
