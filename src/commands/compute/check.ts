import * as Args from '@oclif/core/args'
import {MlCommand} from '../../cli/ml-command.js'
import {checkTarget} from '../../core/compute/check-target.js'
import {MlError} from '../../shared/errors.js'

export default class ComputeCheck extends MlCommand {
  static summary = 'Check that runs can run on a compute target.'
  static description = 'Connects, and checks that the work dir is writable, that the interpreter runs, that setsid is there (ssh), and for Slurm that its commands run and the partition exists. Prints what it found; any failed check is COMPUTE_ERROR.'
  static examples = ['<%= config.bin %> <%= command.id %> gpubox']
  static args = {name: Args.string({description: "The target's name.", required: true})}

  async run(): Promise<void> {
    const {args} = await this.parse(ComputeCheck)
    const {target, checks} = await checkTarget(process.cwd(), args.name, this.auth())
    for (const check of checks) this.log(`${check.ok ? 'ok  ' : 'FAIL'}  ${check.what.padEnd(10)} ${check.found}`)
    const failed = checks.filter((c) => !c.ok)
    if (failed.length > 0) throw new MlError('COMPUTE_ERROR', `${target.name} failed ${failed.length} check${failed.length === 1 ? '' : 's'} (${failed.map((c) => c.what).join(', ')}).`)
  }
}
