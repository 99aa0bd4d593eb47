import {promises as fs} from 'node:fs'

/** Writes `file` through a temporary file and a rename, so that a reader never sees half of it. */
export async function writeAtomically(file: string, data: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`
  await fs.writeFile(temp, data)
  await fs.rename(temp, file)
}
