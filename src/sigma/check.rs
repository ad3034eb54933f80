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

/// Σ_{k ≤ n} σ(k), in O(√n), from the identity Σ_{k≤n} σ(k) = Σ_{d≤n} d·⌊n/d⌋:
/// the d with the same quotient ⌊n/d⌋ form a block whose sum is closed-form.
pub fn sigma_sum_upto(n: u64) -> u128 {
    let mut total: u128 = 0;
    let mut d = 1u64;
    while d <= n {
        let q = n / d;
        let last = n / q;
        let block = (d as u128 + last as u128) * (last - d + 1) as u128 / 2;
        total += q as u128 * block;
        d = last + 1;
    }
    total
}

/// Σσ(k) over `[lo, hi]`, independently of any sieve: the self-check.
pub fn sigma_sum_range(lo: u64, hi: u64) -> u128 {
    sigma_sum_upto(hi) - sigma_sum_upto(lo.saturating_sub(1))
}
