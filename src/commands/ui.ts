import * as Flags from '@oclif/core/flags'
import {spawn} from 'node:child_process'
import {constants} from 'node:os'
import {MlCommand} from '../cli/ml-command.js'
import {uiAssetsDir} from '../ui/assets.js'
import {startUiServer} from '../ui/server.js'

export default class Ui extends MlCommand {
  static summary = "Show the project's runs in a local web dashboard."
  static description = `Starts a web server for the project (from any folder inside it) and prints its URL: the runs table (sort, filter, select), metric charts of the selected runs overlaid, a metric against a parameter across runs, each run's page (params, environment, metrics, its log, live while it runs, outputs to download, the snapshot's files), compare and code diff, and restore with a preview and a confirm. Runs started or ended meanwhile (from the CLI, a sweep, a Slurm sync) appear without reloading. Everything is served from this machine: it works offline.
The server listens on 127.0.0.1 unless --host says otherwise, and every request needs the random token in the printed URL; --host 0.0.0.0 lets other machines in (with the token), and ml says so. A busy --port (or 0) picks a free one. The browser is opened when there is a display and a terminal (not with --no-open, not in CI). Ctrl-C stops the server.`

  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --port 8080 --no-open']

  static flags = {
    port: Flags.integer({description: 'The port to listen on (0: any free one).', default: 5117, min: 0, max: 65_535}),
    host: Flags.string({description: 'The address to listen on.', default: '127.0.0.1'}),
    'no-open': Flags.boolean({description: 'Do not open a browser.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Ui)
    const warn = (m: string) => this.logToStderr(`Warning: ${m}`)
    const server = await startUiServer({
      cwd: process.cwd(),
      host: flags.host,
      port: flags.port,
      assetsDir: uiAssetsDir(),
      api: {
        sync: {auth: this.auth(), mlVersion: this.config.version, push: true, timeoutMs: 5000, onWarning: warn, onPushProblem: warn},
        onInternal: (error) => warn(`ml ui could not answer a request: ${process.env.ML_DEBUG === '1' ? (error as Error).stack : (error as Error).message}`),
      },
    })
    if (server.portBusy) this.logToStderr(`Port ${flags.port} is busy; using ${server.port}.`)
    if (flags.host === '0.0.0.0' || flags.host === '::') warn(`ml ui listens on every address (${flags.host}): anyone who can reach this machine and has the URL's token can read the runs and restore the folder.`)
    this.logToStderr(`Dashboard of ${server.project.config.name}: open this URL (Ctrl-C stops the server):`)
    this.log(server.url)
    if (!flags['no-open'] && process.stdout.isTTY && !process.env.CI && (process.platform === 'darwin' || process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) {
      spawn(process.platform === 'darwin' ? 'open' : 'xdg-open', [server.url], {stdio: 'ignore', detached: true}).on('error', () => {}).unref()
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        process.exitCode = 128 + constants.signals[signal]
        void server.close().then(resolve)
      }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
  }
}
