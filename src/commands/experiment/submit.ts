import {Args, Flags} from '@oclif/core'
import {splitSubmitArgv} from '../../cli/submit-argv.js'
import {submitExperiment} from '../../core/experiment.js'
import {MlCommand, quietFlag} from '../../render/ml-command.js'
import {formatDuration, shortId} from '../../render/output.js'
import {progressBar} from '../../render/progress.js'

export default class ExperimentSubmit extends MlCommand {
  static summary = 'Run a script as a recorded experiment.'
  static description = `Snapshots the project folder into its history (a new commit only when something changed), records a run with the git properties of your repo, runs SCRIPT in the project folder and records how it ended, its log and the files it wrote to outputs/.
.py runs with python3, .js/.mjs with node, .sh with bash; anything else is executed directly. Everything after SCRIPT is passed to it unchanged. The script sees ML_RUN_ID, ML_PROJECT_DIR, ML_OUTPUTS_DIR and ML_METRICS_FILE (append JSON lines {"name", "value", "step"} to log metrics; run_logger.py does it for Python). ml exits with the script's exit code; Ctrl-C stops the script and records the run as Canceled.
A snapshot that takes more than a second shows a progress bar on a terminal (not with -q).
When the project has a remote, the snapshot and the run are pushed before the script starts and again when it ends (not with --no-push). A failed push never fails the run: it is reported, and \`ml history push\` or the next submit sends it.`

  static examples = [
    '<%= config.bin %> <%= command.id %> train.py',
    '<%= config.bin %> <%= command.id %> -c local train.py --epochs 10 --lr 0.01',
  ]

  static usage = '<%= command.id %> [-c local] [--no-push] [-q] SCRIPT [ARGS...]'

  static strict = false

  static args = {
    script: Args.string({description: 'The script to run, relative to the current folder.', required: true}),
  }

  static flags = {
    compute: Flags.string({char: 'c', description: 'Compute target to run on.', default: 'local'}),
    'no-push': Flags.boolean({description: "Do not push the run to the project's remote."}),
    quiet: quietFlag,
  }

  async run(): Promise<void> {
    const {mine, script, scriptArgs} = splitSubmitArgv(this.argv)
    const {flags} = await this.parse(ExperimentSubmit, script === undefined ? mine : [...mine, '--', script])
    const controller = new AbortController()
    const stop = () => controller.abort()
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    const progress = progressBar('Snapshot', flags.quiet)
    try {
      const run = await submitExperiment({
        cwd: process.cwd(),
        script: script!,
        args: scriptArgs,
        compute: flags.compute,
        env: process.env,
        signal: controller.signal,
        onOutput: (chunk, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk),
        auth: this.auth(),
        push: !flags['no-push'],
        onPushProblem: (message) => this.logToStderr(`Warning: ${message}`),
        onWarning: (message) => this.logToStderr(`Warning: ${message}`),
        onProgress: progress.onProgress,
        onStart: (r, created) => {
          progress.stop()
          this.logToStderr(`Run ${r.runId} started (snapshot ${shortId(r.snapshotId)}${created ? '' : ', unchanged'}).`)
        },
      })
      const how = run.status === 'Completed' ? '' : ` (exit code ${run.exitCode}${run.error ? `; ${run.error}` : ''})`
      this.logToStderr(`Run ${run.runId} ${run.status} in ${formatDuration(run.durationMs)}${how}.`)
      process.exitCode = run.status === 'Canceled' ? 130 : run.exitCode
    } finally {
      progress.stop()
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  }
}
