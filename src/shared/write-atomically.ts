import writeFileAtomic from 'write-file-atomic'

/**
 * Writes `file` through a temporary file (a unique name, removed if the write fails) and a
 * rename, so that a reader never sees half of it (write-file-atomic). `cache`: a file ml can
 * rebuild, not worth waiting for the disk (no fsync).
 */
export async function writeAtomically(file: string, data: string, options: {cache?: boolean} = {}): Promise<void> {
  await writeFileAtomic(file, data, {fsync: !options.cache})
}
