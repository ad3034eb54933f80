#!/usr/bin/env python3
"""The usual way this job is done in Python: multiprocessing.Pool over the
numbers, each checked by trial division up to sqrt(n). Timed beside
`supervisor` by scripts/peers/compare.sh.

    python3 scripts/peers/seed_mp.py --max 1000000 --procs 8
"""
import argparse
import math
import multiprocessing as mp
import time


def sigma(n: int) -> int:
    total = 0
    for d in range(1, math.isqrt(n) + 1):
        if n % d == 0:
            total += d
            q = n // d
            if q != d:
                total += q
    return total


def check(bounds):
    lo, hi = bounds
    perfect, abundant, deficient = [], 0, 0
    for n in range(lo, hi + 1):
        s = sigma(n)
        if s == 2 * n:
            perfect.append(n)
        elif s > 2 * n:
            abundant += 1
        else:
            deficient += 1
    return perfect, abundant, deficient


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=1_000_000)
    ap.add_argument("--procs", type=int, default=mp.cpu_count())
    ap.add_argument("--chunk", type=int, default=10_000)
    args = ap.parse_args()
    start = time.perf_counter()
    chunks = [(lo, min(lo + args.chunk - 1, args.max)) for lo in range(1, args.max + 1, args.chunk)]
    with mp.Pool(args.procs) as pool:
        results = pool.map(check, chunks)
    perfect = sorted(p for r in results for p in r[0])
    abundant = sum(r[1] for r in results)
    deficient = sum(r[2] for r in results)
    elapsed = time.perf_counter() - start
    print(f"perfect: {perfect}; abundant {abundant}; deficient {deficient}; {elapsed:.2f} s")


if __name__ == "__main__":
    main()
