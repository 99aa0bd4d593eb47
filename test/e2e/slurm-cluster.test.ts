import {execFile} from 'node:child_process'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import * as assert from 'uvu/assert'
import {cleanup, tempDir, timedSuite} from '../helpers.js'
import {type SlurmCluster, slurmAvailable, startSlurm} from '../slurm-cluster.js'

const run = promisify(execFile)
const test = timedSuite('slurm-cluster', 90_000)
const clusters: SlurmCluster[] = []
test.after.each(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.stop()))
  await cleanup()
})

async function start(): Promise<SlurmCluster> {
  assert.ok(slurmAvailable(), 'these tests need root and Debian\'s slurmctld, slurmd, slurm-client and munge')
  const cluster = await startSlurm()
  clusters.push(cluster)
  return cluster
}

/** Submits a one-line job and waits for its end; returns the file it wrote. */
async function trivialJob(cluster: SlurmCluster, name: string): Promise<string> {
  const work = tempDir('ml-slurm-job-')
  const out = path.join(work, `${name}.txt`)
  await fs.writeFile(path.join(work, 'job.sh'), `#!/bin/sh\necho "ran $SLURM_JOB_ID on $SLURMD_NODENAME" > '${out}'\n`)
  const {stdout} = await run('sbatch', ['--wait', '--parsable', '-o', path.join(work, 'slurm-%j.out'), 'job.sh'], {cwd: work, env: {...process.env, ...cluster.env}})
  const id = stdout.trim()
  assert.match(id, /^\d+$/)
  assert.is((await fs.readFile(out, 'utf8')).trim(), `ran ${id} on ${cluster.node}`)
  return out
}

test('a single-node cluster runs a batch job and stops without leaving anything behind', async () => {
  const cluster = await start()
  assert.ok(existsSync(path.join(cluster.dir, 'slurm.conf')))
  const {stdout} = await run('sinfo', ['-h', '-o', '%P|%t|%N'], {env: {...process.env, ...cluster.env}})
  assert.is(stdout.trim(), `${cluster.partition}*|idle|${cluster.node}`)
  await trivialJob(cluster, 'first')
  await cluster.stop()
  assert.not.ok(existsSync(cluster.dir), 'stop() removes the folder')
})

test('a second cluster started after the first one stopped works as well', async () => {
  const first = await start()
  await trivialJob(first, 'first')
  await first.stop()
  const second = await start()
  assert.is.not(second.dir, first.dir)
  await trivialJob(second, 'second')
})

test.run()
