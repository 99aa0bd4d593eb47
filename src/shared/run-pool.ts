/**
 * Runs `fn` on each item, `jobs` at once, in order. A failure of one (a full disk while
 * recording it, say) does not stop the others: the first is thrown once all have ended.
 */
export async function runPool<T, R>(items: T[], jobs: number, fn: (item: T) => Promise<R>, onEach?: (result: R) => void): Promise<R[]> {
  const results: R[] = []
  const failures: unknown[] = []
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      try {
        results[i] = await fn(items[i])
        onEach?.(results[i])
      } catch (error) {
        failures.push(error)
      }
    }
  }
  await Promise.all(Array.from({length: Math.min(jobs, items.length)}, worker))
  if (failures.length > 0) throw failures[0]
  return results
}
