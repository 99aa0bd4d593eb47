import {Command, Flags} from '@oclif/core'
import {MlError} from '../core/errors.js'
import {OUTPUT_FORMATS} from './output.js'

/**
 * The base of every ml command: an MlError becomes one line on stderr, `Error [CODE]: message`,
 * and exit code 1; anything else is left to oclif.
 */
export abstract class MlCommand extends Command {
  protected async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (error instanceof MlError) {
      this.logToStderr(`Error [${error.code}]: ${error.message}`)
      process.exitCode = 1
      return
    }
    return super.catch(error)
  }
}

export const outputFlag = Flags.option({
  char: 'o',
  description: 'Output format.',
  options: OUTPUT_FORMATS,
  default: 'table' as const,
})
