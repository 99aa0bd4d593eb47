#!/usr/bin/env node
import {execute} from '@oclif/core'
import {protectScriptArgs} from '../dist/src/cli/submit-argv.js'

await execute({dir: import.meta.url, args: protectScriptArgs(process.argv.slice(2))})
