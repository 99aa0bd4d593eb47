import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {homedir} from 'node:os'
import {MlCommand} from '../../cli/ml-command.js'
import {attachTarget} from '../../core/compute/targets.js'

export default class ComputeAttach extends MlCommand {
  static summary = 'Attach a compute target: an ssh host, or a Slurm cluster.'
  static description = `Kept in .ml/compute/NAME.json, on this machine only (not pushed). No secret is stored: a key by its path (--identity), never a password; keys are tried as for ssh remotes (--identity, ssh-agent, ML_SSH_KEY, ~/.ssh/id_*), and the host's key must be in ~/.ssh/known_hosts (or ML_SSH_KNOWN_HOSTS).
The host may be a Host alias of ~/.ssh/config, used as \`ssh ALIAS\` would: its HostName, User, Port, IdentityFile, IdentitiesOnly, UserKnownHostsFile and ProxyJump apply, read at each connection; --port, a user in --host and --identity win over the file.
--type ssh runs each run in <work-dir>/<project-id>/<run-id>/ on the host (--work-dir is relative to the login's home unless absolute; .ml-runs by default). The host needs a POSIX shell, setsid and the interpreter; not ml, not git.
--type slurm submits each run with sbatch. Without --host, Slurm's commands run on this machine and --work-dir (~/.ml-runs by default) must be on a file system the cluster's nodes share; with --host they run over ssh on that login node.
Check a target with \`ml compute check NAME\`.`

  static examples = [
    '<%= config.bin %> <%= command.id %> gpubox --type ssh --host alice@gpu1.example.com --identity ~/.ssh/id_ed25519',
    '<%= config.bin %> <%= command.id %> gpubox ssh://gpubox',
    '<%= config.bin %> <%= command.id %> cluster --type slurm --partition gpu --sbatch-arg=--gres=gpu:1 --sbatch-arg=--time=2:00:00',
    '<%= config.bin %> <%= command.id %> hpc --type slurm --host alice@login.hpc.example.org --work-dir /scratch/alice/ml',
  ]

  static args = {
    name: Args.string({description: 'The name runs are submitted to (-c NAME).', required: true}),
    url: Args.string({description: 'ssh://[USER@]HOST[:PORT]: the same as --type ssh --host USER@HOST --port PORT.'}),
  }

  static flags = {
    type: Flags.string({description: 'ssh or slurm (ssh with a URL).', options: ['ssh', 'slurm']}),
    host: Flags.string({description: '[USER@]HOST: the ssh host, or the Slurm login node (a Host alias of ~/.ssh/config works).'}),
    port: Flags.integer({description: "The host's ssh port (22, or Port in ~/.ssh/config).", min: 1, max: 65_535}),
    identity: Flags.string({description: 'A private key file to log in with.'}),
    'work-dir': Flags.string({description: 'Where runs are put on the target.'}),
    python: Flags.string({description: 'The command that runs .py scripts there (python3).'}),
    partition: Flags.string({description: 'Slurm: the partition to submit to (the default partition otherwise).'}),
    'sbatch-arg': Flags.string({description: 'Slurm: an sbatch option given to every run, as --sbatch-arg=--time=1:00:00 (repeatable).', multiple: true}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ComputeAttach)
    const target = await attachTarget(process.cwd(), {
      name: args.name, type: flags.type, url: args.url, host: flags.host, port: flags.port, identity: flags.identity, workDir: flags['work-dir'],
      python: flags.python, partition: flags.partition, sbatchArgs: flags['sbatch-arg'], cwd: process.cwd(), home: process.env.HOME || homedir(),
    })
    this.log(`Attached ${target.name} (${target.type}${target.host ? ` on ${target.host}` : ''}); check it with \`ml compute check ${target.name}\`, run on it with \`ml experiment submit -c ${target.name} SCRIPT\`.`)
  }
}
