import {readFileSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import vm from 'node:vm'

/**
 * `file`, a CommonJS bundle, compiled as Node wraps a module, with the V8 code cache beside it
 * (`FILE.cache`) when there is one. The wrapper also takes `__mlImport`, which stands for the
 * bundle's import() calls (bin/bundle.js rewrites them): a script compiled from a cache loses
 * Node's import() callback.
 */
function compile(file: string): vm.Script {
  let cachedData: Buffer | undefined
  try {
    cachedData = readFileSync(`${file}.cache`)
  } catch {
    cachedData = undefined
  }
  const source = `(function (exports, require, module, __filename, __dirname, __mlImport) {${readFileSync(file, 'utf8')}\n})`
  return new vm.Script(source, {filename: file, cachedData})
}

/**
 * Loads `file` with its code cache, so that a start skips compiling what the run that wrote
 * the cache had compiled: oclif and its dependencies, which every command loads (Node 20 has no
 * compile cache of its own). A cache V8 rejects (another Node, other V8 flags, a changed
 * bundle) or a missing one costs only the compile. With ML_WRITE_CODE_CACHE=1 the cache is
 * written as the process exits: the build does that once (bin/code-cache.js).
 */
export function requireCached(file: string): unknown {
  const script = compile(file)
  if (process.env.ML_WRITE_CODE_CACHE === '1') process.once('exit', () => writeFileSync(`${file}.cache`, script.createCachedData()))
  const module = {exports: {}, id: file, filename: file}
  script.runInThisContext()(module.exports, createRequire(file), module, file, path.dirname(file), (specifier: string) => import(specifier))
  return module.exports
}

/** Whether V8 takes the code cache beside `file` (false when there is none). */
export function cacheAccepted(file: string): boolean {
  return compile(file).cachedDataRejected === false
}

let oclif: Record<string, unknown> | undefined

/** A part of oclif the CLI imports (bin/bundle.js points `@oclif/core/PART` here), from dist/bundle/oclif.cjs. */
export function oclifPart(name: string): unknown {
  oclif ??= requireCached(fileURLToPath(new URL('./oclif.cjs', import.meta.url))) as Record<string, unknown>
  return oclif[name]
}
