#!/usr/bin/env bash
# Peak memory of the supervisor and of its workers (VmHWM from /proc,
# sampled while the run lasts) and the speed, for windows of N numbers
# ending at 10^9, 10^10, 10^11, 10^12 and 10^13: memory is bounded by the
# segment and √max, never by the range.
#
#   scripts/rss.sh [NUMBERS] [PROCS]     # default 1000000000 numbers, 2 procs
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
numbers=${1:-1000000000}
procs=${2:-2}
cargo build --release --quiet --bins
bin=$(release_dir)/supervisor
# One window takes seconds here; give up on one that takes ten minutes.
limit=600

hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

printf "%-22s %12s %14s %14s %10s\n" "window" "numbers/s" "supervisor KiB" "worker KiB" "verified"
for max in 1000000000 10000000000 100000000000 1000000000000 10000000000000; do
    min=$((max - numbers + 1))
    [ "$min" -ge 1 ] || min=1
    out=$(mktemp)
    "$bin" --procs "$procs" --min "$min" --max "$max" --json --quiet >"$out" &
    sup=$!
    sup_peak=0
    worker_peak=0
    deadline=$((SECONDS + limit))
    while kill -0 "$sup" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "rss.sh: the window ending at $max took more than ${limit}s; stopping it" >&2
            kill -INT "$sup"
            wait "$sup" || true
            exit 1
        fi
        s=$(hwm "$sup"); [ "${s:-0}" -gt "$sup_peak" ] && sup_peak=$s
        for w in $(pgrep -P "$sup" || true); do
            k=$(hwm "$w"); [ "${k:-0}" -gt "$worker_peak" ] && worker_peak=$k
        done
        sleep 0.05
    done
    wait "$sup" || true
    rate=$(python3 -c "import json,sys; d=json.load(open('$out')); print(f\"{d['numbers_per_s']:.3g} {d['sigma_sum_verified']}\")")
    printf "%-22s %12s %14s %14s %10s\n" "[$min, $max]" "${rate% *}" "$sup_peak" "$worker_peak" "${rate#* }"
    rm -f "$out"
done
