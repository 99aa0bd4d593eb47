/**
 * The limits of an environment.json, apart from its gate (run-environment.ts): the code that
 * collects an environment needs them as a script starts, and importing the gate would load zod.
 */

/** No string of a record is longer: a crafted environment.json cannot flood `history info`. */
export const MAX_ENVIRONMENT_STRING = 1000
/** More GPUs than this in one machine is not a machine. */
export const MAX_GPUS = 64
