import {dataVersions} from '../src/core/data/data-version.js'

/**
 * The ml side of cases 14 and 15: `node dist/bench/data-version.js DIR PATH...` computes the
 * versions of the tracked PATHs of the project folder DIR, as a run does before it starts, and
 * prints one line each.
 */
const [dir, ...tracked] = process.argv.slice(2)
if (!dir || tracked.length === 0) {
  process.stderr.write('usage: node dist/bench/data-version.js DIR PATH...\n')
  process.exit(2)
}
for (const v of await dataVersions(dir, tracked)) process.stdout.write(`${v.path} ${v.id}: ${v.files} files, ${v.bytes} bytes, ${v.hashed} hashed\n`)
