#!/usr/bin/env bash
# Sets up what ml needs to be built, run and tested, and does nothing that is already done:
# Debian packages (as root, or with sudo), node_modules (nodegit compiles from source: 3-7
# minutes the first time, then a built tree is reused from a cache outside the clone, keyed by
# the lockfile, the Node ABI and the machine). Run by `npm run demo`, `npm run bench`,
# `npm test` (through their pre-scripts) and .ci/run, which then build. Fails with one clear line.
set -uo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }
fail() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# 1. Debian packages: nodegit's native build needs a compiler, OpenSSL and Kerberos headers;
#    the tests use the git CLI as an oracle, start real servers (git http-backend, sshd, openssl)
#    and read what a terminal shows (tmux), and a single-node Slurm cluster (slurmctld, slurmd,
#    slurm-client, munge: test/slurm-cluster.ts starts it with its own config, as root), and a
#    headless Chromium for the dashboard's browser tests (driven by playwright-core).
packages=(python3 make g++ git libssl-dev libkrb5-dev openssh-server openssh-client openssl tmux slurmctld slurmd slurm-client munge chromium)
need=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing ${need[*]}, and this is not a Debian-like system with apt-get: install them, then run this again"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""
  elif sudo -n true 2>/dev/null; then SUDO="sudo -n"
  else fail "missing Debian packages ${need[*]}: run \`sudo apt-get install -y ${need[*]}\`, then this again"
  fi
  say "installing Debian packages: ${need[*]} (about a minute)"
  log="$(mktemp)"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"; } >"$log" 2>&1; then
    tail -n 5 "$log" >&2
    rm -f "$log"
    fail "could not install ${need[*]} with apt-get (its last lines are above)"
  fi
  rm -f "$log"
fi

# 2. node_modules, in step with the lockfile: a stamp in it names the key it was built for; a
#    tree built before for the same key is copied from the cache instead of built again.
key="$(sha256sum package-lock.json | cut -c1-16)-node$(node -p process.versions.modules)-$(uname -m)"
cache_root="${ML_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ml-ci}"
cache="$cache_root/node_modules-$key"
stamp=node_modules/.ml-setup-key
if [ "$(cat "$stamp" 2>/dev/null)" != "$key" ]; then
  if [ -f "$cache/.ml-setup-key" ]; then
    say "reusing node_modules built for this lockfile from $cache"
    rm -rf node_modules && cp -a "$cache" node_modules || fail "could not copy $cache into node_modules"
  else
    say "installing node_modules with npm ci; nodegit compiles from source, which takes 3-7 minutes"
    rm -rf node_modules
    JOBS=max npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed (its output is above)"
    echo "$key" > "$stamp"
    mkdir -p "$cache_root"
    rm -rf "$cache.tmp" && cp -a node_modules "$cache.tmp" && rm -rf "$cache" && mv "$cache.tmp" "$cache"
    # Keep only the newest few cached trees.
    ls -1dt "$cache_root"/node_modules-* 2>/dev/null | tail -n +4 | xargs -r rm -rf
  fi
fi
node -e "require('nodegit')" 2>/dev/null || fail "nodegit does not load; delete node_modules and run this again to rebuild it"
