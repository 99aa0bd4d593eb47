import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {MlError} from '../shared/errors.js'

/** The built dashboard (dist/ui/, made by `npm run build`), found from wherever this module runs. */
export function uiAssetsDir(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'dist', 'ui', 'index.html'))) return path.join(dir, 'dist', 'ui')
  }
  throw new MlError('INSTALL_BROKEN', 'The dashboard of ml (dist/ui/) is missing; run `npm run build`, or reinstall ml.')
}
