import {execute} from '@oclif/core'
import {protectScriptArgs} from './submit-argv.js'

/** The CLI's entry, bundled by `npm run build` into dist/bundle/run.js (which bin/run.js loads). */
await execute({dir: import.meta.url, args: protectScriptArgs(process.argv.slice(2))})
