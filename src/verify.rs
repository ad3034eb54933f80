//! What the supervisor checks of a result it did not compute: pure functions
//! the event loop and the journal reader call, no I/O.
//!
//! - [`check_result`], on every chunk's result: its counts add up to exactly
//!   the chunk's length, its perfect numbers are ascending, inside the chunk
//!   and each confirmed perfect by factoring it here (independently of the
//!   sieve), and its Σσ lies within bounds every honest result meets.
//! - [`localise`], when the Σσ identity disagrees with a run's total: finds
//!   the chunks whose own Σσ is wrong by bisection over prefix sums, with
//!   O(log k) evaluations of the O(√x) identity per wrong chunk.
//! - [`compare`], for replicated verification: two workers' results for the
//!   same chunk must be equal, field for field.
//!
//! What none of these can see, a second worker has to recompute: an
//! abundant/deficient split moved within the bounds, a perfect number left
//! out, or Σσ moved between chunks so that the total still agrees.

use crate::sigma::{ChunkResult, MAX_SUPPORTED, sigma_sum_upto};
use std::collections::HashMap;

/// The perfect numbers up to [`MAX_SUPPORTED`].
pub const PERFECT: [u64; 7] = [6, 28, 496, 8128, 33_550_336, 8_589_869_056, 137_438_691_328];

/// More perfect numbers than a chunk can hold: there are 7 up to
/// [`MAX_SUPPORTED`] ([`PERFECT`]). A longer list is refused before any
/// number of it is factored, so a forged list cannot make the check slow:
/// confirming one number costs at most √n/2 trial divisions (about 11 ms
/// at 10^13, from `cargo run --release --example verify_bench`).
pub const MAX_PERFECT: usize = PERFECT.len();

/// σ(n) < 7n for every n ≤ [`MAX_SUPPORTED`] (the least n with σ(n) ≥ 7n is
/// above 10^25; see the overflow note on [`crate::sigma::Kernel`]).
const ABUNDANCY_BOUND: u128 = 7;

/// σ(n), n ≥ 1, by factoring n with trial division: independent of the
/// sieve, and fast for a perfect number 2^(p−1)·(2^p − 1), whose odd part
/// is a prime found after √(2^p) divisions at most.
pub fn sigma_by_factoring(n: u64) -> u128 {
    assert!(n >= 1, "σ(0) is not defined");
    let mut m = n;
    let mut sigma: u128 = 1;
    let mut p: u64 = 2;
    while p * p <= m {
        if m.is_multiple_of(p) {
            let (mut power, mut sum) = (1u128, 1u128);
            while m.is_multiple_of(p) {
                m /= p;
                power *= p as u128;
                sum += power;
            }
            sigma *= sum;
        }
        p += if p == 2 { 1 } else { 2 };
    }
    if m > 1 {
        sigma *= m as u128 + 1;
    }
    sigma
}

/// Whether n is perfect (σ(n) = 2n), by [`sigma_by_factoring`].
pub fn is_perfect(n: u64) -> bool {
    n >= 1 && sigma_by_factoring(n) == 2 * n as u128
}

/// Checks a worker's result for the chunk `[lo, hi]` (1 ≤ lo ≤ hi ≤
/// [`MAX_SUPPORTED`]): everything that can be checked without recomputing
/// the chunk. The cheap checks come first; the error says what is wrong in
/// one line.
pub fn check_result(lo: u64, hi: u64, r: &ChunkResult) -> Result<(), String> {
    if !(1 <= lo && lo <= hi && hi <= MAX_SUPPORTED) {
        return Err(format!(
            "[{lo}, {hi}] is not a chunk of [1, {MAX_SUPPORTED}]"
        ));
    }
    let len = hi - lo + 1;
    if r.perfect.len() > MAX_PERFECT {
        return Err(format!(
            "it claims {} perfect numbers; at most {MAX_PERFECT} exist up to {MAX_SUPPORTED}",
            r.perfect.len()
        ));
    }
    if r.count() != len as u128 {
        return Err(format!(
            "its counts add up to {} ({} abundant, {} deficient, {} perfect), \
             the chunk [{lo}, {hi}] has {len} numbers",
            r.count(),
            r.abundant,
            r.deficient,
            r.perfect.len()
        ));
    }
    if let Some(w) = r.perfect.windows(2).find(|w| w[0] >= w[1]) {
        return Err(format!(
            "its perfect numbers are not strictly ascending ({} then {})",
            w[0], w[1]
        ));
    }
    if let Some(n) = r.perfect.iter().find(|&&n| n < lo || n > hi) {
        return Err(format!("it claims {n} perfect, outside [{lo}, {hi}]"));
    }
    let (low, high) = sigma_sum_bounds(lo, hi, r);
    if r.sigma_sum < low || r.sigma_sum > high {
        return Err(format!(
            "its Σσ {} is outside [{low}, {high}], what its counts allow over [{lo}, {hi}]",
            r.sigma_sum
        ));
    }
    if let Some(n) = r.perfect.iter().find(|&&n| !is_perfect(n)) {
        return Err(format!(
            "it claims {n} perfect, but σ({n}) = {} (by factoring)",
            sigma_by_factoring(*n)
        ));
    }
    Ok(())
}

