#!/usr/bin/env bash
# `npm test` after the build: the fast core suites (in-process, real repositories), then the
# end-to-end suites (the CLI as a process, real servers). Both always run; fails if either did.
cd "$(dirname "$0")/.."
npx uvu dist/test/core '\.test\.js$'
core=$?
npx uvu dist/test/e2e '\.test\.js$'
e2e=$?
[ "$core" -eq 0 ] && [ "$e2e" -eq 0 ]
