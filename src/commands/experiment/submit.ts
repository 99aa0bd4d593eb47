import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {constants} from 'node:os'
import path from 'node:path'
import {splitSubmitArgv} from '../../cli/submit-argv.js'
import {submitExperiment} from '../../core/execution/experiment.js'
import {templatesDir} from '../../core/setup/init.js'
import {MlCommand, quietFlag} from '../../cli/ml-command.js'
import {formatDuration, shortId} from '../../render/output.js'
import {progressBar} from '../../render/progress.js'

export default class ExperimentSubmit extends MlCommand {
  static summary = 'Run a script as a recorded experiment.'
  static description = `Snapshots the project folder into its history (a new commit only when something changed), records a run with the git properties of your repo, runs SCRIPT in the project folder and records how it ended, its log and the files it wrote to outputs/.
.py runs with python3, .js/.mjs with node, .sh with bash, .R with Rscript, .jl with julia, .ipynb with jupyter nbconvert --execute (the executed notebook goes to outputs/); anything else is executed directly and needs its executable bit. A script that cannot start is an error (SCRIPT_NOT_EXECUTABLE, INTERPRETER_NOT_FOUND) before anything is recorded. Everything after SCRIPT is passed to it unchanged. The script sees ML_RUN_ID, ML_PROJECT_DIR, ML_OUTPUTS_DIR and ML_METRICS_FILE (append JSON lines {"name", "value", "step"} to log metrics; \`from run_logger import log\` does it for Python: ml puts its run_logger.py on PYTHONPATH). ml exits with the script's exit code.
Ctrl-C (or SIGINT/SIGTERM to ml) cancels the run: the script's process group gets SIGINT (Python's KeyboardInterrupt), then SIGTERM after 10 s and SIGKILL after 20 s; the run is recorded as Canceled and ml exits 130 (143 for SIGTERM).
One run at a time runs in the project folder, since runs there share outputs/: a submit while another run of the project is running there runs isolated instead (as with --isolated, below), and says so in one line. With --in-place it runs in the folder or not at all: it is refused (RUN_IN_PROGRESS, naming that run and its pid) before anything is recorded. A run whose ml process is gone does not block the next. Should ml itself be killed (SIGKILL), the script's process group is stopped too (SIGINT, then SIGTERM and SIGKILL), and the next listing records the run as Failed.
With --isolated the script runs in a private checkout of its snapshot, .ml/work/<run-id>/ (removed after the run unless --keep-workdir): edits you make meanwhile cannot change what it reads, and isolated runs never write over each other, so several can run at once. What the snapshot leaves out by ignore rules (data sets) is linked there to the originals, never copied; outputs/, the log and metrics are recorded as for a run in the folder. With --queue the run is snapshotted and recorded as Queued now, and \`ml queue start\` runs it (isolated).
Every run records its parameters (params.yaml or params.json in the project root, flattened to dotted names; then the script's --name value, --name=value and name=value arguments; then what it logs with run_logger's log_param) and its environment (environment.json: OS, CPUs, memory, the interpreter and its version, pip freeze as requirements.txt, conda, GPUs), collected while the script runs.
A snapshot, and a push to the remote, that takes more than a second shows a progress bar on a terminal (not with -q).
--input NAME=RUN:outputs/PATH gives the script another run's output (a model, say): the file is put in .ml/runs/<run-id>/inputs/NAME/ (from the history, this machine's object cache or the artifact store, checked against its sha256), its path is in ML_INPUT_<NAME>, and the run's inputs record the run and the file's sha256, so that \`ml history info\` shows the lineage both ways. Tracked data (\`ml data track\`) is recorded by version in every run's inputs.
With -c NAME the run goes to an attached compute target (\`ml compute attach\`). The snapshot is taken here; only the files the target does not have yet from this project's earlier runs are sent. On an ssh host the script runs in <work-dir>/<project-id>/<run-id>/ with the same ML_* variables, detached from the connection; its output is streamed, and when it ends its log, metrics, environment and outputs/ are brought back and recorded, and ml exits with its exit code. Ctrl-C stops it there (SIGINT, then SIGTERM and SIGKILL). If the connection drops, the run goes on there (COMPUTE_CONNECTION_LOST): \`ml history sync\` records it once it has ended. On Slurm the run is submitted with sbatch and recorded as Queued with its job id, and ml returns at once; \`ml history sync\` (or \`history list\`) records it as it runs and ends. With --wait, ml follows it like a local run (Ctrl-C cancels the job).
When the project has a remote, the snapshot and the run are pushed before the script starts and again when it ends (not with --no-push). A failed push never fails the run: it is reported, and \`ml history push\` or the next submit sends it. Ctrl-C while the script has ended and a push goes on (or waits for another ml process) ends ml at once (130): the run is recorded here, and \`ml history push\` sends it.`

  static examples = [
    '<%= config.bin %> <%= command.id %> train.py',
    '<%= config.bin %> <%= command.id %> -c local train.py --epochs 10 --lr 0.01',
    '<%= config.bin %> <%= command.id %> --isolated train.py --lr 0.1',
    '<%= config.bin %> <%= command.id %> --queue train.py --lr 0.3',
    '<%= config.bin %> <%= command.id %> --input model=iris_17953:outputs/model.pkl evaluate.py',
    '<%= config.bin %> <%= command.id %> -c gpubox train.py --epochs 50',
    '<%= config.bin %> <%= command.id %> -c cluster --wait train.py',
  ]

  static usage = '<%= command.id %> [-c local|NAME [--wait]] [--isolated [--keep-workdir] | --in-place | --queue] [--input NAME=RUN:outputs/PATH...] [--no-push] [-q] SCRIPT [ARGS...]'