/// Σ n over `[a, b]` (empty when a > b).
fn sum_of(a: u64, b: u64) -> u128 {
    if a > b {
        return 0;
    }
    (a as u128 + b as u128) * (b - a + 1) as u128 / 2
}

/// Bounds on Σσ over `[lo, hi]` that every result with these counts and
/// these perfect numbers meets, whichever numbers are the abundant ones:
///
/// - below: σ(1) = 1 and σ(n) ≥ n + 1 for n ≥ 2; a perfect n adds n − 1 to
///   that, an abundant one (σ(n) ≥ 2n + 1) at least n, so the abundant are
///   put on the smallest numbers;
/// - above: σ(n) ≤ 2n unless n is abundant, and σ(n) < 7n always (up to
///   [`MAX_SUPPORTED`]), so the abundant are put on the largest numbers.
///
/// Counts already checked to add up to the chunk's length.
fn sigma_sum_bounds(lo: u64, hi: u64, r: &ChunkResult) -> (u128, u128) {
    let all = sum_of(lo, hi);
    let len = (hi - lo + 1) as u128;
    let a = r.abundant; // ≤ hi − lo + 1
    let perfect_extra: u128 = r.perfect.iter().map(|&n| n as u128 - 1).sum();
    // The a smallest and the a largest numbers of the chunk (empty if a = 0;
    // hi ≤ MAX_SUPPORTED, so hi + 1 fits).
    let smallest = sum_of(lo, lo + a - 1);
    let largest = sum_of(hi + 1 - a, hi);
    let low = all + len - (lo == 1) as u128 + perfect_extra + smallest;
    let high = 2 * all + (ABUNDANCY_BOUND - 2) * largest;
    (low, high)
}

/// One finished chunk as [`localise`] sees it: its range and the Σσ its
/// worker claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub lo: u64,
    pub hi: u64,
    pub sigma_sum: u128,
}

/// Σσ over prefixes of a run's finished chunks, from the identity, with
/// each S(x) = Σ_{k≤x} σ(k) evaluated at most once.
///
/// The chunks need not be contiguous (a resumed run, a quarantined range):
/// they are grouped into runs of contiguous chunks, and over a run Σσ
/// telescopes, S(hi) − S(start − 1). The prefix up to chunk k costs one new
/// evaluation plus two per earlier run the first time it is summed.
struct Identity<'a> {
    chunks: &'a [Claim],
    /// For each chunk, the index of the first chunk of its run.
    run_start: Vec<usize>,
    /// S(x) already evaluated.
    s: HashMap<u64, u128>,
    /// Σσ over the runs before the run starting at each run-start index.
    before_run: HashMap<usize, u128>,
}

