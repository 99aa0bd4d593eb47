#!/usr/bin/env bash
# The main job end to end on a demo project: create it from the iris template, run two
# experiments with a change in between, list the history, restore the first run's files
# and undo that restore, then sweep the learning rate and compare the sweep's runs.
# Usage: bin/demo.sh [DIR]   (default: a new temp folder)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
ml() { node "$here/bin/run.js" "$@"; }
step() { printf '\n\033[1m$ ml %s\033[0m\n' "$*"; ml "$@"; }

demo="${1:-$(mktemp -d)/iris-demo}"
step project init "$demo" --template iris
cd "$demo"
step experiment submit train.py --epochs 100

# Change the training code: the next run gets a snapshot of its own.
sed -i 's/default=0.3)/default=0.05)/' train.py
step experiment submit train.py --epochs 100
step history list

first="$(ml history list -o tsv | tail -n 1 | cut -f1)"
step project restore --run-id "$first" --yes
grep -q 'default=0.3)' train.py && echo "train.py is back to the first run's version."
step project restore --undo --yes
grep -q 'default=0.05)' train.py && echo "train.py has the change again."

# Which learning rate wins? Three isolated runs, two at once, from one snapshot.
step experiment sweep -j 2 --grid lr=0.01,0.1,1 train.py --epochs 100
step history list --sweep sweep_ --sort-by accuracy --desc

printf '\nThe demo project is in %s\n' "$demo"
