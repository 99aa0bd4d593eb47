/**
 * The flags of ml's commands that run a script (`experiment submit`, `experiment sweep`) that
 * take a value as the next word.
 */
const VALUE_FLAGS = new Set(['-c', '--compute', '-j', '--jobs', '--grid', '--range', '--random', '--seed', '--input'])

/**
 * Splits the words after `ml experiment submit` (or `sweep`) at SCRIPT: ml's own flags come
 * before it, and everything after it belongs to the script, even words that look like ml's flags.
 */
export function splitSubmitArgv(argv: string[]): {mine: string[]; script?: string; scriptArgs: string[]} {
  const mine: string[] = []
  let i = 0
  for (; i < argv.length; i++) {
    const word = argv[i]
    if (word === '--') {
      i++
      break
    }
    if (!word.startsWith('-') || word === '-') break
    mine.push(word)
    if (VALUE_FLAGS.has(word) && i + 1 < argv.length) mine.push(argv[++i])
  }
  return {mine, script: argv[i], scriptArgs: argv.slice(i + 1)}
}

/**
 * oclif answers `--help` and `--version` wherever they stand before a `--`, so a script could
 * never receive them. For `experiment submit` and `sweep`, a `--` is put in front of SCRIPT,
 * which oclif leaves alone and splitSubmitArgv understands.
 */
export function protectScriptArgs(argv: string[]): string[] {
  const runs = (word?: string) => word === 'submit' || word === 'sweep'
  const at = argv[0] === 'experiment' && runs(argv[1]) ? 2 : argv[0] === 'experiment:submit' || argv[0] === 'experiment:sweep' ? 1 : -1
  if (at < 0) return argv
  const {mine, script, scriptArgs} = splitSubmitArgv(argv.slice(at))
  if (script === undefined) return argv
  return [...argv.slice(0, at), ...mine, '--', script, ...scriptArgs]
}
