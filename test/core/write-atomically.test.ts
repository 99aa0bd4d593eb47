import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import * as assert from 'uvu/assert'
import {writeAtomically} from '../../src/shared/write-atomically.js'
import {cleanup, tempDir, timedSuite} from '../helpers.js'

const test = timedSuite('write-atomically')
test.after.each(cleanup)

for (const sync of [true, false]) {
  test(`a write (sync: ${sync}) replaces the file whole and leaves no temporary file; a failed one leaves nothing`, async () => {
    const dir = tempDir()
    const file = path.join(dir, 'state.json')
    await fs.writeFile(file, 'old')
    await writeAtomically(file, 'x'.repeat(100_000), {sync})
    assert.is(await fs.readFile(file, 'utf8'), 'x'.repeat(100_000))
    assert.equal(await fs.readdir(dir), ['state.json'])
    // Renaming over a folder fails after the temporary file was written: it is removed.
    await fs.mkdir(path.join(dir, 'taken'))
    await fs.writeFile(path.join(dir, 'taken', 'x'), 'x')
    let failed = false
    await writeAtomically(path.join(dir, 'taken'), 'new', {sync}).catch(() => (failed = true))
    assert.ok(failed)
    assert.equal((await fs.readdir(dir)).sort(), ['state.json', 'taken'])
    assert.ok(existsSync(path.join(dir, 'taken', 'x')))
  })
}

test.run()
