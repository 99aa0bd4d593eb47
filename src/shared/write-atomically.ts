/**
 * Writes `file` through a temporary file (a unique name, removed if the write fails) and a
 * rename, so that a reader never sees half of it (write-file-atomic). `sync: false` does not
 * wait for the disk (no fsync): for a cache ml can rebuild, or a journal that need outlive
 * only its process, not the machine (as the refs libgit2 writes without fsync). Imported on
 * first use: loading it (CommonJS, outside the bundle) cost every start 8 ms.
 */
export async function writeAtomically(file: string, data: string, options: {sync?: boolean} = {}): Promise<void> {
  const {default: writeFileAtomic} = await import('write-file-atomic')
  await writeFileAtomic(file, data, {fsync: options.sync !== false})
}
