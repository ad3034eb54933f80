#!/usr/bin/env bash
# What double-checking costs: `--max M` (default 10^10) on two workers
# standing in for two hosts (`--hosts localhost:1,127.0.0.1:1`, the second
# started through a loopback launcher, `env {worker}`, so it is supervised
# as a remote host: its work is double-checked by default), with
#
#   none     --verify-first 0 --verify-sample 0
#   default  the remote host's first 2 chunks and 5% of the rest
#   0.05     --verify-sample 0.05 on both hosts (first 2 on the remote)
#   all      --verify-sample 1 (every chunk computed twice)
#
# in ROUNDS (default 3) rounds that interleave the four, so a busy machine
# slows them alike. Prints each run's wall and CPU seconds (user + sys of
# the supervisor and its workers, from /usr/bin/time), the medians, and the
# ratios to `none`; every run must end exact (exit 0, Σσ verified).
#
#   scripts/verify-cost.sh [M] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

max=${1:-10000000000}
rounds=${2:-3}
cargo build --release --quiet --bins
release=$(release_dir)
sup=$release/supervisor
worker=$release/supervisor-worker
hosts=(--hosts localhost:1,127.0.0.1:1 --launcher 'env {worker}' --remote-worker "$worker")
declare -A flags=(
    [none]="--verify-first 0 --verify-sample 0"
    [default]=""
    [0.05]="--verify-sample 0.05"
    [all]="--verify-sample 1"
)
order=(none default 0.05 all)
declare -A walls cpus checked
out=$(mktemp)
trap 'rm -f "$out"' EXIT

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "verify-cost: --max $max, $rounds rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
    for name in "${order[@]}"; do
        # shellcheck disable=SC2086
        /usr/bin/time -f '%e %U %S' -o "$out.time" \
            "$sup" --max "$max" "${hosts[@]}" ${flags[$name]} --json --quiet >"$out"
        read -r wall user sys <"$out.time"
        verified=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["sigma_sum_verified"], j["verified_chunks"], j["mismatches"])' "$out")
        set -- $verified
        if [ "$1" != True ] || [ "$3" != 0 ]; then
            echo "verify-cost: a $name run did not end exact: $(cat "$out")" >&2
            exit 1
        fi
        cpu=$(echo "$user + $sys" | bc -l)
        walls[$name]="${walls[$name]:-} $wall"
        cpus[$name]="${cpus[$name]:-} $cpu"
        checked[$name]=$2
        printf 'round %d  %-8s wall %7.2f s  cpu %7.2f s  double-checked chunks %s\n' \
            "$round" "$name" "$wall" "$cpu" "$2"
    done
done
rm -f "$out.time"
base_wall=$(echo "${walls[none]}" | median)
base_cpu=$(echo "${cpus[none]}" | median)
echo
printf '%-8s %10s %10s %12s %12s %8s\n' setting "wall (med)" "cpu (med)" "wall/none" "cpu/none" chunks
for name in "${order[@]}"; do
    w=$(echo "${walls[$name]}" | median)
    c=$(echo "${cpus[$name]}" | median)
    printf '%-8s %10.2f %10.2f %12.3f %12.3f %8s\n' "$name" "$w" "$c" \
        "$(echo "$w / $base_wall" | bc -l)" "$(echo "$c / $base_cpu" | bc -l)" "${checked[$name]}"
done
