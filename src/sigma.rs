//! The σ kernel: the sum of divisors σ(n) for every n of a range, computed
//! with a segmented sieve, and each n classified as perfect, abundant or
//! deficient. Pure computation: no I/O, nothing about processes.
//!
//! Memory is bounded by one segment and the primes up to √max, never by the
//! length of the range (about 10 MB at max = 10^13, 2 MB at 10^9).
//!
//! This module owns the arithmetic: [`Kernel`] (the sieve a worker runs over
//! its chunks), [`ChunkResult`] (what a chunk reports), and the independent
//! checks [`sigma_naive`] and [`sigma_sum_upto`] / [`sigma_sum_range`] (Σσ
//! in O(√n), against which the supervisor can verify a chunk's `sigma_sum`).
//!
//! Measured on one core of the 2-core AMD EPYC (Zen 3) build machine, plain
//! `--release` build, `cargo run --release --example kernel_bench -- LO HI`
//! (max = HI). The machine was shared with other work, so figures moved by
//! ±20% from run to run: best of several runs, typical range in brackets.
//!
//! | range                          | numbers/s             | peak RSS |
//! |--------------------------------|-----------------------|----------|
//! | [1, 10^9]                      | 1.71e8 (1.31–1.66e8)  | 2.7 MB   |
//! | [9.5·10^8 + 1, 10^9]           | 1.85e8 (1.2–1.73e8)   | 2.7 MB   |
//! | [10^10 − 10^7 + 1, 10^10]      | 1.66e8 (1.15–1.56e8)  | 3.7 MB   |
//! | [10^12 − 10^7 + 1, 10^12]      | 1.08e8 (0.81–0.84e8)  | 6.9 MB   |
//! | [10^13 − 10^7 + 1, 10^13]      | 7.3e7 (6.1–6.4e7)     | 10.3 MB  |
//!
//! The divisor-pair sieve (add d + n/d at each multiple of each d ≤ √hi),
//! the other candidate, made division-free and cache-blocked the same way,
//! did 6.6e7 (typically 5e7) numbers/s on [9.5·10^8 + 1, 10^9], where this
//! prime-power sieve did 1.56e8 in the same interleaved runs: it strikes
//! Σ_{d≤√n} 1/d ≈ 11 times per number at 10^9 against Σ_{p≤√n} 1/p ≈ 2.1
//! here. The first version of this file (divisor pairs with a division per
//! d per segment) did 6.0e7.

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

/// A merge whose sums would not fit: no honest pair of results can cause it
/// (their counts add up to at most 10^13, their Σσ to below 10^27), so the
/// result being merged is forged or corrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow;

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the merged counts or Σσ would overflow")
    }
}

impl ChunkResult {
    /// How many numbers this result covers, exactly: the three counts of a
    /// forged result may add up past `u64::MAX`, never past `u128::MAX`.
    pub fn count(&self) -> u128 {
        self.abundant as u128 + self.deficient as u128 + self.perfect.len() as u128
    }

    /// How many numbers this result covers, for a result already checked
    /// (every merged result is: [`ChunkResult::merge`] refuses what would
    /// not fit). Saturates rather than wraps for one that was not.
    pub fn checked(&self) -> u64 {
        u64::try_from(self.count()).unwrap_or(u64::MAX)
    }

    /// Adds another chunk's result into this one (the perfect numbers kept
    /// ascending). Refuses, leaving this one untouched, when a count, the
    /// total or Σσ would not fit.
    pub fn merge(&mut self, other: &ChunkResult) -> Result<(), Overflow> {
        let abundant = self.abundant.checked_add(other.abundant).ok_or(Overflow)?;
        let deficient = self
            .deficient
            .checked_add(other.deficient)
            .ok_or(Overflow)?;
        let sigma_sum = self
            .sigma_sum
            .checked_add(other.sigma_sum)
            .ok_or(Overflow)?;
        let perfect = self.perfect.len() as u128 + other.perfect.len() as u128;
        if abundant as u128 + deficient as u128 + perfect > u64::MAX as u128 {
            return Err(Overflow);
        }
        self.perfect.extend_from_slice(&other.perfect);
        self.perfect.sort_unstable();
        self.abundant = abundant;
        self.deficient = deficient;
        self.sigma_sum = sigma_sum;
        Ok(())
    }
}

