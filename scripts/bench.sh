#!/usr/bin/env bash
# Whole-process timings with hyperfine: the supervisor at --max 30000000 and
# --max 1000000000 with --procs 1, 2, 8 under both start methods and with 2
# worker threads (--mode threads), beside the single-process kernel-only
# baseline (one core, no workers, no IPC), all in one run.
#
#   scripts/bench.sh            # both sizes
#   scripts/bench.sh 30000000   # one size
#   scripts/bench.sh kernel [BASE] [RUNS]
#   scripts/bench.sh segments [RUNS]
#
# Results go to bench/*.md and *.json in cargo's target folder, and to the
# terminal.
#
# `kernel` compares the σ kernel (examples/kernel_bench, one core) with the
# kernel of git revision BASE (default 2ed433f, the last before the f64 pair
# sieve), built in a temporary worktree, in RUNS (default 5) rounds that
# interleave old and new, at [1, 10^9] and [10^13 - 10^8 + 1, 10^13]; then
# `--procs 2 --max 10^9` against one-core `kernel_bench 1 10^9`, interleaved
# too, wall time and the CPU (user + sys) each spent, with the load average
# (the machine may be shared; each ratio also as the median of the ratios
# within a round, which cancels drift between rounds), and two bare
# kernel_bench processes at once,
# one on each half of [1, 10^9]: the machine's own two-core figure, which
# the supervised run is to match. It prints each median and the ratios the
# kernel targets name (docs/kernel.md). On a CPU with AVX-512 the new
# kernel also runs capped to AVX2 (SUPERVISOR_KERNEL_PATH=avx2) in the same
# rounds, since issue 12's own machine has AVX2 only. Near 10^13 it also
# times the new kernel in the supervisor's chunks of 2^22 against one chunk.
#
# `segments` times the kernel with each segment length it has (2^14, 2^15,
# 2^16 numbers; `kernel_bench`'s SEGMENT) in RUNS (default 5) interleaved
# rounds, at [1, 10^9] and over 10^9 numbers below 10^13 in the
# supervisor's chunks of 2^22, each as a ratio by round to the length this
# CPU's caches choose: the check of the cache rule (src/sigma/cache.rs) on
# a machine it was not measured on.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# The kernel-only seconds of `kernel_bench LO HI` (its "time" line).
kernel_secs() { "$@" | awk '/^time/ {print $2}'; }
# "wall cpu" seconds of a whole command (cpu: user + sys of it and its
# children, from /usr/bin/time, or "-" where that is not installed).
wall_cpu_secs() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f "%e %U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{print $1, $2 + $3}'
    else
        local t0 t1
        t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
        echo "$(echo "$t1 - $t0" | bc -l) -"
    fi
}
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# The median of the round-by-round ratios a[i] / b[i] of two lists of
# times taken in the same rounds: drift between rounds cancels out.
ratio() { paste <(echo "$1" | tr ' ' '\n' | grep .) <(echo "$2" | tr ' ' '\n' | grep .) | awk '{printf "%.4f\n", $1 / $2}' | median; }

if [ "${1:-}" = segments ]; then
    runs=${2:-5}
    cargo build --release --quiet --example kernel_bench
    bench=$(release_dir)/examples/kernel_bench
    chosen=$("$bench" 1 10 | awk '/^sizes/ {print $4}' | tr -d ,)
    echo "path: $("$bench" 1 10 | awk '/^path/ {print $2}'); the caches choose segments of $chosen; load average: $(load)"
    for range in "1 1000000000 1000000000" "9999000000001 10000000000000 10000000000000 4194304"; do
        declare -A t=()
        for _ in $(seq "$runs"); do
            for seg in 16384 32768 65536; do
                set -- $range
                t[$seg]+="$(kernel_secs "$bench" "$1" "$2" "$3" "${4:-1000000000}" "$seg") "
            done
        done
        echo "== kernel_bench $range, by segment length (medians of $runs; ratio by round to $chosen):"
        for seg in 16384 32768 65536; do
            echo "   $seg: $(echo "${t[$seg]}" | median) s, $(ratio "${t[$seg]}" "${t[$chosen]}") (${t[$seg]})"
        done
        unset t
    done
    echo "   load average: $(load)"
    exit 0
fi

