import * as Flags from '@oclif/core/flags'
import {spawn} from 'node:child_process'
import {openSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {MlCommand} from '../../cli/ml-command.js'
import {startQueue} from '../../core/execution/queue.js'
import {mlPath} from '../../core/project/layout.js'
import {queueWorkerRunning, readQueueWorker} from '../../core/project/lock.js'
import {findProject} from '../../core/project/project.js'
import {templatesDir} from '../../core/setup/init.js'
import {MlError} from '../../shared/errors.js'
import {formatDuration} from '../../render/output.js'
import {plural} from '../../shared/plural.js'

export default class QueueStart extends MlCommand {
  static summary = "Run the project's queued runs."
  static description = `Runs the runs queued on this machine (\`ml experiment submit --queue\`, \`ml experiment sweep --queue\`), oldest first, -j N at once, each isolated in a private checkout of its snapshot, and returns when the queue is empty; with --watch it keeps waiting for new runs until stopped. Runs can be queued while it works.
With --detach a background worker does it and the command returns at once; its output goes to .ml/queue/worker.log. Only one worker runs a project's queue: a second start says where the first is (QUEUE_WORKER_RUNNING).
\`ml queue stop\` (or SIGTERM) lets the running runs finish and starts no more; Ctrl-C (or \`ml queue stop --now\`) cancels them too, recorded as Canceled. A worker that is killed leaves its running runs recorded as Failed, with the reason, and the queued ones queued.`

  static examples = [
    '<%= config.bin %> <%= command.id %> -j 2',
    '<%= config.bin %> <%= command.id %> -j 4 --detach --watch',
  ]

  static flags = {
    jobs: Flags.integer({char: 'j', description: 'How many runs at once.', default: 1, min: 1}),
    detach: Flags.boolean({description: 'Run the worker in the background and return at once.'}),
    watch: Flags.boolean({description: 'Keep waiting for new runs when the queue is empty, until stopped.'}),
    'no-push': Flags.boolean({description: "Do not push the runs to the project's remote."}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(QueueStart)
    if (flags.detach) return this.detach(flags.jobs, flags.watch, flags['no-push'])
    const cancel = new AbortController()
    const stop = new AbortController()
    const onInt = () => {
      if (cancel.signal.aborted) process.exit(130)
      this.logToStderr('Canceling the running runs; the queued ones stay queued.')
      cancel.abort()
    }
    const onTerm = () => {
      this.logToStderr('Stopping: the running runs finish, no more start.')
      stop.abort()
    }
    process.on('SIGINT', onInt)
    process.on('SIGTERM', onTerm)
    try {
      const ran = await startQueue({
        cwd: process.cwd(),
        jobs: flags.jobs,
        watch: flags.watch,
        stop: stop.signal,
        signal: cancel.signal,
        env: process.env,
        runLoggerDir: path.join(templatesDir(), 'common'),
        mlVersion: this.config.version,
        auth: this.auth(),
        push: !flags['no-push'],
        onPushProblem: (message) => this.logToStderr(`Warning: ${message}`),
        onWarning: (message) => this.logToStderr(`Warning: ${message}`),
        onRunStart: (run) => this.logToStderr(`${new Date().toISOString()} Run ${run.runId} started: ${[run.script, ...run.arguments].join(' ')}`),
        onRunEnd: (run) => this.logToStderr(`${new Date().toISOString()} Run ${run.runId} ${run.status} in ${formatDuration(run.durationMs)}.`),
      })
      this.logToStderr(`The queue worker ran ${plural(ran.length, 'run')}${flags.watch ? '' : '; the queue is empty'}.`)
      if (cancel.signal.aborted) process.exitCode = 130
    } finally {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
    }
  }

  /** Starts this command without --detach as a background process, and returns once it works the queue. */
  private async detach(jobs: number, watch: boolean, noPush: boolean): Promise<void> {
    const project = await findProject(process.cwd())
    const worker = await readQueueWorker(project)
    if (worker) throw queueWorkerRunning(worker)
    const log = mlPath(project.dir, 'queue', 'worker.log')
    await fs.mkdir(path.dirname(log), {recursive: true})
    const out = openSync(log, 'a')
    const args = [process.argv[1], 'queue', 'start', '-j', String(jobs), ...watch ? ['--watch'] : [], ...noPush ? ['--no-push'] : []]
    const child = spawn(process.execPath, args, {cwd: project.dir, detached: true, stdio: ['ignore', out, out], env: process.env})
    child.unref()
    // Until it has made its worker file, `ml queue status` would not show it: wait for that (or its early end).
    let ended = false
    child.on('exit', () => (ended = true))
    for (let waited = 0; waited < 10_000 && !ended; waited += 50) {
      if ((await readQueueWorker(project))?.pid === child.pid) {
        this.log(`Queue worker started (ml process ${child.pid}); its log is ${path.relative(process.cwd(), log) || log}.`)
        return
      }
      await sleep(50)
    }
    const tail = (await fs.readFile(log, 'utf8')).trim().split('\n').slice(-3).join(' ')
    throw new MlError('QUEUE_NOT_RUNNING', `The queue worker ${ended ? 'ended at once' : 'did not start'}${tail ? `: ${tail}` : ''}; see ${log}.`)
  }
}
