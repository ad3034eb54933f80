#!/usr/bin/env bash
# The spawn start method from a fresh clone, the three ways a user gets the
# binary: `cargo build`, `cargo run` (which builds only the binary it runs)
# and `cargo install --path .`. Each run must give the exact counts.
#
#   scripts/fresh-clone.sh [REPO]    # default: this checkout
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
git clone -q "$repo" "$dir/clone"
cd "$dir/clone"
want='"abundant":247545,"deficient":752451'
check() {
    local how=$1; shift
    local out
    out=$("$@" --start-method spawn --procs 2 --max 1000000 --json --quiet)
    if [[ "$out" == *"$want"* && "$out" == *'"sigma_sum_verified":true'* ]]; then
        echo "ok: $how"
    else
        echo "FAILED: $how: $out" >&2
        exit 1
    fi
}
cargo build --release --quiet
check "cargo build" target/release/supervisor
cargo clean --quiet
check "cargo run" cargo run --release --quiet --
cargo install --quiet --path . --root "$dir/root"
check "cargo install" "$dir/root/bin/supervisor"
