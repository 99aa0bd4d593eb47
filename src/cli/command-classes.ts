import {MODULES} from './commands.js'

/** The command classes themselves, by id: what bin/manifest.js writes oclif.manifest.json from. */
export const COMMAND_CLASSES = Object.fromEntries(await Promise.all(Object.entries(MODULES).map(async ([id, load]) => [id, (await load()).default])))
