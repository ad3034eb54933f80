#!/usr/bin/env bash
# The README's steps from a fresh clone, with CARGO_TARGET_DIR unset and
# then set to a folder elsewhere: `cargo build`, `cargo run` (which builds
# only the binary it runs) and `cargo install --locked --path .`, each run
# with the spawn start method (the one that finds its own binary), and the
# kill demo. Every run must give the exact counts.
#
#   scripts/fresh-clone.sh [REPO]    # default: this checkout's HEAD
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
git clone -q "$repo" "$dir/clone"
cd "$dir/clone"
. scripts/lib.sh
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
for where in unset "$dir/elsewhere"; do
    if [ "$where" = unset ]; then
        unset CARGO_TARGET_DIR
    else
        export CARGO_TARGET_DIR=$where
    fi
    echo "== CARGO_TARGET_DIR $where"
    cargo build --release --quiet
    check "cargo build" "$(release_dir)/supervisor"
    cargo clean --quiet
    check "cargo run" cargo run --release --quiet --
    cargo install --locked --quiet --path . --root "$dir/root"
    check "cargo install --locked" "$dir/root/bin/supervisor"
    if scripts/demo-kill.sh 2000000000 2 >"$dir/demo.out" 2>&1 \
        && grep -q "verified" "$dir/demo.out"; then
        echo "ok: scripts/demo-kill.sh"
    else
        echo "FAILED: scripts/demo-kill.sh:" >&2
        cat "$dir/demo.out" >&2
        exit 1
    fi
done