/// Numbers per segment, by `max`: the working set is 16 bytes a number (plus
/// a sparsely used 8-byte array). 2^15 numbers (512 KiB of cells) up to
/// max = 2^32 (at 10^9, 2^13 to 2^16 measure the same within noise); 2^16
/// up to 2^34, 2^17 beyond. With a large max the primes above the segment
/// length, which strike a segment at most once but cost a check per segment
/// each, dominate, and longer segments pay off (best of 3 at 10^13: 2^15 →
/// 4.5e7 numbers/s, 2^16 → 5.9e7, 2^17 → 7.3e7, 2^18 → 8.0e7; at 10^12:
/// 6.6e7, 8.4e7, 1.05e8, 1.0e8; at 10^10, 2^16 → 1.66e8 against 1.56e8).
/// Capped at 2^17 (3 MiB of cells) to keep a worker's memory low, and so a
/// segment takes about 2 ms at 10^13.
fn segment_len(max: u64) -> usize {
    let root = max.isqrt().max(1).next_power_of_two() as usize;
    (root / 2).clamp(1 << 15, 1 << 17)
}

/// Numbers per sub-block for the small primes (those below it): 2^11 cells
/// are 32 KiB, L1-sized.
const SUB: usize = 1 << 11;

/// The sieve's state for one number of the segment.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Cell {
    /// σ of the part of n factored so far.
    sig: u64,
    /// n divided by the part factored so far (exact, by multiplication with
    /// the inverse of each prime modulo 2^64).
    rem: u64,
}

impl Cell {
    /// σ(n) once every prime ≤ √n has been sieved: what is left of n is 1 or
    /// a single prime q > √n, which contributes the factor q + 1.
    #[inline(always)]
    fn sigma(self) -> u64 {
        self.sig * (self.rem + (self.rem != 1) as u64)
    }
}

/// One odd sieving prime and where it next strikes.
#[derive(Clone, Copy)]
struct SievePrime {
    /// p⁻¹ mod 2^64: multiplying a multiple of p by it divides it by p exactly.
    inv: u64,
    /// The next multiple of p² to visit (absolute).
    next2: u64,
    /// The prime.
    p: u32,
    /// The offset of the next multiple of p from the start of the next
    /// segment (below p + the segment length, so it fits).
    off1: u32,
}

/// p⁻¹ mod 2^64 for odd p, by Newton's iteration (p·p ≡ 1 mod 8 gives 3
/// correct bits; each step doubles them: 3, 6, 12, 24, 48, 96).
fn inverse_mod_2_64(p: u64) -> u64 {
    debug_assert!(p % 2 == 1);
    let mut x = p;
    for _ in 0..5 {
        x = x.wrapping_mul(2u64.wrapping_sub(p.wrapping_mul(x)));
    }
    debug_assert_eq!(p.wrapping_mul(x), 1);
    x
}

/// The odd primes up to `limit`, by a plain sieve of Eratosthenes over the
/// odd numbers (a transient ⌈limit/2⌉ bytes: 1.6 MB at the largest max).
fn odd_primes_upto(limit: u64) -> Vec<u32> {
    let limit = limit as usize;
    let mut composite = vec![false; limit / 2 + 1]; // index k stands for 2k+1
    let mut primes = Vec::new();
    let mut k = 1;
    while 2 * k < limit {
        if !composite[k] {
            let p = 2 * k + 1;
            primes.push(p as u32);
            let mut j = p * p / 2;
            while j < composite.len() {
                composite[j] = true;
                j += p;
            }
        }
        k += 1;
    }
    primes
}

