//! The σ kernel: the sum of divisors σ(n) for every n of a range, computed
//! with a segmented sieve, and each n classified as perfect, abundant or
//! deficient. Pure computation: no I/O, nothing about processes.
//!
//! Memory is bounded by one segment and the primes up to √max, never by the
//! length of the range.

use serde::{Deserialize, Serialize};

/// The largest `max` the kernel supports. Every intermediate value is proven
/// to fit below it: σ(n) < 7n for n ≤ 10^13 (Robin's bound), so σ(n) and 2n
/// fit comfortably in a u64, and Σσ over any range up to the bound is below
/// 10^27, far under u128::MAX.
pub const MAX_SUPPORTED: u64 = 10_000_000_000_000;

/// What one chunk of work found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkResult {
    /// The perfect numbers in the chunk, ascending.
    pub perfect: Vec<u64>,
    /// How many n had σ(n) > 2n.
    pub abundant: u64,
    /// How many n had σ(n) < 2n.
    pub deficient: u64,
    /// Σσ(n) over the chunk.
    pub sigma_sum: u128,
}

impl ChunkResult {
    /// How many numbers this result covers.
    pub fn checked(&self) -> u64 {
        self.abundant + self.deficient + self.perfect.len() as u64
    }

    /// Adds another chunk's result into this one.
    pub fn merge(&mut self, other: &ChunkResult) {
        self.perfect.extend_from_slice(&other.perfect);
        self.perfect.sort_unstable();
        self.abundant += other.abundant;
        self.deficient += other.deficient;
        self.sigma_sum += other.sigma_sum;
    }
}

/// Numbers per segment: the sieve's working set.
const SEGMENT: u64 = 1 << 15;

/// A reusable sieve for ranges whose upper end is at most `max`.
pub struct Kernel {
    max: u64,
    sigma: Vec<u64>,
}

impl Kernel {
    /// A kernel for ranges up to `max` (at most [`MAX_SUPPORTED`]).
    pub fn new(max: u64) -> Kernel {
        assert!(max <= MAX_SUPPORTED, "max {max} past the supported bound");
        Kernel {
            max,
            sigma: vec![0; SEGMENT as usize],
        }
    }

    /// The largest `hi` this kernel accepts.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Classifies every n in `[lo, hi]` (inclusive; 1 ≤ lo ≤ hi ≤ max).
    /// `on_segment(done)` is called after each segment with the count of
    /// numbers finished so far, so a caller can report progress.
    pub fn run(&mut self, lo: u64, hi: u64, mut on_segment: impl FnMut(u64)) -> ChunkResult {
        assert!(1 <= lo && lo <= hi && hi <= self.max);
        let mut result = ChunkResult::default();
        let mut seg_lo = lo;
        while seg_lo <= hi {
            let seg_hi = hi.min(seg_lo + SEGMENT - 1);
            self.segment(seg_lo, seg_hi, &mut result);
            on_segment(seg_hi - lo + 1);
            if seg_hi == hi {
                break;
            }
            seg_lo = seg_hi + 1;
        }
        result
    }

    /// The divisor-pair sieve over one segment.
    fn segment(&mut self, lo: u64, hi: u64, result: &mut ChunkResult) {
        let len = (hi - lo + 1) as usize;
        let sig = &mut self.sigma[..len];
        sig.fill(0);
        let mut d = 1u64;
        while d * d <= hi {
            // First multiple m = d*q of d in the segment with q ≥ d.
            let q0 = lo.div_ceil(d).max(d);
            let mut q = q0;
            let mut m = d * q;
            while m <= hi {
                let i = (m - lo) as usize;
                sig[i] += if q == d { d } else { d + q };
                q += 1;
                m += d;
            }
            d += 1;
        }
        for (i, &s) in sig.iter().enumerate() {
            let n = lo + i as u64;
            let twice = 2 * n;
            result.abundant += (s > twice) as u64;
            result.deficient += (s < twice) as u64;
            if s == twice {
                result.perfect.push(n);
            }
            result.sigma_sum += s as u128;
        }
    }
}

/// σ(n) by trial division up to √n: slow, obviously right; for tests.
pub fn sigma_naive(n: u64) -> u64 {
    let mut s = 0;
    let mut d = 1;
    while d * d <= n {
        if n % d == 0 {
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
