#!/usr/bin/env node
// Writes dist/bundle/oclif.cjs.cache, the V8 code cache of oclif (see src/cli/require-cached.ts),
// by running `ml --version` once with ML_WRITE_CODE_CACHE=1 (run by `npm run build`, after
// bin/manifest.js): oclif then loads its config and the manifest, as every command does.
import {spawnSync} from 'node:child_process'
import {existsSync, rmSync} from 'node:fs'

const cache = 'dist/bundle/oclif.cjs.cache'
rmSync(cache, {force: true})
const run = spawnSync(process.execPath, ['bin/run.js', '--version'], {env: {...process.env, ML_WRITE_CODE_CACHE: '1'}, encoding: 'utf8'})
if (run.status !== 0 || !existsSync(cache)) throw new Error(`bin/run.js --version did not write ${cache}:\n${run.stdout}${run.stderr}`)