/// A reusable sieve for ranges whose upper end is at most `max`.
///
/// The sieve is multiplicative over prime powers. For each segment (of
/// `segment_len` numbers), every cell starts as n's factor 2^t
/// (`sig = 2^(t+1) − 1`, `rem = n >> t`, from `trailing_zeros`); then for
/// each odd prime p ≤ √hi (in any order: the steps commute):
///
/// * at multiples of p²: `base[i] = sig[i]` (σ before p is applied);
/// * at multiples of p: `sig[i] *= p + 1`, `rem[i] *= p⁻¹`;
/// * at multiples of p^k, k ≥ 2: `sig[i] = sig[i]·p + base[i]`,
///   `rem[i] *= p⁻¹`, which turns σ(p^(k−1)) into σ(p^k).
///
/// No division in any inner loop: each prime keeps its next multiple of p
/// and of p² across the segments of a chunk (higher powers, p³ ≤ hi, are
/// few and found with one division per segment). What is left in `rem` is
/// 1 or a prime q > √n, and σ(n) = sig·(q + 1) then.
///
/// Three tiers of primes: below `SUB` (2^11) (most strikes) sub-block by
/// sub-block in L1, each sub-block classified right after; up to the
/// segment length over the whole segment; beyond it, at most one strike per
/// segment (`sieve_huge`).
///
/// Tried and dropped, no gain measurable through the noise at 10^9: σ kept
/// in f64 (the multiplications on the FP units), `rem` as an f64 product of
/// 1/p rounded at the end, a wheel pattern of period 1155 applying 3, 5, 7
/// and 11 while initialising (saves 37% of the strikes but costs two
/// multiplications per number), a shift for p + 1 = 2^s, other sub-block
/// and small-prime bounds (2^10 to 2^12). At 10^13, a bucket sieve for the
/// primes above the segment length (each waiting in the bucket of the
/// segment it strikes next, with its inverse, the exponent 2 told by the
/// inverse's divisibility test) measured no faster than `sieve_huge`.
///
/// Overflow: σ(n) < 7n for every n ≤ [`MAX_SUPPORTED`] (Robin 1984,
/// unconditionally σ(n)/n < e^γ·ln ln n + 0.6483/ln ln n for n ≥ 3, which
/// is 6.25 at 10^13 and increasing there), so σ(n) < 7·10^13 < 2^47. Every
/// intermediate `sig` is σ(d) for a divisor d of n, hence ≤ σ(n); `base` too;
/// `sig·p + base` is σ(d·p) for a divisor d·p of n. `rem` is a divisor of n
/// (the wrapping multiplications by p⁻¹ are exact divisions). 2n < 2^45.
/// The per-sub-block Σσ in a u64 is below 2^11 · 2^47 = 2^58. p² ≤ max and
/// the next multiple of p² is below max + p² ≤ 2·10^13; p^k is only
/// multiplied by p while p^k ≤ hi / p.
pub struct Kernel {
    max: u64,
    /// All odd primes ≤ √max, with their positions in the chunk being run.
    sieving: Vec<SievePrime>,
    /// How many of `sieving` are ≤ √hi for the chunk being run.
    active: usize,
    /// How many of `sieving` are below [`SUB`] and active.
    small: usize,
    /// How many of `sieving` are below the segment length and active.
    large: usize,
    /// Numbers per segment.
    segment: usize,
    cells: Vec<Cell>,
    base: Vec<u64>,
}

