/** True for a .gitignore file at any depth: its rules change what a snapshot of the folder holds. */
export function isGitignore(file: string): boolean {
  return file === '.gitignore' || file.endsWith('/.gitignore')
}

/** True for a .gitattributes file at any depth: its rules can change the blob a file is stored as. */
export function isGitattributes(file: string): boolean {
  return file === '.gitattributes' || file.endsWith('/.gitattributes')
}
