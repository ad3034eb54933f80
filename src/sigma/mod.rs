//! The σ kernel: the sum of divisors σ(n) for every n of a range, computed
//! with a segmented sieve, and each n classified as perfect, abundant or
//! deficient. Pure computation, nothing about processes; its only input from
//! outside is the sizes of the CPU's L1 and L2 caches, read once per
//! process (`cache`).
//!
//! This module owns the kernel's interface: [`Kernel`] (the sieve a worker
//! runs over its chunks), [`ChunkResult`] (what a chunk reports), and the
//! independent checks [`sigma_naive`] and [`sigma_sum_upto`] /
//! [`sigma_sum_range`] (Σσ in O(√n), against which the supervisor can
//! verify a chunk's `sigma_sum`). Inside:
//!
//! * `sieve`: the (σ, reciprocal) pair sieve in f64, its cache tiers and its
//!   finishing pass, and why its results are exact;
//! * `pattern`: the periodic start of every number (2, 3, 5, 7);
//! * `primes`: the sieving primes;
//! * `simd`: the choice of AVX-512, AVX2 + FMA or the portable path, once
//!   per process, and the kernel's only `unsafe` code;
//! * `check`: σ by trial division and Σσ in closed form;
//! * `cache`: the CPU's L1 and L2 sizes, and the sub-block and segment
//!   lengths they give.
//!
//! Memory is bounded by one segment and the primes up to √max, never by the
//! length of the range. Figures, commands and what was tried: docs/kernel.md.

mod cache;
mod check;
mod pattern;
mod primes;
mod sieve;
mod simd;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use check::{sigma_naive, sigma_sum_range, sigma_sum_upto};
pub use simd::{PATH_VAR, Path};

use sieve::Sieve;

/// The largest `max` the kernel supports. Every intermediate value is proven
/// to fit below it: σ(n) < 7n for n ≤ 10^13 (Robin's bound), so σ(n) is
/// below 2^47 and exact in a double, and Σσ over any range up to the bound
/// is below 10^27, far under u128::MAX.
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

/// A reusable sieve for ranges whose upper end is at most `max` (see
/// `sieve` for how it works and why it is exact).
pub struct Kernel {
    max: u64,
    path: Path,
    sieve: Sieve,
}

impl Kernel {
    /// A kernel for ranges up to `max` (at most [`MAX_SUPPORTED`]), on the
    /// best path this CPU has ([`Path::chosen`]): holds the primes up to
    /// √max (about 227 000 at 10^13: 0.9 MB, and as much again in the
    /// buckets), plus one segment of pairs (1 MiB with a 2 MiB L2: see
    /// `cache`).
    pub fn new(max: u64) -> Kernel {
        Kernel::with_path(max, Path::chosen())
    }

    /// [`Kernel::new`] on a given path (one of [`Path::available`]).
    pub fn with_path(max: u64, path: Path) -> Kernel {
        Kernel::with_sizes(max, path, cache::segment_len(), cache::sub_block_len())
    }

    /// [`Kernel::new`] with segments of `segment` numbers instead of the
    /// length the caches give, to measure the others (`kernel_bench`);
    /// `None` unless `segment` is a power of two from 2^14 to 2^16.
    pub fn with_segment(max: u64, segment: usize) -> Option<Kernel> {
        cache::is_segment_len(segment)
            .then(|| Kernel::with_sizes(max, Path::chosen(), segment, cache::sub_block_len()))
    }

    /// [`Kernel::with_path`] with segments of `segment` numbers (a power of
    /// two from `cache::SHORTEST` to `cache::LONGEST`) and sub-blocks of
    /// `sub_block` (`cache::SUB_BLOCK` or `cache::SMALL_SUB_BLOCK`).
    fn with_sizes(max: u64, path: Path, segment: usize, sub_block: usize) -> Kernel {
        assert!(max <= MAX_SUPPORTED, "max {max} past the supported bound");
        assert!(cache::is_segment_len(segment), "segment {segment}");
        Kernel {
            max,
            path,
            sieve: Sieve::new(max, segment, sub_block),
        }
    }

    /// The largest `hi` this kernel accepts.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The path this kernel runs on.
    pub fn path(&self) -> Path {
        self.path
    }

    /// Numbers per segment and per sub-block (chosen by the CPU's caches).
    pub fn sizes(&self) -> (usize, usize) {
        (self.sieve.segment, self.sieve.sub_block)
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
        self.sieve_range(lo, hi, None, on_segment)
    }

    /// σ(n) for every n in `[lo, hi]` (inclusive; 1 ≤ lo ≤ hi ≤ max), from
    /// the same sieve as [`Kernel::run`]. Its memory grows with the range:
    /// meant for tests and checks on small windows.
    pub fn sigma_of_range(&mut self, lo: u64, hi: u64) -> Vec<u64> {
        let mut out = Vec::with_capacity((hi - lo + 1) as usize);
        self.sieve_range(lo, hi, Some(&mut out), |_| true);
        out
    }

    /// Sieves `[lo, hi]` segment by segment into a result (and every σ(n)
    /// into `collect` if given), calling `on_segment` with the count of
    /// numbers done after each segment; `None` if it said to stop.
    fn sieve_range(
        &mut self,
        lo: u64,
        hi: u64,
        mut collect: Option<&mut Vec<u64>>,
        mut on_segment: impl FnMut(u64) -> bool,
    ) -> Option<ChunkResult> {
        assert!(
            1 <= lo && lo <= hi && hi <= self.max,
            "range [{lo}, {hi}] outside [1, {}]",
            self.max
        );
        simd::start(self.path, &mut self.sieve, lo, hi);
        let mut result = ChunkResult::default();
        let mut seg_lo = lo;
        loop {
            let len = (hi - seg_lo).min(self.sieve.segment as u64 - 1) as usize + 1;
            let tally = simd::segment(
                self.path,
                &mut self.sieve,
                seg_lo,
                len,
                hi,
                &mut result.perfect,
                collect.as_deref_mut(),
            );
            result.abundant += tally.abundant;
            result.deficient += len as u64 - tally.abundant - tally.perfect;
            result.sigma_sum += tally.sum as u128;
            if !on_segment(seg_lo + len as u64 - lo) {
                return None;
            }
            if hi - seg_lo < self.sieve.segment as u64 {
                return Some(result);
            }
            seg_lo += self.sieve.segment as u64;
        }
    }
}
