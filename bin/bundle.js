#!/usr/bin/env node
// Bundles the compiled CLI into dist/bundle/ (run by `npm run build`, after tsc): Node then
// reads a few files instead of resolving some 300 modules one by one, a third of a start-up.
// Packages loaded only on demand and nodegit's native addon stay outside the bundle.
import {build} from 'esbuild'
import {existsSync} from 'node:fs'
import {copyFile, readdir, readFile} from 'node:fs/promises'
import {fileURLToPath} from 'node:url'

/** `debug` resolves to bin/debug-when-asked.cjs, which loads the real one only when DEBUG is set. */
const debugWhenAsked = {
  name: 'debug-when-asked',
  setup(build) {
    build.onResolve({filter: /^debug$/}, () => ({path: fileURLToPath(new URL('debug-when-asked.cjs', import.meta.url))}))
  },
}

await build({
  // The stamp check's thread is an entry of its own, beside the chunk that starts it (early-stamp-check.ts).
  entryPoints: {run: 'dist/src/cli/run.js', commands: 'dist/src/cli/commands.js', 'stamp-check-worker': 'dist/src/core/snapshot/stamp-check-worker.js'},
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['nodegit', 'ssh2', 'cli-progress', 'jmespath', 'yaml', 'typescript'],
  // oclif and its dependencies are CommonJS and call require() at run time; write-file-atomic
  // hashes its own __filename into its temporary names.
  banner: {js: "import {createRequire as __mlCreateRequire} from 'node:module'; import {fileURLToPath as __mlFileURLToPath} from 'node:url'; const require = __mlCreateRequire(import.meta.url); const __filename = __mlFileURLToPath(import.meta.url);"},
  plugins: [debugWhenAsked],
  logLevel: 'warning',
})

// A file the bundle opens beside itself (a worker's entry) must be one of its outputs.
for (const file of await readdir('dist/bundle')) {
  const text = await readFile(`dist/bundle/${file}`, 'utf8')
  for (const [, name] of text.matchAll(/new URL\("\.\/([^"]+)", import\.meta\.url\)/g)) {
    if (!existsSync(`dist/bundle/${name}`)) throw new Error(`dist/bundle/${file} opens ./${name}, which the bundle does not have`)
  }
}

// The dashboard of `ml ui`: one script and one stylesheet for the browser, nothing fetched from
// the network (it must work offline), and its page.
await build({
  entryPoints: {app: 'src/ui/web/main.tsx'},
  outdir: 'dist/ui',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  logLevel: 'warning',
})
await copyFile('src/ui/web/index.html', 'dist/ui/index.html')
