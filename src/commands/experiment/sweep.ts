import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {constants} from 'node:os'
import path from 'node:path'
import {splitSubmitArgv} from '../../cli/submit-argv.js'
import {MlCommand, quietFlag} from '../../cli/ml-command.js'
import {sweepExperiment} from '../../core/execution/sweep.js'
import {paramText} from '../../core/runs/params.js'
import {templatesDir} from '../../core/setup/init.js'
import type {RunRecord} from '../../core/runs/runs.js'
import {formatDuration, shortId} from '../../render/output.js'
import {plural} from '../../shared/plural.js'
import {progressBar} from '../../render/progress.js'

export default class ExperimentSweep extends MlCommand {
  static summary = 'Run a script once per combination of parameter values: a sweep.'
  static description = `Snapshots the project once, then runs SCRIPT [FIXED ARGS...] once per combination of the --grid values (or per random draw with --random N from the --range intervals), each run with --name value appended for its parameters. Every run is isolated (a private checkout of the snapshot, see \`ml experiment submit --isolated\`), -j N run at once, and each is recorded with the sweep's id: list them with \`ml history list --sweep ID\`, compare them with \`ml history compare --sweep ID\`.
--grid name=v1,v2,... gives one parameter's values (repeat it for more: every combination is run, the first grid varying slowest). --range name=lo:hi (or lo:hi:log for a log-uniform draw) gives an interval for --random N draws, seeded by --seed (default: a random seed, shown and recorded as the property ml.sweep.seed). More than 1000 runs need --yes.
Ctrl-C cancels the whole sweep: running scripts get SIGINT (so they can save a checkpoint), SIGTERM after 10 s and SIGKILL after 20 s; runs not started yet are recorded as Canceled. ml exits 0 when every run completed, 1 when one did not, 130 when canceled.
With -c NAME the runs go to an attached compute target: on an ssh host -j N of them run there at once, followed as \`experiment submit -c\` follows one; on Slurm the sweep is one job array (--array=0-K%N) recorded as Queued, and ml returns at once (\`ml history sync\` records the runs as they run and end).
With --queue, the runs are recorded as Queued and \`ml queue start\` runs them.`

  static examples = [
    '<%= config.bin %> <%= command.id %> -j 3 --grid lr=0.01,0.1 --grid epochs=10,20,40 train.py',
    '<%= config.bin %> <%= command.id %> --random 20 --seed 1 --range lr=0.0001:0.1:log train.py --epochs 10',
    '<%= config.bin %> <%= command.id %> --queue --grid lr=0.01,0.1,1 train.py',
  ]

  static usage = '<%= command.id %> [-j N] [--grid NAME=V1,V2,...]... [--random N [--seed S] --range NAME=LO:HI[:log]...] [-c local] [--queue] [--yes] [--no-push] [-q] SCRIPT [FIXED ARGS...]'

  static strict = false

  static args = {
    script: Args.string({description: 'The script to run, relative to the current folder.', required: true}),
  }

  static flags = {
    jobs: Flags.integer({char: 'j', description: 'How many runs at once.', default: 1}),
    grid: Flags.string({description: 'NAME=V1,V2,...: values of one parameter (repeatable).', multiple: true, default: []}),
    range: Flags.string({description: 'NAME=LO:HI[:log]: an interval to draw a parameter from, with --random (repeatable).', multiple: true, default: []}),
    random: Flags.integer({description: 'Draw this many runs at random from the --range intervals (and --grid values).'}),
    seed: Flags.integer({description: 'The seed of the random draws.', dependsOn: ['random']}),
    compute: Flags.string({char: 'c', description: 'Compute target to run on: local, or one attached with `ml compute attach`.', default: 'local'}),
    queue: Flags.boolean({description: 'Record the runs as Queued; `ml queue start` runs them.'}),
    yes: Flags.boolean({description: 'Run a sweep of more than 1000 runs.'}),
    'no-push': Flags.boolean({description: "Do not push the runs to the project's remote."}),
    quiet: quietFlag,
  }

  async run(): Promise<void> {
    const {mine, script, scriptArgs} = splitSubmitArgv(this.argv)
    const {flags} = await this.parse(ExperimentSweep, script === undefined ? mine : [...mine, '--', script])
    const controller = new AbortController()
    let received: NodeJS.Signals | undefined
    // While runs go on, a signal cancels the sweep (every run is recorded); a second one, or one
    // before the runs start, ends ml at once.
    let phase: 'preparing' | 'running' = 'preparing'
    const stop = (signal: NodeJS.Signals) => {
      if (phase !== 'running' || received) process.exit(128 + constants.signals[signal])
      received = signal
      this.logToStderr('Canceling the sweep: the running scripts get SIGINT, and the runs not started are recorded as Canceled.')
      controller.abort()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    const progress = progressBar('Snapshot', flags.quiet)
    const say = (line: string) => (flags.quiet ? undefined : this.logToStderr(line))
    try {
      const result = await sweepExperiment({
        cwd: process.cwd(),
        script: script!,
        args: scriptArgs,
        compute: flags.compute,
        grid: flags.grid,
        ranges: flags.range,
        random: flags.random,
        seed: flags.seed,
        jobs: flags.jobs,
        queue: flags.queue,
        yes: flags.yes,
        mlVersion: this.config.version,
        env: process.env,
        runLoggerDir: path.join(templatesDir(), 'common'),
        signal: controller.signal,
        // One run at a time shows its output as it comes; several at once would mix it (see `ml history log RUN`).
        onOutput: flags.jobs === 1 && !flags.queue ? (chunk, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk) : undefined,
        auth: this.auth(),
        push: !flags['no-push'],
        onPushProblem: (message) => progress.log(`Warning: ${message}`),
        onWarning: (message) => progress.log(`Warning: ${message}`),
        onProgress: progress.onProgress,
        onPlanned: ({sweepId, runs, seed, snapshotCreated}) => {
          progress.stop()
          phase = 'running'
          const job = runs[0].properties['slurm.job_id']
          const how = flags.queue ? 'queued' : job ? `submitted to ${flags.compute} as Slurm job array ${job.split('_')[0]}, at most ${flags.jobs} at once` : `${Math.min(flags.jobs, runs.length)} at once`
          say(`Sweep ${sweepId}: ${plural(runs.length, 'run')}, ${how} (snapshot ${shortId(runs[0].snapshotId)}${snapshotCreated ? '' : ', unchanged'}${seed === undefined ? '' : `, seed ${seed}`}).`)
        },
        onStart: (run) => say(`Run ${run.runId} started (${paramsLine(run)}).`),
        onRunEnd: (run) => say(`Run ${run.runId} ${run.status}${run.durationMs ? ` in ${formatDuration(run.durationMs)}` : ''} (${paramsLine(run)}).`),
      })
      const counts = new Map<string, number>()
      for (const run of result.runs) counts.set(run.status, (counts.get(run.status) ?? 0) + 1)
      const summary = [...counts].map(([status, n]) => `${n} ${status}`).join(', ')
      this.logToStderr(`Sweep ${result.sweepId}: ${summary}. Compare the runs with \`ml history compare --sweep ${result.sweepId}\`.`)
      const allFine = result.runs.every((run) => run.status === 'Completed' || run.status === 'Queued')
      process.exitCode = received ? 128 + constants.signals[received] : allFine ? 0 : 1
    } finally {
      progress.stop()
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  }
}

/** The parameters of a run's --name arguments, as `lr=0.1 epochs=3`. */
function paramsLine(run: RunRecord): string {
  const own = run.arguments.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0])
  return own.map((name) => `${name}=${paramText(run.params?.[name] ?? null)}`).join(' ')
}
