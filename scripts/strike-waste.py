#!/usr/bin/env python3
"""How many of the σ kernel's strikes from 1024 up are needed (docs/kernel.md).

A strike of the prime p at n = p·k is needed only when k has a prime
factor of at least p: otherwise p is n's largest prime, once, and the
finishing pass finds it as the cofactor. The kernel skips the k < p of
those (it strikes from p²); this counts the rest, exactly over [1, 10^9]
(the primes from 1024 to √10^9, from p²) and by sampling over
[10^13 − 10^8 + 1, 10^13] (the bucket primes from 2^16 to √10^13).

    scripts/strike-waste.py [SAMPLES]    # default 1000 primes near 10^13
"""
import math
import random
import sys

N = 10**6
big = list(range(N + 1))  # the largest prime factor of k, for k ≤ N
for i in range(2, N + 1):
    if big[i] == i:
        for j in range(2 * i, N + 1, i):
            big[j] = i  # i rises, so the last write is the largest
primes = [i for i in range(2, N + 1) if big[i] == i]
count = [0] * (N + 1)  # π(x)
for x in range(2, N + 1):
    count[x] = count[x - 1] + (big[x] == x)

hi, first, last = 10**9, 1024, math.isqrt(10**9)
struck = sum(hi // p - p + 1 for p in primes if first <= p <= last)
# k counts for the primes p from 1024 to min(big[k], hi / k, √hi).
needed = sum(
    max(0, count[min(big[k], hi // k, last)] - count[first - 1]) for k in range(2, N + 1)
)
print(f"[1, 10^9], primes 1024..{last} from p²: {struck} strikes, "
      f"{needed} needed ({needed / struck:.3f})")


def largest_factor(n):
    top = 1
    for q in primes:
        if q * q > n:
            break
        while n % q == 0:
            top, n = q, n // q
    return max(top, n)


def is_prime(n):
    return largest_factor(n) == n


hi = 10**13
lo, first, last = hi - 10**8 + 1, 1 << 16, math.isqrt(hi)
samples = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
rng = random.Random(1)
struck = needed = 0.0
for _ in range(samples):
    # A prime drawn this way comes with probability ∝ ln p / p; its strikes
    # in the window are ∝ 1 / p: weight 1 / ln p.
    p = int(math.exp(rng.uniform(math.log(first), math.log(last))))
    while not is_prime(p):
        p += 1
    if p > last:
        continue
    ks = range(-(-lo // p), hi // p + 1)
    drawn = [rng.choice(ks) for _ in range(30)]
    share = sum(largest_factor(k) >= p for k in drawn) / len(drawn)
    w = len(ks) / math.log(p) * p  # strikes ∝ len(ks); density ∝ ln p / p
    struck += w
    needed += w * share
print(f"[10^13 - 10^8 + 1, 10^13], primes 2^16..{last}: "
      f"{needed / struck:.3f} of the strikes needed ({samples} primes sampled)")
