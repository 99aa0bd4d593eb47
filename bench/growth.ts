import {openProject} from '../src/core/project/project.js'
import {takeSnapshot} from '../src/core/snapshot/snapshot.js'
import {touchFile} from './synthetic.js'
import {historyOpener} from '../src/core/snapshot/open-history.js'

/**
 * Case 8b: RSS growth over many snapshots in one process (one file changed before each, so
 * every snapshot is a new commit). Run with --expose-gc; prints {baseline, end} in bytes.
 */
const [dir, file, count] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 1000)]
const rss = (): number => {
  globalThis.gc?.()
  return process.memoryUsage().rss
}
const project = await openProject(dir)
const open = historyOpener(project)
const warmUp = Math.min(50, count)
let baseline = 0
for (let i = 0; i < count; i++) {
  touchFile(dir, file, 500_000 + i)
  await takeSnapshot(project, open, `growth ${i}`)
  if (i === warmUp - 1) baseline = rss()
}
process.stdout.write(`${JSON.stringify({baseline, end: rss(), snapshots: count - warmUp})}\n`)
