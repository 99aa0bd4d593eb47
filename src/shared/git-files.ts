/** True for a .gitignore file at any depth: its rules change what a snapshot of the folder holds. */
export function isGitignore(file: string): boolean {
  return file === '.gitignore' || file.endsWith('/.gitignore')
}