  static strict = false

  static args = {
    script: Args.string({description: 'The script to run, relative to the current folder.', required: true}),
  }

  static flags = {
    compute: Flags.string({char: 'c', description: 'Compute target to run on: local, or one attached with `ml compute attach`.', default: 'local'}),
    wait: Flags.boolean({description: 'On Slurm: follow the run until it ends, streaming its output.'}),
    isolated: Flags.boolean({description: 'Run in a private checkout of the snapshot (.ml/work/<run-id>/), not in the project folder.'}),
    'in-place': Flags.boolean({description: 'Run in the project folder or not at all: while another run runs there, refuse (RUN_IN_PROGRESS) instead of running isolated.', exclusive: ['isolated', 'queue']}),
    'keep-workdir': Flags.boolean({description: "Keep an isolated run's checkout after it ends.", dependsOn: ['isolated']}),
    queue: Flags.boolean({description: 'Record the run as Queued; `ml queue start` runs it.', exclusive: ['isolated']}),
    'no-push': Flags.boolean({description: "Do not push the run to the project's remote."}),
    input: Flags.string({description: "Another run's output the script reads, as NAME=RUN:outputs/PATH (repeatable): put in .ml/runs/<run-id>/inputs/NAME/, its path in ML_INPUT_<NAME>, and recorded in the run's inputs (local runs).", multiple: true}),
    quiet: quietFlag,
  }

  async run(): Promise<void> {
    const {mine, script, scriptArgs} = splitSubmitArgv(this.argv)
    const {flags} = await this.parse(ExperimentSubmit, script === undefined ? mine : [...mine, '--', script])
    const controller = new AbortController()
    let phase: 'preparing' | 'script' | 'recording' | 'pushing' = 'preparing'
    let received: NodeJS.Signals | undefined
    let pushes = 0
    let runId: string | undefined
    // While the script runs, a signal cancels it (and the run is recorded as Canceled); at any
    // other time, or a second time, ml ends at once: nothing git does can be waited for. A push
    // cut short (one waiting for another ml process's lock, say) is said, with how to send it.
    const stop = (signal: NodeJS.Signals) => {
      if (phase === 'script' && !received) {
        received = signal
        controller.abort()
        return
      }
      if (pushes > 0) {
        const recorded = phase === 'pushing' ? ` run ${runId} is recorded here, and` : ''
        this.logToStderr(`Interrupted: the push to the remote was not sent;${recorded} \`ml history push\` sends it.`)
      }
      process.exit(128 + constants.signals[signal])
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    const progress = progressBar('Snapshot', flags.quiet)
    const pushing = progressBar('Push', flags.quiet, 'objects')
    try {
      const run = await submitExperiment({
        cwd: process.cwd(),
        script: script!,
        args: scriptArgs,
        compute: flags.compute,
        isolated: flags.isolated,
        inPlace: flags['in-place'],
        onIsolated: (other, workdir) => this.logToStderr(`Another run${other ? ` (${other})` : ''} is running in this folder; running this one isolated in ${workdir}/.`),
        onPush: (started) => {
          pushes += started ? 1 : -1
          if (started && phase === 'recording') phase = 'pushing'
        },
        keepWorkdir: flags['keep-workdir'],
        queue: flags.queue,
        wait: flags.wait,
        inputs: flags.input,
        mlVersion: this.config.version,
        env: process.env,
        runLoggerDir: path.join(templatesDir(), 'common'),
        signal: controller.signal,
        onOutput: (chunk, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk),
        auth: this.auth(pushing.onProgress),
        push: !flags['no-push'],
        onPushProblem: (message) => progress.log(`Warning: ${message}`),
        onWarning: (message) => progress.log(`Warning: ${message}`),
        onProgress: progress.onProgress,
        onStart: (r, created) => {
          progress.stop()
          pushing.stop()
          phase = 'script'
          runId = r.runId
          this.logToStderr(`Run ${r.runId} started (snapshot ${shortId(r.snapshotId)}${created ? '' : ', unchanged'}).`)
        },
        onScriptEnd: () => (phase = 'recording'),
        onSent: (sent, where) => progress.log(`Sent ${sent.sent} new file${sent.sent === 1 ? '' : 's'} (${sent.sentBytes} bytes) to ${where}; ${sent.files - sent.sent} of the run's ${sent.files} were there already.`),
        onQueued: (r) => {
          progress.stop()
          if (flags.wait) phase = 'script'
          this.logToStderr(`Run ${r.runId} queued on ${r.compute} as Slurm job ${r.properties['slurm.job_id']} (snapshot ${shortId(r.snapshotId)}).`)
        },
      })
      pushing.stop()
      if (run.status === 'Queued') {
        progress.stop()
        if (run.compute === 'local') this.logToStderr(`Run ${run.runId} queued (snapshot ${shortId(run.snapshotId)}); \`ml queue start\` runs it.`)
        else this.logToStderr(`\`ml history list\` (or \`ml history sync\`) records it as it runs and ends; \`ml experiment cancel ${run.runId}\` cancels it.`)
        return
      }
      const how = run.status === 'Completed' ? '' : ` (exit code ${run.exitCode}${run.error ? `: ${run.error.replace(/\.$/, '')}` : ''})`
      this.logToStderr(`Run ${run.runId} ${run.status} in ${formatDuration(run.durationMs)}${how}.`)
      process.exitCode = run.status === 'Canceled' ? 128 + constants.signals[received ?? 'SIGINT'] : run.exitCode
    } finally {
      progress.stop()
      pushing.stop()
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  }
}