impl<'a> Identity<'a> {
    fn new(chunks: &'a [Claim]) -> Identity<'a> {
        let mut run_start = Vec::with_capacity(chunks.len());
        for (i, c) in chunks.iter().enumerate() {
            let joined = i > 0 && chunks[i - 1].hi.checked_add(1) == Some(c.lo);
            run_start.push(if joined { run_start[i - 1] } else { i });
        }
        Identity {
            chunks,
            run_start,
            s: HashMap::new(),
            before_run: HashMap::from([(0, 0)]),
        }
    }

    fn s(&mut self, x: u64) -> u128 {
        *self.s.entry(x).or_insert_with(|| sigma_sum_upto(x))
    }

    /// Σσ over the runs before the run that starts at chunk `start`.
    fn before(&mut self, start: usize) -> u128 {
        if let Some(&v) = self.before_run.get(&start) {
            return v;
        }
        let prev_end = start - 1;
        let prev_start = self.run_start[prev_end];
        let v = self.before(prev_start) + self.run_sum(prev_start, prev_end);
        self.before_run.insert(start, v);
        v
    }

    /// Σσ over chunks `from..=to` of one run.
    fn run_sum(&mut self, from: usize, to: usize) -> u128 {
        let (lo, hi) = (self.chunks[from].lo, self.chunks[to].hi);
        self.s(hi) - self.s(lo - 1)
    }

    /// Σσ over chunks `0..=k`.
    fn prefix(&mut self, k: usize) -> u128 {
        let start = self.run_start[k];
        self.before(start) + self.run_sum(start, k)
    }

    /// How many S(x) have been evaluated.
    fn evaluations(&self) -> usize {
        self.s.len()
    }
}

/// The chunks whose claimed Σσ the identity refutes, by index, given a
/// run's finished chunks in ascending order (disjoint, within
/// [`MAX_SUPPORTED`], not necessarily contiguous).
///
/// Bisection over prefix sums: with the claims up to `lo` known to agree
/// and those up to `hi` not, the middle prefix tells which half holds a
/// chunk whose own Σσ is wrong. Each wrong chunk found is taken at the
/// identity's value and the search goes on past it while the total still
/// disagrees: O(log k) evaluations per wrong chunk found (plus two per gap
/// between chunks). Every chunk returned is wrong; errors that cancel out in
/// the total (Σσ moved from one chunk to another) are not seen here.
///
/// Err if the chunks are not ascending and disjoint.
pub fn localise(chunks: &[Claim]) -> Result<Vec<usize>, String> {
    localise_counting(chunks).map(|(bad, _)| bad)
}

/// [`localise`], with the number of identity evaluations it made.
fn localise_counting(chunks: &[Claim]) -> Result<(Vec<usize>, usize), String> {
    for (i, c) in chunks.iter().enumerate() {
        if !(1 <= c.lo && c.lo <= c.hi && c.hi <= MAX_SUPPORTED) {
            return Err(format!("chunk {i}, [{}, {}], is not a range", c.lo, c.hi));
        }
        if i > 0 && chunks[i - 1].hi >= c.lo {
            return Err(format!("chunk {i} does not come after chunk {}", i - 1));
        }
    }
    let mut identity = Identity::new(chunks);
    // The claims as corrected so far, summed: None past an overflow (a
    // forged Σσ), which agrees with no prefix.
    let mut claimed: Vec<u128> = chunks.iter().map(|c| c.sigma_sum).collect();
    let prefix_of = |claimed: &[u128]| -> Vec<Option<u128>> {
        claimed
            .iter()
            .scan(Some(0u128), |acc, &c| {
                *acc = acc.and_then(|a| a.checked_add(c));
                Some(*acc)
            })
            .collect()
    };
    let mut bad = Vec::new();
    // Claims up to `agreed` (exclusive) agree with the identity.
    let mut agreed = 0;
    while agreed < chunks.len() {
        let claimed_prefix = prefix_of(&claimed);
        let last = chunks.len() - 1;
        if claimed_prefix[last] == Some(identity.prefix(last)) {
            break;
        }
        // Invariant: prefix through lo − 1 agrees (or lo = agreed),
        // prefix through hi disagrees.
        let (mut lo, mut hi) = (agreed, last);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if claimed_prefix[mid] == Some(identity.prefix(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        bad.push(lo);
        let before = if lo == 0 { 0 } else { identity.prefix(lo - 1) };
        claimed[lo] = identity.prefix(lo) - before;
        agreed = lo + 1;
    }
    Ok((bad, identity.evaluations()))
}

/// Compares two results for the same chunk (replicated verification): Ok
/// if equal in every field, else what differs first, in one line.
pub fn compare(a: &ChunkResult, b: &ChunkResult) -> Result<(), String> {
    if a.perfect != b.perfect {
        return Err(format!(
            "perfect numbers differ: {:?} against {:?}",
            a.perfect, b.perfect
        ));
    }
    let fields = [
        ("abundant", a.abundant as u128, b.abundant as u128),
        ("deficient", a.deficient as u128, b.deficient as u128),
        ("Σσ", a.sigma_sum, b.sigma_sum),
    ];
    match fields.iter().find(|(_, x, y)| x != y) {
        Some((name, x, y)) => Err(format!("{name} differs: {x} against {y}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigma::{Kernel, sigma_naive, sigma_sum_range};

    #[test]
    fn sigma_by_factoring_agrees_with_trial_division() {
        for n in 1..=20_000u64 {
            assert_eq!(sigma_by_factoring(n), sigma_naive(n) as u128, "σ({n})");
        }
        for n in [
            999_999_999_989u64, // prime
            999_983 * 999_979,  // two primes near √n
            1 << 43,
            MAX_SUPPORTED,
        ] {
            assert_eq!(sigma_by_factoring(n), sigma_naive(n) as u128, "σ({n})");
        }
    }

    #[test]
    fn the_perfect_numbers_up_to_the_bound_are_confirmed() {
        for n in PERFECT {
            assert!(is_perfect(n), "{n}");
            assert!(!is_perfect(n + 1) && !is_perfect(n - 1), "{n} ± 1");
        }
        assert!(!is_perfect(1) && !is_perfect(0) && !is_perfect(12));
    }

    fn honest(lo: u64, hi: u64) -> ChunkResult {
        Kernel::new(hi).run(lo, hi, |_| {})
    }

    #[test]
    fn honest_results_pass() {
        for (lo, hi) in [
            (1, 1),
            (1, 2),
            (1, 10_000),
            (2, 100),
            (33_550_000, 33_560_000),
            (8_589_869_000, 8_589_870_000),
            (MAX_SUPPORTED - 5000, MAX_SUPPORTED),
        ] {
            let r = honest(lo, hi);
            assert_eq!(check_result(lo, hi, &r), Ok(()), "[{lo}, {hi}]");
        }
    }

    /// Each forgery of the issue, on a chunk that holds 8128.
    #[test]
    fn forged_results_are_refused() {
        let (lo, hi) = (8001, 9000);
        let r = honest(lo, hi);
        assert_eq!(r.perfect, vec![8128]);
        let forge = |f: &dyn Fn(&mut ChunkResult)| {
            let mut bad = r.clone();
            f(&mut bad);
            check_result(lo, hi, &bad).unwrap_err()
        };
        // Counts that do not add up, or only add up by wrapping.
        assert!(forge(&|b| b.deficient += 1).contains("add up to 1001"));
        assert!(
            forge(&|b| {
                b.abundant = u64::MAX;
                b.deficient += 1;
            })
            .contains("add up to")
        );
        // The perfect number hidden (counted as deficient): the counts add
        // up and Σσ is in bounds; this needs a second worker.
        let mut hidden = r.clone();
        hidden.perfect.clear();
        hidden.deficient += 1;
        assert_eq!(check_result(lo, hi, &hidden), Ok(()));
        // The chunk's first number claimed perfect.
        let e = forge(&|b| {
            b.perfect.insert(0, lo);
            b.deficient -= 1;
        });
        assert!(e.contains("8001") && e.contains("by factoring"), "{e}");
        // Outside the chunk, repeated, not ascending.
        assert!(
            forge(&|b| {
                b.perfect = vec![496];
            })
            .contains("outside")
        );
        assert!(
            forge(&|b| {
                b.perfect = vec![8128, 8128];
                b.deficient -= 1;
            })
            .contains("ascending")
        );
        // An absurd list is refused before any factoring.
        let e = forge(&|b| {
            b.perfect = (lo..lo + 100).collect();
            b.deficient -= 99;
        });
        assert!(e.contains("100 perfect"), "{e}");
        // Σσ out of every honest bound.
        assert!(forge(&|b| b.sigma_sum = u128::MAX).contains("Σσ"));
        assert!(forge(&|b| b.sigma_sum = 0).contains("Σσ"));
        assert!(forge(&|b| b.sigma_sum /= 2).contains("Σσ"));
        // Not a chunk at all.
        assert!(check_result(0, 5, &ChunkResult::default()).is_err());
        assert!(check_result(6, 5, &ChunkResult::default()).is_err());
    }

    /// The bounds hold for every honest chunk, whatever its place, and
    /// are met exactly where they should be.
    #[test]
    fn sigma_bounds_are_sound() {
        let mut kernel = Kernel::new(200_000);
        for lo in (1..200_000u64).step_by(9_973) {
            for len in [1u64, 2, 3, 17, 1000, 4096] {
                let hi = (lo + len - 1).min(200_000);
                let r = kernel.run(lo, hi, |_| {});
                let (low, high) = sigma_sum_bounds(lo, hi, &r);
                assert!(low <= r.sigma_sum && r.sigma_sum <= high, "[{lo}, {hi}]");
            }
        }
        // σ(1) = 1, σ(2) = 3: the lower bound is exact on [1, 2].
        let r = kernel.run(1, 2, |_| {});
        assert_eq!(sigma_sum_bounds(1, 2, &r).0, 4);
    }

    /// `n` chunks over [lo, ...) of `len` numbers each, every `gap`
    /// numbers left out between runs of `run` chunks, with honest Σσ.
    fn claims(lo: u64, n: usize, len: u64, run: usize, gap: u64) -> Vec<Claim> {
        let mut at = lo;
        (0..n)
            .map(|i| {
                if i > 0 && i % run == 0 {
                    at += gap;
                }
                let c = Claim {
                    lo: at,
                    hi: at + len - 1,
                    sigma_sum: sigma_sum_range(at, at + len - 1),
                };
                at += len;
                c
            })
            .collect()
    }

    #[test]
    fn honest_chunks_localise_to_nothing_with_one_evaluation() {
        let chunks = claims(1, 1000, 1 << 20, 1000, 0);
        let (bad, evaluations) = localise_counting(&chunks).unwrap();
        assert!(bad.is_empty());
        assert_eq!(evaluations, 2, "S(hi) and S(0)");
    }

    #[test]
    fn one_wrong_chunk_is_found_in_log_k_evaluations() {
        let k = 1024;
        for wrong in [0, 1, 511, 512, 1000, k - 1] {
            let mut chunks = claims(1_000_000_000, k, 1 << 20, k, 0);
            chunks[wrong].sigma_sum += 1;
            let (bad, evaluations) = localise_counting(&chunks).unwrap();
            assert_eq!(bad, vec![wrong]);
            assert!(evaluations <= 2 + 2 * 11, "{evaluations} evaluations");
        }
    }

    #[test]
    fn several_wrong_chunks_with_gaps_and_overflow_are_all_found() {
        // Runs of 50 chunks with gaps between them (a resumed run, a
        // quarantined range).
        let mut chunks = claims(10_000_000_000, 500, 100_000, 50, 12_345);
        chunks[3].sigma_sum -= 1_000_000_000_000;
        chunks[49].sigma_sum += 1;
        chunks[50].sigma_sum = u128::MAX;
        chunks[499].sigma_sum = 0;
        let (bad, evaluations) = localise_counting(&chunks).unwrap();
        assert_eq!(bad, vec![3, 49, 50, 499]);
        assert!(evaluations < 2 * 10 + 4 * 2 * 9, "{evaluations}");
    }

    #[test]
    fn sigma_moved_between_chunks_is_caught_only_in_between() {
        // +x in one chunk, −x in the next: the total agrees, nothing found.
        let mut chunks = claims(1_000_000, 100, 100_000, 100, 0);
        chunks[10].sigma_sum += 100_000_000_000;
        chunks[11].sigma_sum -= 100_000_000_000;
        assert_eq!(localise(&chunks).unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn chunks_out_of_order_are_refused() {
        let mut chunks = claims(1, 3, 10, 3, 0);
        chunks.swap(0, 1);
        assert!(localise(&chunks).is_err());
        assert_eq!(localise(&[]), Ok(vec![]));
    }

    #[test]
    fn compare_names_what_differs() {
        let a = honest(1, 10_000);
        assert_eq!(compare(&a, &a.clone()), Ok(()));
        let mut b = a.clone();
        b.abundant += 1000;
        b.deficient -= 1000;
        assert!(compare(&a, &b).unwrap_err().starts_with("abundant"));
        let mut c = a.clone();
        c.perfect.pop();
        assert!(compare(&a, &c).unwrap_err().starts_with("perfect"));
        let mut d = a.clone();
        d.sigma_sum += 1;
        assert!(compare(&a, &d).unwrap_err().starts_with("Σσ"));
    }
}
