#!/usr/bin/env python3
"""Recovery latency: a worker SIGKILLed from outside, to its replacement's
first Progress frame (the `recovered` event), median over many kills; for
both start methods. Also what a stuck worker costs a run: a clean run against
one with `--inject hang:0` (2 s stall timeout by default).

    python3 scripts/recovery.py [--kills 40] [--procs 4]

It builds the release binaries first and finds them the way cargo does.
"""
import argparse
import datetime
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from cargo_target import release_dir

# Set by main() once built.
BIN = None


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def recovery(method, kills, procs):
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as ev:
        sup = subprocess.Popen(
            [BIN, "--procs", str(procs), "--max", "20000000000",
             "--start-method", method, "--quiet", "--events", ev.name,
             "--max-restarts", "100000"],
            stdout=subprocess.DEVNULL)
        killed = {}  # pid -> kill time
        try:
            deadline = time.monotonic() + 30
            while len(children(sup.pid)) < procs:
                if sup.poll() is not None:
                    sys.exit("the run ended before its workers started")
                if time.monotonic() > deadline:
                    sys.exit(f"gave up after 30 s waiting for {procs} workers to start")
                time.sleep(0.01)
            time.sleep(0.5)
            for _ in range(kills):
                if sup.poll() is not None:
                    sys.exit(f"the run ended after {len(killed)} of {kills} kills: "
                             "too short for this many (it checks up to 2 × 10^10)")
                pids = children(sup.pid)
                victim = random.choice(pids)
                killed[victim] = time.time()
                os.kill(victim, signal.SIGKILL)
                time.sleep(0.25)
        finally:
            sup.send_signal(signal.SIGINT)
            sup.wait()
        events = [json.loads(line) for line in open(ev.name)]
    died_slot = {e["pid"]: e["slot"] for e in events if e["event"] == "died"}
    latencies = []
    for pid, t_kill in killed.items():
        slot = died_slot.get(pid)
        rec = [e for e in events if e["event"] == "recovered" and e["slot"] == slot
               and parse_time(e["time"]) >= t_kill]
        if rec:
            latencies.append((parse_time(rec[0]["time"]) - t_kill) * 1e3)
    return latencies


def timed_run(extra):
    t = time.perf_counter()
    out = subprocess.run([BIN, "--procs", "2", "--max", "300000000", "--quiet", "--json"] + extra,
                         capture_output=True, text=True, check=False)
    return time.perf_counter() - t, json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=40)
    ap.add_argument("--procs", type=int, default=4)
    args = ap.parse_args()
    global BIN
    BIN = release_dir() / "supervisor"
    for method in ("fork", "spawn"):
        lat = recovery(method, args.kills, args.procs)
        lat.sort()
        print(f"{method:5}: SIGKILL -> replacement's first progress: median {statistics.median(lat):.1f} ms, "
              f"p90 {lat[int(len(lat) * 0.9)]:.1f} ms, max {lat[-1]:.1f} ms over {len(lat)} kills")
    clean, a = timed_run([])
    stuck, b = timed_run(["--inject", "hang:0"])
    assert a["abundant"] == b["abundant"] and a["sigma_sum"] == b["sigma_sum"]
    print(f"a stuck worker (--inject hang:0, --stall-timeout 2s): {stuck:.2f} s against {clean:.2f} s clean "
          f"(+{stuck - clean:.2f} s), exact either way")


if __name__ == "__main__":
    main()
