import {isMlError} from '../../shared/errors.js'
import {findProject} from '../project/project.js'
import {openShell} from './open-shell.js'
import {projectBase} from './run-folder.js'
import {firstLine, quote, type Shell} from '../../ssh/shell.js'
import type {SshAuth} from '../../ssh/ssh-shell.js'
import {type ComputeTarget, loadTarget, targetWhere} from './targets.js'

export interface TargetCheck {
  what: string
  ok: boolean
  found: string
}

/**
 * `ml compute check NAME`: connects, and looks at what a run there needs: the work folder
 * (writable), the interpreter, setsid (ssh), and for Slurm its commands and the partition.
 * Every check is made and told; a failed connection is the one that stops the others.
 */
export async function checkTarget(cwd: string, name: string, auth: SshAuth): Promise<{target: ComputeTarget; checks: TargetCheck[]}> {
  const project = await findProject(cwd)
  const target = await loadTarget(project, name)
  const checks: TargetCheck[] = []
  let shell: Shell
  try {
    shell = await openShell(target, auth)
  } catch (error) {
    if (!isMlError(error)) throw error
    checks.push({what: 'connection', ok: false, found: error.message})
    return {target, checks}
  }
  const check = async (what: string, command: string, found: (out: string) => string = firstLine) => {
    const result = await shell.run(command)
    checks.push({what, ok: result.code === 0, found: result.code === 0 ? found(result.stdout) : firstLine(result.stderr) || firstLine(result.stdout) || `exit code ${result.code}`})
  }
  try {
    checks.push({what: 'connection', ok: true, found: `${shell.where === 'this machine' ? 'this machine' : targetWhere(target)}: ${firstLine((await shell.run('uname -sr')).stdout)}`})
    try {
      const base = await projectBase(shell, target, project.config.id)
      await check('work dir', `f=${quote(`${base}/.ml-check`)} && : > "$f" && rm "$f" && echo ${quote(base)}`, (out) => `${firstLine(out)} is writable`)
    } catch (error) {
      if (!isMlError(error, 'COMPUTE_ERROR')) throw error
      checks.push({what: 'work dir', ok: false, found: error.message})
    }
    const python = target.python ?? 'python3'
    await check('python', `${python.split(/\s+/).filter(Boolean).map(quote).join(' ')} --version 2>&1`)
    if (target.type === 'ssh') await check('setsid', 'command -v setsid')
    if (target.type === 'slurm') {
      await check('slurm', 'sbatch --version && squeue --version >/dev/null && command -v scancel >/dev/null')
      await check('partition', `sinfo --noheader --format='%P %a %D' ${target.partition ? `--partition=${quote(target.partition)}` : ''} | grep .`, (out) => {
        const lines = out.trim().split('\n')
        const chosen = target.partition ? lines[0] : lines.find((l) => l.split(' ')[0].endsWith('*')) ?? lines[0]
        return `${chosen.split(' ')[0].replace(/\*$/, '')} (${chosen.split(' ')[1]}, ${chosen.split(' ')[2]} nodes)${target.partition ? '' : ', the default'}`
      })
    }
  } finally {
    shell.close()
  }
  return {target, checks}
}
