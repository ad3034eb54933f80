#!/usr/bin/env bash
# Python's multiprocessing with trial division (seed_mp.py) beside
# `supervisor`, on the same machine in one run, at --max 1000000.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
max=${1:-1000000}
procs=${2:-8}
cargo build --release --quiet --bins
bin=$(release_dir)/supervisor
if command -v hyperfine >/dev/null 2>&1; then
    hyperfine --warmup 0 --runs 3 --style basic \
        -n "python multiprocessing, trial division" "python3 scripts/peers/seed_mp.py --max $max --procs $procs" \
        -n "supervisor" "$bin --max $max --procs $procs --quiet"
else
    time python3 scripts/peers/seed_mp.py --max "$max" --procs "$procs"
    time "$bin" --max "$max" --procs "$procs" --quiet
fi
