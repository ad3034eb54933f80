#!/usr/bin/env bash
# What running workers as Slurm job steps costs, measured inside one
# allocation of two CPUs, each pair of runs interleaved:
#  1. start-up: RUNS tiny runs (--max 1000) with 2 workers through srun
#     (--hosts slurm) and 2 forked workers (--procs 2): median elapsed of
#     each, and the median time from a step's start to its worker's Hello;
#  2. throughput: one run each at --max MAX (default 10^10).
#
#   scripts/slurm/cluster.sh start /tmp/slurm && export SLURM_CONF=/tmp/slurm/slurm.conf
#   scripts/slurm/bench.sh [MAX] [RUNS]
#
# It asks for the allocation itself (salloc -N1 -n2) and needs the release
# build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/../.."
max=${1:-10000000000}
runs=${2:-20}
. scripts/lib.sh
bin=$(release_dir)/supervisor

if [ -z "${SLURM_JOB_ID:-}" ]; then
    exec salloc -N1 -n2 --quiet "$0" "$max" "$runs"
fi
[ -x "$bin" ] || { echo "bench: build first: cargo build --release" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for i in $(seq "$runs"); do
    "$bin" --hosts slurm --max 1000 --json --quiet --events "$out/srun-$i.jsonl" >"$out/srun-$i.json"
    "$bin" --procs 2 --max 1000 --json --quiet >"$out/fork-$i.json"
done
"$bin" --hosts slurm --max "$max" --json --quiet >"$out/srun-max.json"
"$bin" --procs 2 --max "$max" --json --quiet >"$out/fork-max.json"

python3 - "$out" "$runs" "$max" <<'EOF'
import json, statistics, sys
out, runs, mx = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def elapsed(name):
    with open(f"{out}/{name}.json") as f:
        return json.load(f)["elapsed_s"]
srun = [elapsed(f"srun-{i}") for i in range(1, runs + 1)]
fork = [elapsed(f"fork-{i}") for i in range(1, runs + 1)]
hello = []
for i in range(1, runs + 1):
    started = {}
    for line in open(f"{out}/srun-{i}.jsonl"):
        e = json.loads(line)
        if e["event"] == "started":
            started[e["slot"]] = e["t"]
        elif e["event"] == "connected":
            hello.append(e["t"] - started[e["slot"]])
ms = lambda s: f"{1000 * s:.1f} ms"
print(f"tiny runs (--max 1000, 2 workers, {runs} each, interleaved):")
print(f"  median elapsed through srun: {ms(statistics.median(srun))}")
print(f"  median elapsed forked:       {ms(statistics.median(fork))}")
print(f"  srun step start to Hello, median of {len(hello)}: {ms(statistics.median(hello))}"
      f" (min {ms(min(hello))}, max {ms(max(hello))})")
s, f = elapsed("srun-max"), elapsed("fork-max")
for name, run in (("srun-max", s), ("fork-max", f)):
    with open(f"{out}/{name}.json") as fh:
        j = json.load(fh)
    assert j["complete"] and j["sigma_sum_verified"], name
print(f"--max {mx}, one run each: --hosts slurm {s:.2f} s, --procs 2 {f:.2f} s,"
      f" ratio {s / f:.3f}")
EOF
