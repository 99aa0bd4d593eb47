#!/usr/bin/env node
// Bundles the compiled CLI into dist/bundle/ (run by `npm run build`, after tsc): Node then
// reads a few files instead of resolving some 300 modules one by one, a third of a start-up.
// Packages loaded only on demand, nodegit's native addon, and write-file-atomic (CommonJS that
// uses __filename) stay outside the bundle.
import {build} from 'esbuild'

await build({
  entryPoints: {run: 'dist/src/cli/run.js', commands: 'dist/src/cli/commands.js'},
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['nodegit', 'ssh2', 'cli-progress', 'write-file-atomic', 'jmespath', 'yaml', 'typescript'],
  // oclif and its dependencies are CommonJS and call require() at run time.
  banner: {js: "import {createRequire as __mlCreateRequire} from 'node:module'; const require = __mlCreateRequire(import.meta.url);"},
  logLevel: 'warning',
})
