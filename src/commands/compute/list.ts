import {MlCommand, outputFlags} from '../../cli/ml-command.js'
import {computeTargets, type ComputeTarget, targetWhere} from '../../core/compute/targets.js'
import type {Column} from '../../render/output.js'

const COLUMNS: Column<ComputeTarget>[] = [
  {header: 'NAME', value: (t) => t.name, keep: true},
  {header: 'TYPE', value: (t) => t.type},
  {header: 'HOST', value: (t) => targetWhere(t)},
  {header: 'WORK DIR', value: (t) => t.workDir},
  {header: 'PARTITION', value: (t) => (t.type === 'slurm' ? t.partition ?? '(default)' : '')},
]

export default class ComputeList extends MlCommand {
  static summary = 'List the compute targets attached to this project.'
  static description = '`local` (this machine) is always there and is not listed. -o json prints the targets as stored.'
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> -o json']
  static flags = {...outputFlags}

  async run(): Promise<void> {
    const {flags} = await this.parse(ComputeList)
    const targets = await computeTargets(process.cwd())
    if (targets.length === 0 && flags.output === 'table' && flags.query === undefined) {
      this.logToStderr('No compute target is attached; attach one with `ml compute attach NAME --type ssh|slurm ...`.')
      return
    }
    this.print(flags, targets, targets, COLUMNS)
  }
}
