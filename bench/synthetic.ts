import {mkdirSync, readFileSync, writeFileSync, rmSync} from 'node:fs'
import path from 'node:path'

/** A small seeded PRNG (mulberry32): the same seed gives the same project on every machine. */
export function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface ProjectSpec {
  name: string
  files: number
  /** Total bytes of the data files, spread over them (uniformly, 10% to 190% of the mean). */
  bytes: number
  seed: number
}

export const SMALL: ProjectSpec = {name: 'S', files: 1000, bytes: 10e6, seed: 1}
export const MEDIUM: ProjectSpec = {name: 'M', files: 5000, bytes: 55e6, seed: 3}
export const LARGE: ProjectSpec = {name: 'L', files: 20_000, bytes: 240e6, seed: 2}

const POOL_BYTES = 4 << 20

/** Text that compresses like real CSV data (digits, commas, newlines), and bytes that do not compress. */
function pools(next: () => number): {text: Buffer; binary: Buffer} {
  const lines: string[] = []
  let size = 0
  while (size < POOL_BYTES) {
    const line = `${Math.floor(next() * 1e6)},${next().toFixed(6)},${(next() * 100 - 50).toFixed(4)},label_${Math.floor(next() * 20)}\n`
    lines.push(line)
    size += line.length
  }
  const binary = Buffer.alloc(POOL_BYTES)
  for (let i = 0; i < POOL_BYTES; i += 4) binary.writeUInt32LE(Math.floor(next() * 2 ** 32), i)
  return {text: Buffer.from(lines.join('')).subarray(0, POOL_BYTES), binary}
}

/**
 * Writes the project's files into `dir` (nested folders, 9 text files to 1 binary) and returns
 * their paths. Each file starts with a line naming it and a version, so every blob is distinct
 * and a change keeps the size.
 */
export function generateProject(dir: string, spec: ProjectSpec): string[] {
  const next = random(spec.seed)
  const {text, binary} = pools(next)
  const mean = spec.bytes / spec.files
  const paths: string[] = []
  for (let i = 0; i < spec.files; i++) {
    const isBinary = i % 10 === 9
    const rel = `data/part${String(i % 20).padStart(2, '0')}/group${Math.floor(i / 20) % 10}/${isBinary ? `tensor${i}.bin` : `table${i}.csv`}`
    const size = Math.max(64, Math.floor(mean * (0.1 + 1.8 * next())))
    const pool = isBinary ? binary : text
    const start = Math.floor(next() * (pool.length - size))
    mkdirSync(path.join(dir, path.dirname(rel)), {recursive: true})
    writeFileSync(path.join(dir, rel), Buffer.concat([header(rel, 0), pool.subarray(start, start + size)]))
    paths.push(rel)
  }
  return paths
}

function header(rel: string, version: number): Buffer {
  return Buffer.from(`# ${rel} version ${String(version).padStart(6, '0')}\n`)
}

/** Gives `file` a new version line (same size, new content). */
export function touchFile(dir: string, rel: string, version: number): void {
  const file = path.join(dir, rel)
  const data = readFileSync(file)
  const head = header(rel, version)
  head.copy(data, 0)
  writeFileSync(file, data)
}

/** Changes 100 files of `paths`: 80 edited, 10 removed, 10 new ones added. */
export function changeHundred(dir: string, paths: string[], seed: number): void {
  const next = random(seed)
  const picked = new Set<number>()
  while (picked.size < 90) picked.add(Math.floor(next() * paths.length))
  const list = [...picked]
  list.slice(0, 80).forEach((i) => touchFile(dir, paths[i], seed))
  list.slice(80).forEach((i) => rmSync(path.join(dir, paths[i])))
  for (let i = 0; i < 10; i++) {
    mkdirSync(path.join(dir, 'data', 'new'), {recursive: true})
    writeFileSync(path.join(dir, 'data', 'new', `added${i}.csv`), `# added ${i} seed ${seed}\n${'1,2,3\n'.repeat(1000 + i)}`)
  }
}
