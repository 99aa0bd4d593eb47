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

/**
 * oclif, as the CLI imports it (the parts below), is one CommonJS file, dist/bundle/oclif.cjs,
 * that src/cli/require-cached.ts loads with a V8 code cache (bin/code-cache.js writes it): it is
 * compiled once at build time rather than at every start, which saved 12-16 ms of each. Any
 * other import of oclif would load a second copy, so it fails the build.
 */
const OCLIF_PARTS = ['args', 'command', 'config', 'execute', 'flags']
const requireCached = fileURLToPath(new URL('../dist/src/cli/require-cached.js', import.meta.url))
const oclifFromCache = {
  name: 'oclif-from-cache',
  setup(build) {
    build.onResolve({filter: /^@oclif\/core(\/|$)/}, ({path, importer}) => {
      const part = path.slice('@oclif/core/'.length)
      if (!OCLIF_PARTS.includes(part)) return {errors: [{text: `${importer} imports ${path}: import one of @oclif/core/{${OCLIF_PARTS.join(',')}} (bin/bundle.js)`}]}
      return {path: part, namespace: 'oclif-part'}
    })
    build.onLoad({filter: /.*/, namespace: 'oclif-part'}, ({path}) => ({
      contents: `module.exports = require(${JSON.stringify(requireCached)}).oclifPart(${JSON.stringify(path)})`,
      resolveDir: '.',
      loader: 'js',
    }))
  },
}

/**
 * Two changes to oclif's code as it is bundled, each failing the build when oclif no longer
 * has what it changes:
 * - its import() calls go through require-cached's `__mlImport` (a script compiled from a
 *   code cache has no import() of its own): the module loader imports the commands with them;
 * - it sorts the list of commands with localeCompare, and ICU's collator then cost every start
 *   8 ms: the ids are lowercase ASCII words and colons (test/e2e/cli.test.ts checks), which a
 *   plain comparison puts in the same order.
 */
const oclifChanges = {
  name: 'oclif-changes',
  setup(build) {
    const must = (file, text, what) => {
      if (!text.includes(what)) throw new Error(`${file} no longer has ${what}: see oclifChanges in bin/bundle.js`)
    }
    const SORT = '.sort((a, b) => a.id.localeCompare(b.id))'
    build.onLoad({filter: /[\\/]node_modules[\\/].*\.c?js$/}, async ({path}) => {
      let text = await readFile(path, 'utf8')
      if (/@oclif[\\/]core[\\/]lib[\\/]module-loader\.js$/.test(path)) must(path, text, 'await import(')
      if (/@oclif[\\/]core[\\/]lib[\\/]config[\\/]plugin\.js$/.test(path)) {
        must(path, text, SORT)
        text = text.replace(SORT, '.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))')
      }
      return {contents: text.replace(/\bawait import\(/g, 'await __mlImport('), loader: 'js'}
    })
  },
}

await build({
  stdin: {contents: `module.exports = {${OCLIF_PARTS.map((p) => `${p}: require('@oclif/core/${p}')`).join(', ')}}`, resolveDir: '.', sourcefile: 'oclif-parts.cjs', loader: 'js'},
  outfile: 'dist/bundle/oclif.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['typescript'],
  plugins: [debugWhenAsked, oclifChanges],
  logLevel: 'warning',
})
// What is left of import() would fail at run time: another file of oclif's has one now.
if (/(?<!["'`\w.$])import\(/.test((await readFile('dist/bundle/oclif.cjs', 'utf8')).replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''))) {
  throw new Error('dist/bundle/oclif.cjs calls import(): route it through __mlImport (see oclifChanges in bin/bundle.js)')
}

await build({
  // The threads' entries (the stamp check's, the data hashing's) are entries of their own,
  // beside the chunk that starts them (early-stamp-check.ts, hash-pool.ts).
  entryPoints: {
    run: 'dist/src/cli/run.js', commands: 'dist/src/cli/commands.js',
    'stamp-check-worker': 'dist/src/core/snapshot/stamp-check-worker.js', 'hash-worker': 'dist/src/core/data/hash-worker.js',
  },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['nodegit', 'ssh2', '@aws-sdk/client-s3', '@aws-sdk/lib-storage', 'ssh-config', 'cli-progress', 'jmespath', 'yaml', 'typescript'],
  // CommonJS dependencies (fs-extra, ignore...) call require() at run time; write-file-atomic
  // hashes its own __filename into its temporary names.
  banner: {js: "import {createRequire as __mlCreateRequire} from 'node:module'; import {fileURLToPath as __mlFileURLToPath} from 'node:url'; const require = __mlCreateRequire(import.meta.url); const __filename = __mlFileURLToPath(import.meta.url);"},
  plugins: [debugWhenAsked, oclifFromCache],
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