impl Kernel {
    /// A kernel for ranges up to `max` (at most [`MAX_SUPPORTED`]): holds
    /// the odd primes up to √max (about 227 000 at 10^13: 5.4 MB of state,
    /// plus 3 MiB of segment).
    pub fn new(max: u64) -> Kernel {
        assert!(max <= MAX_SUPPORTED, "max {max} past the supported bound");
        let sieving = odd_primes_upto(max.isqrt())
            .into_iter()
            .map(|p| SievePrime {
                inv: inverse_mod_2_64(p as u64),
                next2: 0,
                p,
                off1: 0,
            })
            .collect();
        Kernel {
            max,
            sieving,
            active: 0,
            small: 0,
            large: 0,
            segment: segment_len(max),
            cells: vec![Cell::default(); segment_len(max)],
            base: vec![0; segment_len(max)],
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
        self.run_while(lo, hi, |done| {
            on_segment(done);
            true
        })
        .expect("never stopped early")
    }

    /// [`Kernel::run`] that can be stopped: after each segment,
    /// `on_segment(done)` says whether to go on. `None` if it said no.
    pub fn run_while(
        &mut self,
        lo: u64,
        hi: u64,
        on_segment: impl FnMut(u64) -> bool,
    ) -> Option<ChunkResult> {
        let mut result = ChunkResult::default();
        let mut sigma_sum: u128 = 0;
        let classify = |block_lo: u64, cells: &[Cell]| {
            // Branch-free classification; the per-block sum fits a u64
            // (see the overflow note on `Kernel`).
            let (mut abundant, mut deficient, mut sum) = (0u64, 0u64, 0u64);
            let mut twice = 2 * block_lo;
            for &c in cells {
                let s = c.sigma();
                abundant += (s > twice) as u64;
                deficient += (s < twice) as u64;
                sum += s;
                twice += 2;
            }
            let perfect = cells.len() as u64 - abundant - deficient;
            if perfect > 0 {
                for (i, &c) in cells.iter().enumerate() {
                    let n = block_lo + i as u64;
                    if c.sigma() == 2 * n {
                        result.perfect.push(n);
                    }
                }
            }
            result.abundant += abundant;
            result.deficient += deficient;
            sigma_sum += sum as u128;
        };
        if !self.for_each_block(lo, hi, classify, on_segment) {
            return None;
        }
        result.sigma_sum = sigma_sum;
        Some(result)
    }

    /// σ(n) for every n in `[lo, hi]` (inclusive; 1 ≤ lo ≤ hi ≤ max), from
    /// the same sieve as [`Kernel::run`]. Its memory grows with the range:
    /// meant for tests and checks on small windows.
    pub fn sigma_of_range(&mut self, lo: u64, hi: u64) -> Vec<u64> {
        let mut out = Vec::with_capacity((hi - lo + 1) as usize);
        let collect = |_, cells: &[Cell]| out.extend(cells.iter().map(|c| c.sigma()));
        self.for_each_block(lo, hi, collect, |_| true);
        out
    }

    /// Sieves `[lo, hi]` segment by segment, handing each finished block of
    /// a segment (its first n and its cells, in order) to `f`, and the count
    /// of numbers done to `on_segment` after each segment, which says
    /// whether to go on. Returns whether the whole range was done.
    fn for_each_block(
        &mut self,
        lo: u64,
        hi: u64,
        mut f: impl FnMut(u64, &[Cell]),
        mut on_segment: impl FnMut(u64) -> bool,
    ) -> bool {
        assert!(
            1 <= lo && lo <= hi && hi <= self.max,
            "range [{lo}, {hi}] outside [1, {}]",
            self.max
        );
        // The primes ≤ √hi, each with its first multiples of p and p² ≥ lo.
        self.active = self
            .sieving
            .partition_point(|sp| (sp.p as u64) * (sp.p as u64) <= hi);
        for sp in &mut self.sieving[..self.active] {
            let p = sp.p as u64;
            let p2 = p * p;
            sp.next2 = lo.div_ceil(p2) * p2;
            sp.off1 = (lo.div_ceil(p) * p - lo) as u32;
        }
        self.small = self.sieving[..self.active].partition_point(|sp| (sp.p as usize) < SUB);
        self.large =
            self.sieving[..self.active].partition_point(|sp| (sp.p as usize) < self.segment);
        let mut seg_lo = lo;
        loop {
            let len = (hi - seg_lo).min(self.segment as u64 - 1) as usize + 1;
            self.sieve_segment(seg_lo, len, hi, &mut f);
            if !on_segment(seg_lo + len as u64 - lo) {
                return false;
            }
            if hi - seg_lo < self.segment as u64 {
                return true;
            }
            seg_lo += self.segment as u64;
        }
    }

    /// Sieves the `len` numbers from `lo` (`hi` is the chunk's end) and
    /// hands the finished cells to `f` sub-block by sub-block (σ still to be
    /// finished by [`Cell::sigma`]).
    ///
    /// Cache blocking: the primes from [`SUB`] up, which strike each cell
    /// rarely, go over the whole segment first; then the smaller ones, which
    /// strike often, are run sub-block by sub-block, and each sub-block is
    /// handed over while it is still in L1.
    fn sieve_segment(&mut self, lo: u64, len: usize, hi: u64, f: &mut impl FnMut(u64, &[Cell])) {
        let cells = &mut self.cells[..len];
        let base = &mut self.base[..len];
        init_cells(cells, lo);
        let (small, rest) = self.sieving[..self.active].split_at_mut(self.small);
        let (large, huge) = rest.split_at_mut(self.large - self.small);
        sieve_huge(cells, lo, huge);
        sieve_block(cells, base, lo, large, hi);
        let mut start = 0;
        while start < len {
            let stop = len.min(start + SUB);
            sieve_block(
                &mut cells[start..stop],
                &mut base[start..stop],
                lo + start as u64,
                small,
                hi,
            );
            f(lo + start as u64, &cells[start..stop]);
            start = stop;
        }
    }
}

/// Applies the primes from the segment length up (at 10^13, most of the
/// 227 000) to the segment of cells for the numbers from `lo`. Each strikes
/// a segment at most once, and since p ≥ 2^15, p³ > [`MAX_SUPPORTED`]: the
/// exponent is 1 or 2, and the multiple of p² (tracked in `next2`) is the
/// one strike of its segment, which takes σ(p²) = 1 + p + p² at once.
#[inline(always)]
fn sieve_huge(cells: &mut [Cell], lo: u64, primes: &mut [SievePrime]) {
    const { assert!((1u64 << 45) > MAX_SUPPORTED) };
    let len = cells.len();
    for sp in primes.iter_mut() {
        let o = sp.off1 as usize;
        if o < len {
            let p = sp.p as u64;
            debug_assert!(p >= 1 << 15);
            let c = &mut cells[o];
            if sp.next2 == lo + o as u64 {
                c.sig *= 1 + p + p * p;
                c.rem = c.rem.wrapping_mul(sp.inv).wrapping_mul(sp.inv);
                sp.next2 += p * p;
            } else {
                c.sig *= p + 1;
                c.rem = c.rem.wrapping_mul(sp.inv);
            }
            sp.off1 = (o + p as usize - len) as u32;
        } else {
            sp.off1 = (o - len) as u32;
        }
    }
}

/// Starts the cells for the numbers from `lo` with their factor 2^t:
/// `sig = 2^(t+1) − 1`, `rem = n >> t`. Unrolled by four from a multiple of
/// four, so only n ≡ 0 (mod 4) needs `trailing_zeros`.
#[inline(always)]
fn init_cells(cells: &mut [Cell], lo: u64) {
    let one = |c: &mut Cell, n: u64| {
        let t = n.trailing_zeros();
        c.sig = (2u64 << t) - 1;
        c.rem = n >> t;
    };
    let head = (lo.wrapping_neg() % 4) as usize;
    let head = head.min(cells.len());
    let (first, rest) = cells.split_at_mut(head);
    for (i, c) in first.iter_mut().enumerate() {
        one(c, lo + i as u64);
    }
    let mut n = lo + head as u64; // a multiple of 4
    let mut quads = rest.chunks_exact_mut(4);
    for q in &mut quads {
        one(&mut q[0], n);
        q[1] = Cell { sig: 1, rem: n + 1 };
        q[2] = Cell {
            sig: 3,
            rem: (n + 2) >> 1,
        };
        q[3] = Cell { sig: 1, rem: n + 3 };
        n += 4;
    }
    for (i, c) in quads.into_remainder().iter_mut().enumerate() {
        one(c, n + i as u64);
    }
}

/// Applies `primes` to the block of cells for the numbers from `lo` (each
/// prime's `off1` is relative to `lo` and is left relative to the block's
/// end); `hi` is the chunk's end.
#[inline(always)]
fn sieve_block(cells: &mut [Cell], base: &mut [u64], lo: u64, primes: &mut [SievePrime], hi: u64) {
    let len = cells.len();
    let base = &mut base[..len];
    let end = lo + len as u64; // exclusive
    for sp in primes.iter_mut() {
        let p = sp.p as usize;
        let pu = p as u64;
        let inv = sp.inv;
        let p2 = p * p;
        let squares = sp.next2 < end;
        if squares {
            let mut i = (sp.next2 - lo) as usize;
            while i < len {
                base[i] = cells[i].sig;
                i += p2;
            }
        }
        let mut i = sp.off1 as usize;
        while i < len {
            let c = &mut cells[i];
            c.sig *= pu + 1;
            c.rem = c.rem.wrapping_mul(inv);
            i += p;
        }
        sp.off1 = (i - len) as u32;
        if squares {
            let mut pk = p2 as u64;
            let mut i = (sp.next2 - lo) as usize;
            loop {
                while i < len {
                    let c = &mut cells[i];
                    c.sig = c.sig * pu + base[i];
                    c.rem = c.rem.wrapping_mul(inv);
                    i += pk as usize;
                }
                if pk == p2 as u64 {
                    sp.next2 = lo + i as u64;
                }
                if pk > hi / pu {
                    break;
                }
                pk *= pu;
                i = (lo.div_ceil(pk) * pk - lo) as usize;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rng::SplitMix64;

    /// The result `run` should give, from σ by trial division.
    fn naive_result(lo: u64, hi: u64) -> ChunkResult {
        let mut r = ChunkResult::default();
        for n in lo..=hi {
            let s = sigma_naive(n);
            match s.cmp(&(2 * n)) {
                std::cmp::Ordering::Greater => r.abundant += 1,
                std::cmp::Ordering::Less => r.deficient += 1,
                std::cmp::Ordering::Equal => r.perfect.push(n),
            }
            r.sigma_sum += s as u128;
        }
        r
    }

    /// σ(n) for every n of [lo, hi] by the divisor-pair method (the
    /// original kernel, independent of the prime-power sieve): each divisor
    /// pair d ≤ q = n/d with d ≤ √hi is added once. O(√hi + len·log hi), so
    /// it checks windows near 10^13 where trial division per n is too slow.
    fn sigma_window_pairs(lo: u64, hi: u64) -> Vec<u64> {
        let mut sig = vec![0u64; (hi - lo + 1) as usize];
        let mut d = 1u64;
        while d * d <= hi {
            let mut q = lo.div_ceil(d).max(d);
            while d * q <= hi {
                sig[(d * q - lo) as usize] += if q == d { d } else { d + q };
                q += 1;
            }
            d += 1;
        }
        sig
    }

    /// Checks σ of every n of [lo, hi]: against trial division when the
    /// numbers are small, else against the divisor-pair window plus trial
    /// division for `spot` numbers of the window (the first, the last and
    /// random ones). Also checks `run`'s totals against the per-n values.
    fn check_window(kernel: &mut Kernel, lo: u64, hi: u64, spot: usize) {
        let sig = kernel.sigma_of_range(lo, hi);
        assert_eq!(sig.len() as u64, hi - lo + 1);
        if hi <= 10_000_000 {
            for (i, &s) in sig.iter().enumerate() {
                let n = lo + i as u64;
                assert_eq!(s, sigma_naive(n), "σ({n}) in window [{lo}, {hi}]");
            }
        } else {
            let reference = sigma_window_pairs(lo, hi);
            for (i, &s) in sig.iter().enumerate() {
                let n = lo + i as u64;
                assert_eq!(s, reference[i], "σ({n}) in window [{lo}, {hi}]");
            }
            let mut rng = SplitMix64(lo ^ hi);
            for k in 0..spot {
                let n = match k {
                    0 => lo,
                    1 => hi,
                    _ => rng.range(lo, hi),
                };
                assert_eq!(sig[(n - lo) as usize], sigma_naive(n), "σ({n})");
            }
        }
        let r = kernel.run(lo, hi, |_| {});
        let sum: u128 = sig.iter().map(|&s| s as u128).sum();
        assert_eq!(r.sigma_sum, sum, "Σσ over [{lo}, {hi}]");
        assert_eq!(r.checked(), hi - lo + 1);
        let abundant = sig
            .iter()
            .enumerate()
            .filter(|&(i, &s)| s > 2 * (lo + i as u64))
            .count();
        assert_eq!(r.abundant, abundant as u64);
        assert_eq!(r.sigma_sum, sigma_sum_range(lo, hi));
    }

    #[test]
    fn window_reference_agrees_with_trial_division() {
        let sig = sigma_window_pairs(999_000, 1_001_000);
        for (i, &s) in sig.iter().enumerate() {
            assert_eq!(s, sigma_naive(999_000 + i as u64));
        }
    }

    #[test]
    fn naive_small_values() {
        let expected = [1, 3, 4, 7, 6, 12, 8, 15, 13, 18, 12, 28];
        for (i, &s) in expected.iter().enumerate() {
            assert_eq!(sigma_naive(i as u64 + 1), s);
        }
        assert_eq!(sigma_naive(8128), 2 * 8128);
    }

    #[test]
    fn every_n_up_to_100000() {
        let mut kernel = Kernel::new(100_000);
        let sig = kernel.sigma_of_range(1, 100_000);
        for (i, &s) in sig.iter().enumerate() {
            let n = i as u64 + 1;
            assert_eq!(s, sigma_naive(n), "σ({n})");
        }
        let whole = kernel.run(1, 100_000, |_| {});
        assert_eq!(whole, naive_result(1, 100_000));
        assert_eq!(whole.perfect, vec![6, 28, 496, 8128]);
    }

    #[test]
    fn chunks_of_odd_sizes_agree_with_the_whole() {
        let mut kernel = Kernel::new(100_000);
        let whole = kernel.run(1, 100_000, |_| {});
        let mut merged = ChunkResult::default();
        let sizes = [1u64, 2, 3, 7, 97, 1000, 4093, 32767, 32768, 32769, 65537];
        let (mut lo, mut k) = (1u64, 0);
        while lo <= 100_000 {
            let hi = (lo + sizes[k % sizes.len()] - 1).min(100_000);
            let sig = kernel.sigma_of_range(lo, hi);
            for (i, &s) in sig.iter().enumerate() {
                assert_eq!(s, sigma_naive(lo + i as u64));
            }
            merged.merge(&kernel.run(lo, hi, |_| {})).unwrap();
            lo = hi + 1;
            k += 1;
        }
        assert_eq!(merged, whole);
    }

    #[test]
    fn progress_reports_every_segment() {
        let mut kernel = Kernel::new(1_000_000);
        let mut seen = Vec::new();
        let r = kernel.run(10, 100_009, |done| seen.push(done));
        assert_eq!(r.checked(), 100_000);
        assert_eq!(seen.len(), 100_000usize.div_ceil(kernel.segment));
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*seen.last().unwrap(), 100_000);
    }

    #[test]
    fn chunk_edges() {
        let mut kernel = Kernel::new(1_000_000_000_000);
        // lo = hi, lo = 1, one-number chunks.
        for n in [
            1u64,
            2,
            3,
            4,
            6,
            28,
            8128,
            999_983,
            1 << 20,
            999_999_999_989,
        ] {
            assert_eq!(kernel.sigma_of_range(n, n), vec![sigma_naive(n)]);
            let r = kernel.run(n, n, |_| {});
            assert_eq!(r, naive_result(n, n), "the chunk [{n}, {n}]");
        }
        check_window(&mut kernel, 1, 1, 0);
        check_window(&mut kernel, 1, 2, 0);
        check_window(&mut kernel, 1, 1000, 0);
        // Chunks starting and ending on squares, prime squares and cubes.
        for root in [3u64, 1000, 1009, 31_607, 999_983] {
            let sq = root * root;
            check_window(&mut kernel, sq, sq + 500, 2);
            check_window(&mut kernel, sq.saturating_sub(500).max(1), sq, 2);
            check_window(&mut kernel, sq, sq, 1);
        }
        for cube in [1009u64 * 1009 * 1009, 7u64.pow(14), 3u64.pow(25)] {
            check_window(&mut kernel, cube - 300, cube + 300, 2);
        }
        // Windows across segment boundaries, around 2^39.
        let seg = kernel.segment as u64;
        check_window(&mut kernel, (1 << 39) - 3 * seg, (1 << 39) + 3000, 2);
    }

    /// Squares of primes above the segment length take their own path
    /// (`sieve_huge`): chunks that run over several segments into p² and
    /// past it, so the tracked multiples of p and p² carry across segments.
    #[test]
    fn squares_of_huge_primes() {
        let mut kernel = Kernel::new(MAX_SUPPORTED);
        let seg = kernel.segment as u64;
        for p in [131_101u64, 1_000_003, 3_162_277] {
            assert!(p >= seg && sigma_naive(p) == p + 1);
            let sq = p * p;
            check_window(&mut kernel, sq - 2 * seg - 12_345, sq + 1000, 2);
            check_window(&mut kernel, sq - p, sq + p, 2);
        }
    }

    #[test]
    fn random_windows_up_to_10_12() {
        let mut rng = SplitMix64(0x5eed_0001);
        let mut kernel = Kernel::new(1_000_000_000_000);
        for _ in 0..20 {
            let lo = rng.range(1, 1_000_000_000_000 - 2000);
            let len = rng.range(1, 2000);
            check_window(&mut kernel, lo, lo + len - 1, 3);
        }
    }

    /// Every n of 20 random windows up to 10^12 against trial division
    /// itself (O(√n) each: windows of 50 numbers in release, 4 in debug; the
    /// 2000-number windows above check every n against divisor pairs).
    #[test]
    fn random_windows_against_trial_division() {
        let len = if cfg!(debug_assertions) { 4 } else { 50 };
        let mut rng = SplitMix64(0x5eed_0003);
        let mut kernel = Kernel::new(1_000_000_000_000);
        for _ in 0..20 {
            let lo = rng.range(1, 1_000_000_000_000 - len + 1);
            let sig = kernel.sigma_of_range(lo, lo + len - 1);
            for (i, &s) in sig.iter().enumerate() {
                let n = lo + i as u64;
                assert_eq!(s, sigma_naive(n), "σ({n})");
            }
        }
    }

    #[test]
    fn windows_near_10_13() {
        let mut kernel = Kernel::new(MAX_SUPPORTED);
        check_window(&mut kernel, MAX_SUPPORTED - 1999, MAX_SUPPORTED, 2);
        let mut rng = SplitMix64(0x5eed_0002);
        for _ in 0..4 {
            let lo = rng.range(MAX_SUPPORTED - 10_000_000_000, MAX_SUPPORTED - 2000);
            check_window(&mut kernel, lo, lo + 1999, 1);
        }
    }

    #[test]
    fn known_perfect_number_33550336() {
        let mut kernel = Kernel::new(40_000_000);
        let r = kernel.run(33_550_000, 33_560_000, |_| {});
        assert_eq!(r.perfect, vec![33_550_336]);
        assert_eq!(r.checked(), 10_001);
        assert_eq!(r.sigma_sum, sigma_sum_range(33_550_000, 33_560_000));
    }

    /// The known counts for [1, 3·10^7]; in a debug build the sieve takes
    /// a while, so the full range runs only in release (`cargo test
    /// --release`), and debug runs the first 3·10^6 against the closed form.
    #[test]
    fn known_counts_up_to_30_million() {
        if cfg!(debug_assertions) {
            let mut kernel = Kernel::new(3_000_000);
            let r = kernel.run(1, 3_000_000, |_| {});
            assert_eq!(r.perfect, vec![6, 28, 496, 8128]);
            assert_eq!(r.sigma_sum, sigma_sum_upto(3_000_000));
            return;
        }
        let mut kernel = Kernel::new(30_000_000);
        let r = kernel.run(1, 30_000_000, |_| {});
        assert_eq!(r.perfect, vec![6, 28, 496, 8128]);
        assert_eq!(r.abundant, 7_430_807);
        assert_eq!(r.deficient, 22_569_189);
        assert_eq!(r.sigma_sum, sigma_sum_upto(30_000_000));
    }

    #[test]
    fn sigma_sum_upto_matches_brute_force() {
        let mut brute: u128 = 0;
        assert_eq!(sigma_sum_upto(0), 0);
        for n in 1..=2000u64 {
            brute += sigma_naive(n) as u128;
            assert_eq!(sigma_sum_upto(n), brute, "n = {n}");
        }
        // Against the block form Σ d·⌊n/d⌋ at squares and their neighbours.
        let blocks = |n: u64| {
            let (mut total, mut d) = (0u128, 1u64);
            while d <= n {
                let (q, last) = (n / d, n / (n / d));
                total += q as u128 * (d as u128 + last as u128) * (last - d + 1) as u128 / 2;
                d = last + 1;
            }
            total
        };
        for root in [1000u64, 31_623, 1_000_003] {
            for n in [root * root - 1, root * root, root * root + 1] {
                assert_eq!(sigma_sum_upto(n), blocks(n), "n = {n}");
            }
        }
        assert_eq!(sigma_sum_upto(MAX_SUPPORTED), blocks(MAX_SUPPORTED));
        assert_eq!(sigma_sum_range(1, 2000), brute);
    }

    #[test]
    fn sigma_sum_matches_the_sieve_on_larger_ranges() {
        let mut kernel = Kernel::new(MAX_SUPPORTED);
        for (lo, hi) in [
            (1u64, 200_000u64),
            (123_456_789, 123_556_789),
            (999_999_000_000, 1_000_000_050_000),
            (MAX_SUPPORTED - 40_000, MAX_SUPPORTED),
        ] {
            let r = kernel.run(lo, hi, |_| {});
            assert_eq!(r.sigma_sum, sigma_sum_range(lo, hi), "[{lo}, {hi}]");
        }
    }

    #[test]
    fn merge_keeps_perfect_sorted() {
        let mut a = ChunkResult {
            perfect: vec![8128],
            abundant: 1,
            deficient: 2,
            sigma_sum: 3,
        };
        let b = ChunkResult {
            perfect: vec![6, 28],
            abundant: 10,
            deficient: 20,
            sigma_sum: 30,
        };
        a.merge(&b).unwrap();
        assert_eq!(a.perfect, vec![6, 28, 8128]);
        assert_eq!((a.abundant, a.deficient, a.sigma_sum), (11, 22, 33));
        assert_eq!(a.checked(), 36);
    }

    #[test]
    fn merges_that_would_wrap_are_refused_and_change_nothing() {
        let honest = ChunkResult {
            perfect: vec![6],
            abundant: 5,
            deficient: 4,
            sigma_sum: 100,
        };
        let forgeries = [
            ChunkResult {
                abundant: u64::MAX,
                ..ChunkResult::default()
            },
            ChunkResult {
                deficient: u64::MAX - 3,
                ..ChunkResult::default()
            },
            ChunkResult {
                sigma_sum: u128::MAX,
                ..ChunkResult::default()
            },
            // Each count fits, their total does not.
            ChunkResult {
                abundant: u64::MAX - 5,
                deficient: 1,
                ..ChunkResult::default()
            },
        ];
        for forged in forgeries {
            let mut a = honest.clone();
            assert_eq!(a.merge(&forged), Err(Overflow), "{forged:?}");
            assert_eq!(a, honest, "untouched");
        }
        // abundant = 2^64 − 1 with deficient + 1: the count does not wrap to
        // the chunk's length.
        let wrapped = ChunkResult {
            abundant: u64::MAX,
            deficient: 11,
            ..ChunkResult::default()
        };
        assert_eq!(wrapped.count(), u64::MAX as u128 + 11);
        assert_eq!(wrapped.checked(), u64::MAX);
    }

    #[test]
    fn inverses() {
        for p in [3u64, 5, 7, 31_607, 3_162_277] {
            assert_eq!(p.wrapping_mul(inverse_mod_2_64(p)), 1);
        }
        let primes = odd_primes_upto(100);
        assert_eq!(primes.len(), 24);
        assert_eq!(primes[..5], [3, 5, 7, 11, 13]);
    }
}
