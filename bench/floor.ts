import {lstatSync, readdirSync} from 'node:fs'
import path from 'node:path'

/**
 * The floor of cases 2L, 5L and 4L (issue 17): `node dist/bench/floor.js DIR [--nodegit]`
 * walks DIR with readdirSync (withFileTypes) and lstats every entry, files and folders alike,
 * skipping .git and .ml at its root: the least any program must do to tell that nothing in a
 * folder changed. With --nodegit it first loads nodegit, as every ml command that reads the
 * history does. Prints the number of entries and their total size.
 */
const dir = process.argv[2]
if (!dir) {
  process.stderr.write('usage: node dist/bench/floor.js DIR [--nodegit]\n')
  process.exit(2)
}
if (process.argv.includes('--nodegit')) await import('nodegit')

let entries = 0
let bytes = 0
const walk = (folder: string, root: boolean): void => {
  for (const entry of readdirSync(folder, {withFileTypes: true})) {
    if (root && (entry.name === '.git' || entry.name === '.ml')) continue
    const full = path.join(folder, entry.name)
    const stat = lstatSync(full)
    entries++
    bytes += stat.size
    if (stat.isDirectory()) walk(full, false)
  }
}
walk(dir, true)
process.stdout.write(`${entries} entries, ${bytes} bytes\n`)
