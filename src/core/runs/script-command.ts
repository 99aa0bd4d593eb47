import path from 'node:path'

/** Interpreters by extension; anything else is executed directly (it needs its executable bit). */
export const INTERPRETERS: Record<string, (script: string, nodePath: string) => [string, string[]]> = {
  '.py': (script) => ['python3', [script]],
  '.js': (script, node) => [node, [script]],
  '.mjs': (script, node) => [node, [script]],
  '.cjs': (script, node) => [node, [script]],
  '.sh': (script) => ['bash', [script]],
  '.r': (script) => ['Rscript', [script]],
  '.jl': (script) => ['julia', [script]],
  // The executed notebook, with its cell outputs, is kept with the run's outputs.
  '.ipynb': (script) => ['jupyter', ['nbconvert', '--execute', '--to', 'notebook', '--output-dir', 'outputs', script]],
}

/** How a script is started, by its extension: its interpreter, or the file itself. */
export function commandFor(script: string, nodePath: string): [string, string[]] {
  const interpreter = INTERPRETERS[path.extname(script).toLowerCase()]
  if (interpreter) return interpreter(script, nodePath)
  return [script.startsWith('/') || script.startsWith('.') ? script : `./${script}`, []]
}

