/** A gitignore rule that matches exactly `rel` (a path from the root) and nothing else: anchored, with every pattern character escaped. */
export function literalIgnoreRule(rel: string): string {
  return `/${rel.replace(/[\\*?[\]!# ]/g, '\\$&')}`
}
