import * as Flags from '@oclif/core/flags'
import {dataGc} from '../../core/remote/data-gc.js'
import {MlCommand} from '../../cli/ml-command.js'
import {reportDataGc} from '../../render/data.js'
import {MlError} from '../../shared/errors.js'
import {parseBytes} from '../../shared/format-bytes.js'

export default class DataGc extends MlCommand {
  static summary = 'Shrink the object cache, removing only what the artifact store holds.'
  static description = 'The object cache (.ml/objects/, or the folder ML_DATA_CACHE names) keeps data files and large outputs by sha256 for restores, downloads and backups of data. Before anything is fetched into it, it is brought under ML_DATA_CACHE_LIMIT (20GB when unset). `ml data gc` removes what no run and no restore backup of the project names (unused for an hour; not in a shared cache, where it may be another project\'s), then, while the cache is over the limit (or --max-size), what the artifact store holds, least recently used first, so that any of it can be fetched again. What a run or a backup needs and the store lacks stays, whatever the size. --max-size 0 removes everything the store holds.'
  static examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --max-size 0 --dry-run', '<%= config.bin %> <%= command.id %> --max-size 5GB']

  static flags = {
    'max-size': Flags.string({description: 'The size to bring the cache under (20GB, 500MB, 0); the cache limit by default.'}),
    'dry-run': Flags.boolean({description: 'Say what would be removed, and remove nothing.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(DataGc)
    const text = flags['max-size']
    const maxBytes = text === undefined ? undefined : parseBytes(text)
    if (maxBytes === null) throw new MlError('INVALID_ARGUMENT', `--max-size ${JSON.stringify(text)} is not a size (such as 20GB, 500MB or 0).`)
    reportDataGc(this, await dataGc(process.cwd(), this.auth(), {maxBytes, dryRun: flags['dry-run']}), flags['dry-run'])
  }
}
