/** "1 file", "2 files": a count with its noun (English plural by default, or the one given). */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`
}
