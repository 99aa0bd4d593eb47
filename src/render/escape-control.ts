/**
 * Text from a run record, a tree or a remote may hold terminal escape sequences: printed raw,
 * they could recolour, move the cursor, rewrite earlier lines or set the window title. Every
 * format ml prints shows them as visible escapes instead.
 */

/** C0 controls (but tab and newline), DEL and C1. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g
/** The same with tab and newline, for one-line text such as a table cell or an error message. */
const CONTROL_ALL = /[\x00-\x1f\x7f-\x9f]/g
/** What JSON.stringify and the yaml library leave raw (they escape C0 themselves). */
const DEL_C1 = /[\x7f-\x9f]/g

const code = (c: string) => c.charCodeAt(0).toString(16).padStart(2, '0')

/** `text` with each control character written as `\x1b`; `keepLines` leaves tabs and newlines. */
export function escapeControl(text: string, keepLines = false): string {
  return text.replace(keepLines ? CONTROL : CONTROL_ALL, (c) => `\\x${code(c)}`)
}

/** JSON text with DEL and C1 as `\u00XX`: the same JSON value, safe on a terminal. */
export function escapeJson(json: string): string {
  return json.replace(DEL_C1, (c) => `\\u00${code(c)}`)
}

/** YAML text with DEL and C1 as `\xXX`: the yaml library double-quotes such strings but leaves the characters raw. */
export function escapeYaml(yaml: string): string {
  return yaml.replace(DEL_C1, (c) => `\\x${code(c)}`)
}
