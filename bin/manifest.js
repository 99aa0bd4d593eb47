#!/usr/bin/env node
// Writes oclif.manifest.json (run by `npm run build`): with it, oclif loads only the command
// that runs instead of importing every command at start-up. The commands the CLI registers are
// stand-ins that import their class when run (src/cli/commands.ts), so the manifest is made
// from the classes themselves (src/cli/command-classes.ts), with their flags and help texts.
import {Plugin} from '@oclif/core'
import {readFileSync, writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
pjson.oclif.commands = {strategy: 'explicit', target: './dist/src/cli/command-classes.js', identifier: 'COMMAND_CLASSES'}
const plugin = new Plugin({root, pjson, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true})
await plugin.load()
writeFileSync(new URL('../oclif.manifest.json', import.meta.url), `${JSON.stringify(plugin.manifest, null, 2)}\n`)
