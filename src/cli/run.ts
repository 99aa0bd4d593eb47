import {execute} from '@oclif/core/execute'
import {armCrashPoint} from '../shared/crash-point.js'
import {protectScriptArgs} from './submit-argv.js'

armCrashPoint(process.env.ML_TEST_CRASH_AT)

/** The CLI's entry, bundled by `npm run build` into dist/bundle/run.js (which bin/run.js loads). */
await execute({dir: import.meta.url, args: protectScriptArgs(process.argv.slice(2))})
