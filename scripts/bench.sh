#!/usr/bin/env bash
# Whole-process timings with hyperfine: the supervisor at --max 30000000 and
# --max 1000000000 with --procs 1, 2, 8 under both start methods and with 2
# worker threads (--mode threads), beside the single-process kernel-only
# baseline (one core, no workers, no IPC), all in one run.
#
#   scripts/bench.sh            # both sizes
#   scripts/bench.sh 30000000   # one size
#
# Results go to bench/*.md and *.json in cargo's target folder, and to the
# terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if ! command -v hyperfine >/dev/null 2>&1; then
    echo "bench: installing hyperfine (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq hyperfine >/dev/null; fi
fi

cargo build --release --quiet --bins --example kernel_bench
release=$(release_dir)
bin=$release/supervisor
kernel=$release/examples/kernel_bench
out=$(dirname "$release")/bench
mkdir -p "$out"

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(30000000 1000000000)

for max in "${sizes[@]}"; do
    if [ "$max" -ge 100000000 ]; then runs=3; else runs=10; fi
    cmds=("$kernel 1 $max")
    names=("kernel only, 1 process")
    for procs in 1 2 8; do
        for method in fork spawn; do
            cmds+=("$bin --procs $procs --max $max --start-method $method --quiet")
            names+=("procs $procs, $method")
        done
    done
    cmds+=("$bin --procs 2 --max $max --mode threads --quiet")
    names+=("procs 2, threads")
    args=()
    for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
    echo "== --max $max ($runs runs each)"
    hyperfine --warmup 1 --runs "$runs" --style basic \
        --export-markdown "$out/bench-$max.md" --export-json "$out/bench-$max.json" \
        "${args[@]}"
done

echo
echo "== peak RSS (KiB), /usr/bin/time -v, --max ${sizes[-1]}"
if [ -x /usr/bin/time ]; then
    /usr/bin/time -v "$bin" --procs 2 --max "${sizes[-1]}" --quiet 2>&1 >/dev/null \
        | grep -E "Maximum resident|Elapsed" || true
else
    echo "(/usr/bin/time is not installed: apt-get install time)"
fi
