/**
 * The layers of ml, checked by `npm test` (test/layers.test.ts runs dependency-cruiser on src/).
 * Dependencies point down only, and no module imports itself through others (no cycles):
 *
 *   src/cli       the entry, the command list, the oclif base class (errors to exit codes,
 *                 the environment into options)    -> src/commands, src/render, src/core, src/shared
 *   src/commands  thin oclif commands              -> src/cli (base class), src/render, src/core
 *   src/render    output formats, escaping, bars   -> src/core (types and plain data), src/shared
 *   src/core      the domain: no oclif, no printing, no process.env (test/layers.test.ts), in
 *                 layers of its own, lowest first: trust (the gate for what comes from a tree,
 *                 a record or a remote), project (paths, ref names, the project file, the lock),
 *                 snapshot (ignore rules, limits, the folder stamp, staging, the restore journal
 *                 and safe paths), data (tracked data: manifests, versions, the stat cache, the
 *                 local object cache and what moves to and from a store), runs (records, the run cache, metrics, queries), restore,
 *                 remote (push, pull, clone), tracking (the MLflow protocol, which runs on targets
 *                 speak too), compute (targets: ssh hosts and Slurm), execution (running a
 *                 script), setup (init)
 *                                                  -> src/git, src/shared
 *   src/git       the only importer of nodegit     -> src/shared
 *   src/ssh       ssh connections and SFTP, a Shell over them (targets and stores)
 *                                                  -> src/shared, src/git/host-check (host keys)
 *   src/store     artifact stores by URL: folder, ssh, s3 -> src/ssh, src/shared
 *   src/shared    errors, progress, URL redaction, atomic writes -> nothing of ml's
 */
/** src/core's own layers, lowest first: each may import only those before it (and itself). */
const CORE_LAYERS = ['trust', 'project', 'snapshot', 'data', 'runs', 'restore', 'remote', 'tracking', 'compute', 'execution', 'setup']

module.exports = {
  forbidden: [
    ...CORE_LAYERS.slice(0, -1).map((layer, i) => ({
      name: `core-${layer}-does-not-import-up`,
      severity: 'error',
      comment: `src/core/${layer} sits below ${CORE_LAYERS.slice(i + 1).join(', ')}.`,
      from: {path: `^src/core/${layer}/`},
      to: {path: `^src/core/(${CORE_LAYERS.slice(i + 1).join('|')})/`},
    })),
    {
      name: 'core-has-only-layers',
      severity: 'error',
      comment: 'Every module of the domain belongs to one of its layers.',
      from: {path: '^src/core/[^/]+$'},
      to: {},
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle makes the modules in it one unit that cannot be read or tested alone.',
      from: {path: '^src/'},
      to: {circular: true},
    },
    {
      name: 'nodegit-only-in-git',
      severity: 'error',
      comment: 'nodegit is loaded lazily and wrapped in src/git; nothing else talks to libgit2.',
      from: {path: '^src/', pathNot: '^src/git/'},
      to: {path: 'node_modules/nodegit/'},
    },
    {
      name: 'oclif-only-at-the-top',
      severity: 'error',
      comment: 'The domain is plain functions: the CLI (and later the dashboard) are front-ends over it.',
      from: {path: '^src/(core|git)/'},
      to: {path: 'node_modules/@oclif/'},
    },
    {
      name: 'core-does-not-import-up',
      severity: 'error',
      from: {path: '^src/core/'},
      to: {path: '^src/(cli|commands|render|ui)/'},
    },
    {
      name: 'ui-is-a-front-end',
      severity: 'error',
      comment: 'The dashboard is a front-end over the core, beside the commands: it imports neither them nor oclif.',
      from: {path: '^src/ui/'},
      to: {path: '^src/(cli|commands)/'},
    },
    {
      name: 'git-does-not-import-up',
      severity: 'error',
      from: {path: '^src/git/'},
      to: {path: '^src/(cli|commands|render|core|ui|ssh|store)/'},
    },
    {
      name: 'ssh-is-an-adapter',
      severity: 'error',
      comment: 'ssh connections serve compute targets and stores alike; of git, only its host-key check.',
      from: {path: '^src/ssh/'},
      to: {path: '^src/(cli|commands|render|core|ui|store|git)/', pathNot: '^src/git/(host-check|known-hosts)[.]ts$'},
    },
    {
      name: 'store-is-an-adapter',
      severity: 'error',
      comment: 'A store is reached by its URL alone: the domain hands it ids and files.',
      from: {path: '^src/store/'},
      to: {path: '^src/(cli|commands|render|core|ui|git)/'},
    },
    {
      name: 'shared-is-the-bottom',
      severity: 'error',
      from: {path: '^src/shared/'},
      to: {path: '^src/(cli|commands|render|core|git|ui|ssh|store)/'},
    },
    {
      name: 'render-does-not-import-commands',
      severity: 'error',
      from: {path: '^src/render/'},
      to: {path: '^src/(cli|commands)/'},
    },
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
  },
}