if [ "${1:-}" = kernel ]; then
    base=${2:-2ed433f}
    runs=${3:-5}
    cargo build --release --quiet --bins --example kernel_bench
    release=$(release_dir)
    new=$release/examples/kernel_bench
    old_dir=$(mktemp -d)
    trap 'git worktree remove --force "$old_dir" >/dev/null 2>&1 || true' EXIT
    git worktree add --detach "$old_dir" "$base" >/dev/null 2>&1
    echo "== building kernel_bench at $base (the baseline)"
    old_build="$old_dir-build"
    (cd "$old_dir" && CARGO_TARGET_DIR="$old_build" cargo build --release --quiet --example kernel_bench)
    old="$old_build/release/examples/kernel_bench"
    path=$("$new" 1 10 | awk '/^path/ {print $2}')
    echo "path: $path; $("$new" 1 10 | awk '/^sizes/ {$1 = ""; print}'); load average: $(load)"
    for range in "1 1000000000" "9999900000001 10000000000000"; do
        o="" n="" a=""
        for _ in $(seq "$runs"); do
            o+="$(kernel_secs "$old" $range) "
            n+="$(kernel_secs "$new" $range) "
            if [ "$path" = avx512 ]; then
                a+="$(SUPERVISOR_KERNEL_PATH=avx2 kernel_secs "$new" $range) "
            fi
        done
        mo=$(echo "$o" | median) mn=$(echo "$n" | median)
        echo "== kernel_bench $range: old $mo s, new $mn s (medians of $runs; old: $o; new: $n)"
        echo "   new/old speed: $(echo "$mo / $mn" | bc -l | cut -c1-5)x (by round: $(ratio "$o" "$n")x)"
        if [ -n "$a" ]; then
            ma=$(echo "$a" | median)
            echo "   new capped to avx2: $ma s ($a), new/old speed: $(echo "$mo / $ma" | bc -l | cut -c1-5)x (by round: $(ratio "$o" "$a")x)"
        fi
        numbers=$(echo "$range" | awk '{print $2 - $1 + 1}')
        echo "   new rate: $(echo "$numbers / $mn" | bc -l | cut -d. -f1) numbers/s"
    done
    # Near 10^13 in chunks of 2^22, as the supervisor deals them there:
    # each chunk files the 215 000 primes above the segment again.
    r13="9999900000001 10000000000000"
    one="" chunked=""
    for _ in $(seq "$runs"); do
        one+="$(kernel_secs "$new" $r13) "
        chunked+="$(kernel_secs "$new" $r13 10000000000000 4194304) "
    done
    echo "== kernel_bench $r13 in chunks of 2^22: $(echo "$chunked" | median) s ($chunked), as one chunk: $(echo "$one" | median) s ($one)"
    echo "   chunks of 2^22 / one chunk: $(ratio "$chunked" "$one") by round"
    echo "   load average: $(load)"
    # Two bare kernels at once, one on each half: what two cores of this
    # machine give without the supervisor (shared caches, clocks, neighbours).
    pair() {
        "$new" 1 500000000 >/dev/null &
        "$new" 500000001 1000000000 >/dev/null
        wait
    }
    k="" kc="" s="" sc="" b=""
    for _ in $(seq "$runs"); do
        read -r w c < <(wall_cpu_secs "$new" 1 1000000000)
        k+="$w " kc+="$c "
        read -r w c < <(wall_cpu_secs "$release/supervisor" --procs 2 --max 1000000000 --quiet)
        s+="$w " sc+="$c "
        t0=$(date +%s.%N); pair; t1=$(date +%s.%N)
        b+="$(echo "$t1 - $t0" | bc -l | cut -c1-5) "
    done
    mk=$(echo "$k" | median) ms=$(echo "$s" | median) mb=$(echo "$b" | median)
    echo "== --procs 2 --max 10^9: $ms s wall; kernel_bench 1 10^9 (whole process): $mk s wall (medians of $runs)"
    echo "   walls: procs 2: $s; kernel_bench: $k"
    echo "   CPU (user + sys, /usr/bin/time): procs 2: $sc; kernel_bench: $kc"
    echo "   CPU medians: procs 2: $(echo "$sc" | median) s; kernel_bench: $(echo "$kc" | median) s"
    echo "   procs 2 / one core (wall): $(echo "$ms / $mk" | bc -l | cut -c1-5) (by round: $(ratio "$s" "$k"))"
    echo "   two bare kernels at once, a half each: $mb s wall ($b), / one core: $(echo "$mb / $mk" | bc -l | cut -c1-5) (by round: $(ratio "$b" "$k"))"
    echo "   load average: $(load)"
    rm -rf "$old_build"
    exit 0
fi

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
