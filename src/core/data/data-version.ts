// TEMPORARY stand-in, replaced by the data branch's data-version.ts at merge.
import {createHash} from 'node:crypto'
import {createReadStream, promises as fs} from 'node:fs'
import path from 'node:path'
import type {OnProgress} from '../../shared/progress.js'
import {formatManifest, type Manifest, type ManifestEntry, manifestId, manifestTotals} from './manifest.js'

export interface DataVersion {
  path: string
  id: string
  files: number
  bytes: number
  manifest: Manifest
  text: string
  skipped: Array<{path: string; reason: string}>
}
export async function dataVersions(projectDir: string, tracked: string[], _options: {onProgress?: OnProgress; signal?: AbortSignal} = {}): Promise<DataVersion[]> {
  const out: DataVersion[] = []
  for (const root of tracked) {
    const entries: ManifestEntry[] = []
    const walk = async (rel: string) => {
      const st = await fs.lstat(path.join(projectDir, rel)).catch(() => null)
      if (!st) return
      if (st.isSymbolicLink()) entries.push({path: rel, link: await fs.readlink(path.join(projectDir, rel))})
      else if (st.isDirectory()) for (const n of await fs.readdir(path.join(projectDir, rel))) await walk(`${rel}/${n}`)
      else if (st.isFile()) {
        const h = createHash('sha256')
        for await (const c of createReadStream(path.join(projectDir, rel))) h.update(c as Buffer)
        entries.push({path: rel, size: st.size, mode: st.mode & 0o100 ? 0o100755 : 0o100644, sha256: h.digest('hex')})
      }
    }
    await walk(root)
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
    const manifest = {root, entries}
    const text = formatManifest(manifest)
    out.push({path: root, id: manifestId(text), ...manifestTotals(manifest), manifest, text, skipped: []})
  }
  return out
}
