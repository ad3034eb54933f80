//! The segmented (σ, reciprocal) sieve: for every n of a segment, the pair
//! (σ of the part of n factored so far, 1 / twice that part) in two f64,
//! struck by every prime up to √hi, then finished and classified.
//!
//! # The arithmetic, and why it is exact
//!
//! * A number starts as the product of its two pattern pairs (`pattern`):
//!   2, 3, 5 and 7 up to 2⁷, 3³, 5², 7¹. The power-of-two pattern holds
//!   1/2^(t+1) for 2^t, so every reciprocal is that of twice the factored
//!   part: the finishing pass needs 2n (to compare σ with) and not n too.
//! * A strike of the prime p at each of its multiples multiplies the pair by
//!   (1 + p, 1/p): one 2-wide multiply, no division, no integer state. The
//!   primes from [`T1`] up strike from p² on, not from the chunk's start
//!   (see below).
//! * A fix-up at each multiple of p^j (j ≥ 2, past what was applied) turns
//!   σ(p^(j−1)) into σ(p^j): σ ← round(σ · (1/σ(p^(j−1)))) · σ(p^j), and the
//!   reciprocal gets one more 1/p.
//! * The cofactor comes last: c = round(2n · reciprocal) is 1 or a single
//!   prime, and σ(n) = σ-so-far · (c + 1) when c > 1.
//!
//! The cofactor is a single prime, not struck. Every prime q of n below
//! √hi strikes n, except a prime p from [`T1`] up with n < p²: then
//! n = p·k with k < p, so p divides n once and is its largest prime, and
//! every other prime q of n strikes it, since n ≥ p·q > q². Such a p is
//! the cofactor; otherwise it is the one prime of n above √hi, if any (both
//! cannot be: that prime would divide k < p ≤ √hi). A multiple of p² is
//! never below p², so p's fix-ups always find its strike. Striking from p²
//! saves Σ p strikes over [1, N], about N / ln N, all of them in L2 or in
//! the buckets: 12% of the strikes from 1024 up over [1, 10^9]. The primes
//! below [`T1`] strike from the chunk's start (the grouped strikes need an
//! offset below p, and they would save almost nothing).
//!
//! Every σ-so-far is σ(d) for a divisor d of n, an integer below σ(n) <
//! 7·10^13 < 2^47 (Robin 1984: σ(n)/n < e^γ ln ln n + 0.6483/ln ln n for
//! n ≥ 3, 6.25 at 10^13), so a double holds it exactly and every product of
//! such integers below 2^53 is exact. A fix-up's quotient is an integer q <
//! 2^47 computed with a relative error below 2^−52 (one rounding of the
//! reciprocal, one of the product): off by less than 2^−5, so rounding gives
//! q exactly. The reciprocal of n's factored part has at most 27 odd prime
//! factors (3^27 > 10^13; powers of two, the 1/2 included, are exact),
//! each adding two roundings: relative error below 55·2^−53 < 10^−14, so
//! 2n · reciprocal is within 0.1 of the cofactor c ≤ 10^13 and rounds to
//! it. Rounding is (x + 2^52) − 2^52, exact for 0 ≤ x < 2^51 in
//! round-to-nearest. A strike by (1, 1), which `strike_groups` makes
//! instead of a branch, is exact and changes nothing.
//!
//! # Cache tiers
//!
//! Strikes and fix-ups (each with a step q = p or p^j) must reach a number
//! in an order that keeps every fix-up after the strikes of its prime; the
//! patterns are multiplied in first (they commute with everything else).
//! For each segment (2^14, 2^15 or 2^16 numbers by the size of L2, see
//! `cache`):
//!
//! 1. primes from [`T1`] to below [`T2`]: mid-block by mid-block ([`B2`]
//!    numbers, in L2; none with the limits of today);
//! 2. primes from [`T2`] to below the segment length: over the segment,
//!    those past their squares in groups of equal ⌊segment / p⌋ (a trip
//!    count the branch predictor sees repeat, and the one more strike by
//!    select: [`strike_counted`]), the others by a loop each;
//! 3. primes from the segment length up (at 10^13, 215 000 of the 227 000):
//!    from a bucket sieve (`Buckets`), each striking the segment at most
//!    once;
//! 4. fix-ups of the primes from [`T1`] up, in rising order of step (those
//!    with a step from the segment length up from a heap of their next
//!    multiples);
//! 5. then sub-block by sub-block (2^11 numbers, or 2^10 where L1 holds
//!    less than 32 KiB: see `cache`; in L1): the primes from
//!    11 to below [`T1`] (from [`T0`] up without a branch on the offsets,
//!    see [`strike_groups`]), the fix-ups of the primes below [`T1`] (2, 3, 5
//!    and 7 past the patterns included; in rising order of step, those
//!    from a sub-block to a segment long from lists filed once per
//!    segment, `MidHits`), the finishing pass (σ(n), compared
//!    with 2n, counted and summed, in vector lanes: see `simd`), and the
//!    start of the same sub-block of the next segment from the patterns.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;

use super::MAX_SUPPORTED;
use super::cache::{SMALL_SUB_BLOCK, SUB_BLOCK};
use super::pattern::{COVERED, Patterns, TWO_PERIOD};
use super::primes::odd_primes_upto;
use super::simd::Lanes;

/// A number's state: σ of its factored part, and the reciprocal of that part.
pub(super) type Pair = [f64; 2];

/// Steps below this are applied per sub-block: the primes below [`T0`] by
/// [`Strike::apply`], those from it by [`strike_groups`] (measured against
/// [`T0`] as the limit, the primes from 128 to 1023 per mid-block in L2:
/// 2% faster at [1, 10^9], 3% near 10^13; with 512 level, with 2048 1%
/// slower; docs/kernel.md).
const T1: u64 = 1 << 10;
/// Primes below this strike a sub-block often enough (16 times or more)
/// for a loop per prime; from it, [`strike_groups`] (from 64 measured 2%
/// slower).
const T0: u64 = 128;
/// Steps below this (and from [`T1`]) are applied per mid-block: none
/// with these limits (the mid tier, kept for tuning, is empty).
const T2: u64 = 1 << 10;
const _: () = assert!(T0 <= T1 && T1 <= T2 && T0 as usize * 16 >= SUB_BLOCK);
const _: () = assert!(SMALL_SUB_BLOCK.is_multiple_of(TWO_PERIOD as usize));
/// Numbers per mid-block: 2^13 pairs are 128 KiB (2^14 and 2^12 measured
/// 2–3% slower at [1, 10^9]).
const B2: usize = 1 << 13;
/// The buckets' primes from this up have their squares' fix-ups found by
/// their multiplier ([`Sieve::huge_squares`]); those below, by a division
/// each like the other primes' powers.
const SQUARES_BY_M: u32 = 1 << 16;

/// 2^52: (x + 2^52) − 2^52 is x rounded to the nearest integer for
/// 0 ≤ x < 2^51.
pub(super) const ROUND: f64 = 4_503_599_627_370_496.0;

/// `x` rounded to the nearest integer (0 ≤ x < 2^51).
#[inline(always)]
fn round(x: f64) -> f64 {
    (x + ROUND) - ROUND
}

/// The integer value of `x`, a whole number in [0, 2^51].
#[inline(always)]
fn to_u64(x: f64) -> u64 {
    (x + ROUND).to_bits() - ROUND.to_bits()
}

/// σ(n) from n's finished pair (every prime ≤ √hi applied), given 2n: the
/// cofactor c = n / factored part = 2n · reciprocal (the reciprocal is
/// that of twice the part) is 1 or a prime, contributing c + 1.
#[inline(always)]
pub(super) fn finish(twice: f64, [sig, rec]: Pair) -> f64 {
    let c = round(twice * rec);
    // A select, not a branch: whether c > 1 follows no pattern.
    sig * (c + std::hint::select_unpredictable(c > 1.5, 1.0, 0.0))
}

/// A prime below the segment length, struck at each of its multiples.
#[derive(Clone, Copy)]
struct Strike {
    /// (1 + p, 1/p).
    mul: Pair,
    /// p.
    step: u32,
    /// The next multiple's offset from the start of the next block.
    off: u32,
}

/// A fix-up at the multiples of q = p^j: σ(p^(j−1)) becomes σ(p^j).
#[derive(Clone, Copy)]
struct Fixup {
    /// 1 / σ(p^(j−1)).
    div: f64,
    /// σ(p^j).
    sig: f64,
    /// 1/p.
    rec: f64,
    /// p^j.
    step: u64,
    /// The next multiple: its offset from the start of the next block (tiers
    /// 1 to 3), or the multiple itself (the heap).
    off: u64,
}

/// A strike: `cell` multiplied by `m`, (1 + p, 1/p) for the prime p.
#[inline(always)]
fn strike(cell: &mut Pair, m: Pair) {
    *cell = [cell[0] * m[0], cell[1] * m[1]];
}

/// Strikes the four cells from `i`, `step` apart, by `m` (strikes unrolled
/// by four: 3% at most, docs/kernel.md).
#[inline(always)]
fn strike_four(cells: &mut [Pair], i: usize, step: usize, m: Pair) {
    for k in [i, i + step, i + 2 * step, i + 3 * step] {
        strike(&mut cells[k], m);
    }
}

impl Strike {
    /// Strikes `cells` (a block) at every multiple of p, four at a time
    /// while four fit.
    #[inline(always)]
    fn apply(&mut self, cells: &mut [Pair]) {
        let len = cells.len();
        let step = self.step as usize;
        let mut i = self.off as usize;
        while i + 3 * step < len {
            strike_four(cells, i, step, self.mul);
            i += 4 * step;
        }
        while i < len {
            strike(&mut cells[i], self.mul);
            i += step;
        }
        self.off = (i - len) as u32;
    }
}

/// Strikes a whole sub-block with `strikes`, primes p with ⌊B1 / p⌋ = K
/// each: K strikes without a branch (p·K ≤ B1 and the offset is below p),
/// then the one more multiple the sub-block may hold, struck by (1, 1)
/// (exact, no change) at the first multiple when it is past the end. No
/// branch depends on the offsets: one loop exit per group, not two per
/// prime.
#[inline(always)]
fn strike_group<const K: usize, const B1: usize>(strikes: &mut [Strike], cells: &mut [Pair; B1]) {
    for s in strikes {
        let step = s.step as usize;
        let m = s.mul;
        let i = s.off as usize;
        for j in 0..K {
            strike(&mut cells[(i + j * step) % B1], m);
        }
        strike_last(s, i + K * step, cells);
    }
}

/// The one more strike of `s` that `cells` may hold, at `at` (past the
/// strikes made, which started from `s.off`, below p): there when `at` is
/// inside, and by (1, 1) at `s.off` (exact, no change) when it is not;
/// then `s.off` for the next block. Selects, not branches: whether `at` is
/// inside follows the offsets, which no predictor learns (compiled without
/// AVX-512, a plain `if` became a branch, and the AVX2 and portable paths
/// took a third longer over these strikes).
#[inline(always)]
fn strike_last(s: &mut Strike, at: usize, cells: &mut [Pair]) {
    let len = cells.len();
    let inside = at < len;
    let k = std::hint::select_unpredictable(inside, at, s.off as usize);
    let mul = std::hint::select_unpredictable(inside, s.mul, [1.0, 1.0]);
    strike(&mut cells[k], mul);
    s.off = (at + inside as usize * s.step as usize - len) as u32;
}

/// Strikes a whole sub-block with `strikes` (the primes from [`T0`] to
/// [`T1`]), group by group of equal ⌊B1 / p⌋ (`groups`: end index, K).
/// Struck by a loop per prime and sub-block (`Strike::apply`), these
/// primes were slower than per mid-block in L2 (two loop exits to
/// mispredict per prime for 2 to 16 strikes); here the only branches are
/// the loop over a group and the choice of the group.
#[inline(always)]
fn strike_groups<const B1: usize>(
    strikes: &mut [Strike],
    groups: &[(usize, usize)],
    cells: &mut [Pair; B1],
) {
    let mut from = 0;
    for &(to, k) in groups {
        let g = &mut strikes[from..to];
        match k {
            1 => strike_group::<1, B1>(g, cells),
            2 => strike_group::<2, B1>(g, cells),
            3 => strike_group::<3, B1>(g, cells),
            4 => strike_group::<4, B1>(g, cells),
            5 => strike_group::<5, B1>(g, cells),
            6 => strike_group::<6, B1>(g, cells),
            7 => strike_group::<7, B1>(g, cells),
            8 => strike_group::<8, B1>(g, cells),
            9 => strike_group::<9, B1>(g, cells),
            10 => strike_group::<10, B1>(g, cells),
            11 => strike_group::<11, B1>(g, cells),
            12 => strike_group::<12, B1>(g, cells),
            13 => strike_group::<13, B1>(g, cells),
            14 => strike_group::<14, B1>(g, cells),
            15 => strike_group::<15, B1>(g, cells),
            16 => strike_group::<16, B1>(g, cells),
            _ => unreachable!("p from {T0}: at most {} multiples", B1 / T0 as usize),
        }
        from = to;
    }
}

/// Strikes `cells` with `strikes`, primes p with ⌊len / p⌋ = `count` and
/// an offset below p: `count` strikes each (a trip count the same for the
/// whole group, so its loop exits are predicted), then the one more the
/// cells may hold ([`strike_last`]).
#[inline(always)]
fn strike_counted(strikes: &mut [Strike], count: usize, cells: &mut [Pair]) {
    for s in strikes {
        let step = s.step as usize;
        let mut i = s.off as usize;
        for _ in 0..count / 4 {
            strike_four(cells, i, step, s.mul);
            i += 4 * step;
        }
        for _ in 0..count % 4 {
            strike(&mut cells[i], s.mul);
            i += step;
        }
        strike_last(s, i, cells);
    }
}

/// Fills `groups` with the runs of `strikes` (in rising order of p) of
/// equal ⌊len / p⌋: (end index among them, ⌊len / p⌋).
fn group_by_count(groups: &mut Vec<(usize, usize)>, strikes: &[Strike], len: usize) {
    groups.clear();
    for (j, s) in strikes.iter().enumerate() {
        let k = len / s.step as usize;
        match groups.last_mut() {
            Some(g) if g.1 == k => g.0 = j + 1,
            _ => groups.push((j + 1, k)),
        }
    }
}

/// Strikes `block` with `tier1` (the primes below [`T1`], those below
/// [`T0`] first, then `groups`) if it is a whole sub-block of `B1`
/// numbers; says whether it was.
#[inline(always)]
fn strike_whole<const B1: usize>(
    tier1: &mut [Strike],
    tier0: usize,
    groups: &[(usize, usize)],
    block: &mut [Pair],
) -> bool {
    let Ok(whole) = <&mut [Pair; B1]>::try_from(block) else {
        return false;
    };
    let (low, high) = tier1.split_at_mut(tier0);
    for s in low.iter_mut() {
        s.apply(whole);
    }
    strike_groups(high, groups, whole);
    true
}

impl Fixup {
    /// Fixes `cell` up from σ(p^(j−1)) to σ(p^j).
    #[inline(always)]
    fn fix(&self, cell: &mut Pair) {
        *cell = [round(cell[0] * self.div) * self.sig, cell[1] * self.rec];
    }

    /// Fixes `cells` (a block) up at every multiple of p^j.
    #[inline(always)]
    fn apply(&mut self, cells: &mut [Pair]) {
        let len = cells.len() as u64;
        let mut i = self.off;
        while i < len {
            self.fix(&mut cells[i as usize]);
            i += self.step;
        }
        self.off = i - len;
    }
}

/// Fix-ups whose step is at least a segment long (each strikes a segment at
/// most once): a heap of their next multiples.
#[derive(Default)]
struct SparseFixups {
    /// The fix-ups, `off` holding each one's next multiple.
    table: Vec<Fixup>,
    /// (next multiple, index in `table`): the index breaks ties in the
    /// order fix-ups were added, which puts p^j before p^(j+1).
    heap: BinaryHeap<Reverse<(u64, u32)>>,
}

impl SparseFixups {
    fn clear(&mut self) {
        self.table.clear();
        self.heap.clear();
    }

    /// Adds a fix-up whose first multiple in the chunk is `fixup.off`.
    fn push(&mut self, fixup: Fixup) {
        self.heap
            .push(Reverse((fixup.off, self.table.len() as u32)));
        self.table.push(fixup);
    }

    /// Applies every fix-up at a multiple below `end` to `cells` (the
    /// numbers from `lo`), up to the chunk's end `hi`.
    #[inline(always)]
    fn apply(&mut self, cells: &mut [Pair], lo: u64, end: u64, hi: u64) {
        // The next multiple replaces the top in place (one sift down, where
        // a pop and a push took two).
        while let Some(mut top) = self.heap.peek_mut() {
            let Reverse((at, k)) = *top;
            if at >= end {
                break;
            }
            let f = &self.table[k as usize];
            f.fix(&mut cells[(at - lo) as usize]);
            if at + f.step <= hi {
                *top = Reverse((at + f.step, k));
            } else {
                PeekMut::pop(top);
            }
        }
    }
}

/// The hits of the fix-ups of the primes below [`T1`] whose step is from a
/// sub-block to a segment long (2^11 to 2^15, 3^7 to 3^10, p² for p from
/// 47 to 255, …: about 80, with 0.02 hits a number), filed by sub-block
/// once per segment. Applied by a loop per fix-up and sub-block, as those
/// with shorter steps are, they cost more than all the strikes of 11 and
/// 13: most such loops found nothing to do.
struct MidHits {
    /// Sub-block b's hits, in the order the fix-ups were filed (so p^j
    /// before p^(j+1)): (offset in the segment, index of the fix-up).
    lists: Vec<Vec<(u32, u32)>>,
    /// log2 of the sub-block length.
    shift: u32,
}

impl MidHits {
    fn new(segment: usize, sub_block: usize) -> MidHits {
        MidHits {
            lists: vec![Vec::new(); segment.div_ceil(sub_block)],
            shift: sub_block.ilog2(),
        }
    }

    /// Files the hits of `fixups` in the first `len` numbers of the
    /// segment, and moves each to its next multiple.
    #[inline(always)]
    fn file(&mut self, fixups: &mut [Fixup], len: usize) {
        for (k, f) in fixups.iter_mut().enumerate() {
            let mut i = f.off;
            while i < len as u64 {
                self.lists[i as usize >> self.shift].push((i as u32, k as u32));
                i += f.step;
            }
            f.off = i - len as u64;
        }
    }

    /// Applies the hits filed for `block`, sub-block `b` of the segment,
    /// and empties its list.
    #[inline(always)]
    fn fix(&mut self, b: usize, block: &mut [Pair], fixups: &[Fixup]) {
        for &(i, k) in &self.lists[b] {
            fixups[k as usize].fix(&mut block[i as usize & ((1 << self.shift) - 1)]);
        }
        self.lists[b].clear();
    }
}

/// What a segment's finishing pass counted.
#[derive(Clone, Copy, Default)]
pub(super) struct Tally {
    /// How many n had σ(n) > 2n.
    pub abundant: u64,
    /// How many n had σ(n) = 2n.
    pub perfect: u64,
    /// Σσ(n) over the segment (below 2^17 · 7·10^13 < 2^64 for segments of
    /// up to 2^17 numbers).
    pub sum: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.abundant += other.abundant;
        self.perfect += other.perfect;
        self.sum += other.sum;
    }
}

/// The sieve's state for ranges up to `max`: the primes, the strikers of
/// the chunk being run, and one segment of pairs.
pub(super) struct Sieve {
    /// Numbers per segment.
    pub(super) segment: usize,
    /// Numbers per sub-block: [`SUB_BLOCK`] or [`SMALL_SUB_BLOCK`].
    pub(super) sub_block: usize,
    patterns: Patterns,
    /// The odd primes from 11 to below the segment length (and ≤ √max).
    strikes: Vec<Strike>,
    /// How many of `strikes` are below [`T1`], below [`T2`], and active
    /// (p² ≤ hi) for the chunk being run.
    tier1: usize,
    /// How many are below [`T0`]; the others below [`T1`] in groups of
    /// equal ⌊B1 / p⌋: (end index among them, ⌊B1 / p⌋).
    tier0: usize,
    groups: Vec<(usize, usize)>,
    /// The primes from [`T2`] in groups of equal ⌊segment / p⌋ (end index
    /// among them, the count).
    groups3: Vec<(usize, usize)>,
    tier2: usize,
    active: usize,
    /// The primes from the segment length up to √max; how many are active;
    /// how many of those are filed in the buckets already (the others
    /// start at p², past the segments sieved so far).
    huge_p: Vec<u32>,
    huge_active: usize,
    huge_filed: usize,
    /// Where those primes strike next, by segment (see [`Buckets`]).
    buckets: Buckets,
    /// The index in the chunk of the next segment to sieve.
    seg_index: usize,
    /// The chunk's fix-ups for the primes below [`T1`] (2, 3, 5, 7 past the
    /// patterns, and tier 1), applied sub-block by sub-block after tier 1:
    /// those with a step below a sub-block, those with a step below the
    /// segment length (from `mid_hits`), then the others.
    small_fix: Vec<Fixup>,
    mid_fix: Vec<Fixup>,
    mid_hits: MidHits,
    small_sparse: SparseFixups,
    /// The chunk's fix-ups for the larger primes, applied to the segment
    /// after their strikes: those with a step below the segment length,
    /// then the others.
    large_fix: Vec<Fixup>,
    large_sparse: SparseFixups,
    /// The segment's pairs: `cells[cells_at..][..segment]` (see
    /// [`segment_cells`]).
    cells: Vec<Pair>,
    cells_at: usize,
}

impl Sieve {
    /// A sieve for ranges up to `max` with segments of `segment` numbers (a
    /// multiple of [`B2`]) and sub-blocks of `sub_block` ([`SUB_BLOCK`] or
    /// [`SMALL_SUB_BLOCK`]).
    pub(super) fn new(max: u64, segment: usize, sub_block: usize) -> Sieve {
        assert!(matches!(sub_block, SUB_BLOCK | SMALL_SUB_BLOCK));
        assert!(segment.is_multiple_of(B2) && segment.is_multiple_of(sub_block));
        let primes: Vec<u32> = odd_primes_upto(max.isqrt())
            .into_iter()
            .filter(|&p| p > 7)
            .collect();
        let split = primes.partition_point(|&p| (p as usize) < segment);
        let strikes = primes[..split]
            .iter()
            .map(|&p| Strike {
                mul: [1.0 + p as f64, 1.0 / p as f64],
                step: p,
                off: 0,
            })
            .collect();
        let huge_p = primes[split..].to_vec();
        let (cells, cells_at) = segment_cells(segment);
        Sieve {
            segment,
            sub_block,
            patterns: Patterns::new(sub_block),
            strikes,
            tier1: 0,
            tier0: 0,
            groups: Vec::new(),
            groups3: Vec::new(),
            tier2: 0,
            active: 0,
            buckets: Buckets::new(max, segment, huge_p.len()),
            huge_p,
            huge_active: 0,
            huge_filed: 0,
            seg_index: 0,
            small_fix: Vec::new(),
            mid_fix: Vec::new(),
            mid_hits: MidHits::new(segment, sub_block),
            small_sparse: SparseFixups::default(),
            large_fix: Vec::new(),
            large_sparse: SparseFixups::default(),
            cells,
            cells_at,
        }
    }

    /// Prepares the strikers for the chunk `[lo, hi]`: the primes ≤ √hi
    /// with their first multiples ≥ lo, and every fix-up p^j ≤ hi that has a
    /// multiple in the chunk; and starts the first segment's pairs.
    /// Written once for every path (`simd` compiles it for each).
    #[inline(always)]
    pub(super) fn start(&mut self, lo: u64, hi: u64) {
        let squared_le = |p: u64| p * p <= hi;
        self.active = self.strikes.partition_point(|s| squared_le(s.step as u64));
        self.tier1 = self.strikes[..self.active].partition_point(|s| (s.step as u64) < T1);
        self.tier0 = self.strikes[..self.tier1].partition_point(|s| (s.step as u64) < T0);
        let tier1 = &self.strikes[self.tier0..self.tier1];
        group_by_count(&mut self.groups, tier1, self.sub_block);
        self.tier2 = self.strikes[..self.active].partition_point(|s| (s.step as u64) < T2);
        let tier3 = &self.strikes[self.tier2..self.active];
        group_by_count(&mut self.groups3, tier3, self.segment);
        for (k, s) in self.strikes[..self.active].iter_mut().enumerate() {
            let p = s.step as u64;
            // From T1 up, p starts at p² (see the top of this module; p² is
            // below 2^32, p being below the segment length).
            s.off = match p * p {
                square if k >= self.tier1 && square > lo => square - lo,
                _ => first_offset(lo, p),
            } as u32;
        }
        self.huge_active = self.huge_p.partition_point(|&p| squared_le(p as u64));
        self.buckets.clear();
        self.seg_index = 0;
        self.huge_filed = self.huge_p[..self.huge_active].partition_point(|&p| {
            let p = p as u64;
            p * p <= lo
        });
        self.file_huge(lo, hi);

        self.small_fix.clear();
        self.mid_fix.clear();
        self.small_sparse.clear();
        self.large_fix.clear();
        self.large_sparse.clear();
        let covered = COVERED.iter().map(|&(p, e)| (p, e + 1));
        let sieved = self.strikes[..self.active]
            .iter()
            .map(|s| (s.step as u64, 2));
        // With segments of 2^14 or 2^15, the buckets' primes below 2^16
        // take their powers' fix-ups here too: the squares, and with 2^14
        // the cubes of those to 21 529 (p³ ≤ 10^13; p⁴ > 10^13 from 2^14
        // up: `cache::SHORTEST`). The others' squares: `huge_squares`.
        let split = self.huge_p[..self.huge_active].partition_point(|&p| p < SQUARES_BY_M);
        let huge = self.huge_p[..split].iter().map(|&p| (p as u64, 2));
        let segment = self.segment as u64;
        for (p, first) in covered.chain(sieved).chain(huge) {
            // σ(p^(j−1)) and p^j, from j = first while p^j ≤ hi (no
            // division: a chunk's start takes this for every prime ≤ √hi).
            let mut q = p.pow(first - 1);
            let mut sig_prev = (0..first).map(|j| p.pow(j)).sum::<u64>();
            while let Some(next) = q.checked_mul(p).filter(|&next| next <= hi) {
                q = next;
                let sig = sig_prev + q;
                let at = lo + first_offset(lo, q);
                if at <= hi {
                    let fixup = Fixup {
                        div: 1.0 / sig_prev as f64,
                        sig: sig as f64,
                        rec: 1.0 / p as f64,
                        step: q,
                        off: at - lo,
                    };
                    match (p < T1, q < segment) {
                        (true, true) if q < self.sub_block as u64 => self.small_fix.push(fixup),
                        (true, true) => self.mid_fix.push(fixup),
                        (true, false) => self.small_sparse.push(Fixup { off: at, ..fixup }),
                        (false, true) => self.large_fix.push(fixup),
                        (false, false) => self.large_sparse.push(Fixup { off: at, ..fixup }),
                    }
                }
                sig_prev = sig;
            }
        }
        self.huge_squares(split, lo, hi);
        let first = (hi - lo).min(segment - 1) as usize + 1;
        for (k, block) in self.cells[self.cells_at..][..first]
            .chunks_mut(self.sub_block)
            .enumerate()
        {
            self.patterns.init(block, lo + (k * self.sub_block) as u64);
        }
    }

    /// Sieves the `len` numbers from `lo` (the chunk ends at `hi`), started
    /// already, and finishes them: counts into a [`Tally`], pushes the
    /// perfect ones to `perfect`, appends every σ(n) to `collect` if given,
    /// and starts the pairs of the next segment. Written once for every path
    /// (`simd` compiles it for each): plain loops the compiler vectorises.
    ///
    /// The larger primes go first, over the segment in L2; then sub-block by
    /// sub-block, in L1: the primes below [`T1`], their fix-ups, the
    /// finishing pass, and the next segment's start.
    #[inline(always)]
    pub(super) fn segment_body(
        &mut self,
        lanes: impl Lanes,
        lo: u64,
        len: usize,
        hi: u64,
        perfect: &mut Vec<u64>,
        mut collect: Option<&mut Vec<u64>>,
    ) -> Tally {
        let cells = &mut self.cells[self.cells_at..][..len];
        let strikes = &mut self.strikes[..self.active];
        let (tier1, rest) = strikes.split_at_mut(self.tier1);
        let (tier2, tier3) = rest.split_at_mut(self.tier2 - self.tier1);
        let end = lo + len as u64;

        for block in cells.chunks_mut(B2) {
            for s in tier2.iter_mut() {
                s.apply(block);
            }
        }
        // Those whose square is before the segment (their offset is then
        // below p) by groups of equal ⌊segment / p⌋, the others (p² in or
        // past the segment) by a loop each.
        let steady = if len == self.segment {
            tier3.partition_point(|s| (s.step as u64).pow(2) < lo)
        } else {
            0
        };
        let mut from = 0;
        for &(to, k) in &self.groups3 {
            let to = to.min(steady);
            if from >= to {
                break;
            }
            strike_counted(&mut tier3[from..to], k, cells);
            from = to;
        }
        for s in tier3[steady..].iter_mut() {
            s.apply(cells);
        }
        // The primes whose square is in this segment join the buckets there.
        while let Some(&p) = self.huge_p[..self.huge_active].get(self.huge_filed) {
            let square = p as u64 * p as u64;
            if square >= end {
                break;
            }
            let at = (self.seg_index as u64) << self.buckets.shift | (square - lo);
            self.buckets.push(at, p);
            self.huge_filed += 1;
        }
        self.buckets.strike(cells, self.seg_index);
        self.seg_index += 1;
        for f in self.large_fix.iter_mut() {
            f.apply(cells);
        }
        self.large_sparse.apply(cells, lo, end, hi);

        self.mid_hits.file(&mut self.mid_fix, len);

        let next = end <= hi;
        let mut total = Tally::default();
        let sub_block = self.sub_block;
        for (k, block) in cells.chunks_mut(sub_block).enumerate() {
            let block_lo = lo + (k * sub_block) as u64;
            let block_end = block_lo + block.len() as u64;
            let (tier0, groups) = (self.tier0, &self.groups);
            let whole = match sub_block {
                SUB_BLOCK => strike_whole::<SUB_BLOCK>(tier1, tier0, groups, block),
                _ => strike_whole::<SMALL_SUB_BLOCK>(tier1, tier0, groups, block),
            };
            if !whole {
                for s in tier1.iter_mut() {
                    s.apply(block);
                }
            }
            for f in self.small_fix.iter_mut() {
                f.apply(block);
            }
            self.mid_hits.fix(k, block, &self.mid_fix);
            self.small_sparse.apply(block, block_lo, block_end, hi);
            let start = (next && collect.is_none()).then(|| {
                self.patterns
                    .slices(block_lo + self.segment as u64, block.len())
            });
            let t = lanes.finish(block, block_lo, perfect, start);
            if let Some(out) = collect.as_deref_mut() {
                out.extend(
                    block
                        .iter()
                        .enumerate()
                        .map(|(i, &c)| to_u64(finish((2 * (block_lo + i as u64)) as f64, c))),
                );
                if next {
                    self.patterns.init(block, block_lo + self.segment as u64);
                }
            }
            total += t;
        }
        total
    }
}

impl Sieve {
    /// Files the primes from the segment length up that are past their
    /// squares at `lo` (`huge_p[..huge_filed]`) under their first multiples
    /// in `[lo, hi]`: at 10^13, 215 000 primes a chunk, whose offsets are
    /// found a batch at a time in vector lanes ([`offset_in_lanes`]).
    #[inline(always)]
    fn file_huge(&mut self, lo: u64, hi: u64) {
        const BATCH: usize = 64;
        let span = hi - lo;
        for primes in self.huge_p[..self.huge_filed].chunks(BATCH) {
            let mut offsets = [0u32; BATCH];
            for (at, &p) in offsets.iter_mut().zip(primes) {
                *at = offset_in_lanes(lo as f64, p);
            }
            for (&at, &p) in offsets.iter().zip(primes) {
                debug_assert_eq!(at, (p - (lo % p as u64) as u32) % p);
                if at as u64 <= span {
                    self.buckets.push(at as u64, p);
                }
            }
        }
    }

    /// The fix-ups of the squares of the active primes from 2^16 up
    /// (`huge_p[split..huge_active]`; those below, with segments of 2^14 or
    /// 2^15, take a division each in [`Sieve::start`]), those with a
    /// multiple in `[lo, hi]`. Instead of a division for each of up to
    /// 221 000 primes per chunk, for each m ≤ hi / 2^32 the primes with m·p²
    /// in the chunk are found by binary search (at 10^13, at most 2 328 m);
    /// each p is taken at its first such m. (The m up to hi / segment²,
    /// 37 252 with segments of 2^14, made chunks of 2^22 near 10^13 take
    /// 1.07–1.14 of the time with 2^16.) From 2^15 up p³ > 10^13: only p²
    /// has a fix-up.
    fn huge_squares(&mut self, split: usize, lo: u64, hi: u64) {
        const { assert!((1u64 << 48) > MAX_SUPPORTED) };
        const { assert!((SQUARES_BY_M as u64).pow(3) > MAX_SUPPORTED) };
        let huge = &self.huge_p[split..self.huge_active];
        let least = (SQUARES_BY_M as u64).pow(2);
        for m in (1..).take_while(|m| m * least <= hi) {
            let low = lo.div_ceil(m);
            let mut from = floor_sqrt(low);
            if from * from < low {
                from += 1;
            }
            let to = floor_sqrt(hi / m);
            // Mostly no whole number at all between the two roots: their
            // gap is about p · (hi − lo) / 2lo, under 1 for a chunk of 2^22
            // numbers near 10^13.
            if from > to {
                continue;
            }
            let i = huge.partition_point(|&p| (p as u64) < from);
            let j = huge.partition_point(|&p| (p as u64) <= to);
            for &p in &huge[i..j] {
                let p = p as u64;
                let q = p * p;
                let at = m * q;
                if at - q < lo {
                    self.large_sparse.push(Fixup {
                        div: 1.0 / (p + 1) as f64,
                        sig: (1 + p + q) as f64,
                        rec: 1.0 / p as f64,
                        step: q,
                        off: at,
                    });
                }
            }
        }
    }
}

/// [`first_offset`]`(lo, p)` for a prime p below 2^32, from `lo` already
/// a double: only conversions the vector lanes have, so a chunk's start
/// finds the offsets of the 215 000 primes from the segment length up at
/// 10^13 a batch at a time in them (docs/kernel.md).
#[inline(always)]
pub(super) fn offset_in_lanes(lo: f64, p: u32) -> u32 {
    debug_assert!(lo <= (1u64 << 44) as f64 && lo.fract() == 0.0);
    to_u64(offset_by_f64(lo, p as f64)) as u32
}

/// ⌊√x⌋ for x < 2^52, from the f64 square root (correctly rounded, so
/// within one of it) and a step each way; u64::isqrt took 11% of a chunk's
/// start near 10^13.
pub(super) fn floor_sqrt(x: u64) -> u64 {
    debug_assert!(x < 1 << 52);
    let mut r = (x as f64).sqrt() as u64;
    if r * r > x {
        r -= 1;
    } else if (r + 1) * (r + 1) <= x {
        r += 1;
    }
    debug_assert_eq!(r, x.isqrt());
    r
}

/// Bytes per huge page (x86-64 and aarch64 with 4 KiB pages).
const HUGE_PAGE: usize = 2 << 20;

/// Room for a segment of `segment` pairs starting at a huge-page boundary:
/// the pairs, and the index of the segment's first. The huge pages under
/// it are asked for (`simd::advise_huge_pages`): a strike of the larger
/// primes lands a page or more from the last, and with 4 KiB pages nearly
/// every one missed the first-level TLB (1 MiB is 256 such pages; with
/// huge pages, one). Measured at [1, 10^9]: 7% less time (docs/kernel.md).
/// Costs 1 MiB more of resident memory (the rest of the 2 MiB page) where
/// the system grants the advice, nothing where it does not.
fn segment_cells(segment: usize) -> (Vec<Pair>, usize) {
    const PER_PAGE: usize = HUGE_PAGE / size_of::<Pair>();
    let span = segment.next_multiple_of(PER_PAGE);
    let mut cells = vec![[0.0; 2]; span + PER_PAGE];
    let at = (cells.as_ptr() as usize).next_multiple_of(HUGE_PAGE) - cells.as_ptr() as usize;
    debug_assert!(at.is_multiple_of(size_of::<Pair>()));
    let at = at / size_of::<Pair>();
    super::simd::advise_huge_pages(&mut cells[at..at + span]);
    (cells, at)
}

/// The offset from `lo` of the first multiple of `q` at or after it
/// (1 ≤ lo, q ≤ 2^44), without a 64-bit division ([`offset_by_f64`]). A
/// chunk's start takes one for each prime below the segment length and
/// each power: by division, 0.2 ms a chunk of the supervisor's at 10^9
/// (docs/kernel.md). The primes from the segment length up take
/// [`offset_in_lanes`] instead.
pub(super) fn first_offset(lo: u64, q: u64) -> u64 {
    debug_assert!(lo <= 1 << 44 && (1..=1 << 44).contains(&q));
    let at = to_u64(offset_by_f64(lo as f64, q as f64));
    debug_assert_eq!(at, (q - lo % q) % q);
    at
}

/// [`first_offset`] in f64, for whole numbers 1 ≤ lo, q ≤ 2^44: the
/// quotient lo / q, below 2^44 with a relative error below 2^−53, is off
/// by less than 2^−9, so rounded to the nearest integer it is ⌊lo / q⌋ or
/// one more, and lo − t · q, exact in integers below 2^53, is lo mod q or
/// that less q; one correction, no branch.
#[inline(always)]
fn offset_by_f64(lo: f64, q: f64) -> f64 {
    const { assert!(MAX_SUPPORTED < 1 << 44) };
    let r = lo - round(lo / q) * q;
    let r = if r < 0.0 { r + q } else { r };
    if r == 0.0 { 0.0 } else { q - r }
}

/// The primes from the segment length up, each waiting in the bucket of the
/// segment it strikes next (a bucket sieve): a segment takes only the
/// primes that strike it (0.24 a number at 10^13, against 1.6 a number
/// for a pass over all of them), each strikes it once, and moves on to the
/// bucket of its next multiple, at most `√max / segment + 1` segments on.
///
/// A bucket is a chain of fixed-size blocks of one shared pool, so the
/// memory is the entries themselves (one per prime: 1.8 MB at 10^13) plus
/// at most a block per bucket; buckets of their own growing vectors each
/// grew to the size of the fullest (the next segment's), 10 MB at 10^13.
/// Filing an entry is a store and a count (`tail`) in the fast path: a
/// block of its own per bucket (a vector each, found through the bucket's
/// list of blocks) cost 7% more time at 10^13. The chains, and the free
/// blocks, are linked through `next`, so filing never calls anything (a
/// vector of blocks per bucket could grow, and the loop kept its state on
/// the stack around that call).
struct Buckets {
    /// Bucket k % len holds the primes that strike segment k of the chunk,
    /// in the chain of blocks from `head[k % len]` ([`NONE`]: empty); only
    /// its last block may be partly filled.
    head: Vec<u32>,
    /// Where bucket k % len files its next entry in `pool`: 0 when it has
    /// no block, a multiple of [`BLOCK`] when its last block is full (that
    /// block is then `tail / BLOCK − 1`; otherwise `tail / BLOCK`).
    tail: Vec<usize>,
    /// The block after each block in its chain, or in the free list.
    next: Vec<u32>,
    /// The blocks, [`BLOCK`] entries each (block `id` at `id * BLOCK`):
    /// the offset in the segment, and p in the high half ([`unpack`]), one
    /// store each. Never reallocated: it holds as many blocks as can be in
    /// use at once.
    pool: Vec<u64>,
    /// The first block of the free list.
    free: u32,
    /// log2 of the segment length.
    shift: u32,
}

/// Entries per bucket block (8 KiB).
const BLOCK: usize = 1024;
/// No block: the end of a chain.
const NONE: u32 = u32::MAX;

impl Buckets {
    /// Buckets for ranges up to `max`, with `primes` of them at most.
    fn new(max: u64, segment: usize, primes: usize) -> Buckets {
        let ahead = (max.isqrt() as usize / segment + 2).next_power_of_two();
        // While a bucket is struck, its entries are in its blocks and again
        // in those they are filed to: twice the full blocks, and a partly
        // filled one per bucket twice.
        let blocks = 2 * (primes / BLOCK + ahead) + 1;
        Buckets {
            head: vec![NONE; ahead],
            tail: vec![0; ahead],
            next: (1..=blocks as u32)
                .map(|id| if id as usize == blocks { NONE } else { id })
                .collect(),
            // Zeroed by the allocator: only the blocks used are touched.
            pool: vec![0; blocks * BLOCK],
            free: 0,
            shift: segment.trailing_zeros(),
        }
    }

    fn clear(&mut self) {
        for slot in 0..self.head.len() {
            let (first, tail) = (self.head[slot], self.tail[slot]);
            self.parts().release(first, tail);
            self.head[slot] = NONE;
            self.tail[slot] = 0;
        }
    }

    /// The buckets' fields as separate borrows, so that a loop that files
    /// keeps them in registers (through `&mut self`, every store to the
    /// pool made the compiler load them again).
    #[inline(always)]
    fn parts(&mut self) -> Parts<'_> {
        Parts {
            head: &mut self.head,
            tail: &mut self.tail,
            next: &mut self.next,
            pool: &mut self.pool,
            free: &mut self.free,
        }
    }

    /// Files p under its next multiple, `at` from the chunk's start.
    #[inline(always)]
    fn push(&mut self, at: u64, p: u32) {
        let slot = (at >> self.shift) as usize & (self.head.len() - 1);
        let off = at as u32 & ((1 << self.shift) - 1);
        self.parts().file(slot, (off, p));
    }

    /// Strikes `cells`, segment `index` of the chunk, with the primes in its
    /// bucket, and files each under its next multiple (never this bucket:
    /// p is at least a segment long). Offsets past the end of a short last
    /// segment are past the chunk: left alone.
    #[inline(always)]
    fn strike(&mut self, cells: &mut [Pair], index: usize) {
        let mask = self.head.len() - 1;
        let shift = self.shift;
        let seg = 1u32 << shift;
        let slot = index & mask;
        let first = std::mem::replace(&mut self.head[slot], NONE);
        let last = std::mem::take(&mut self.tail[slot]);
        let mut parts = self.parts();
        let mut id = first;
        while id != NONE {
            let from = id as usize * BLOCK;
            // Read before the entries are filed: never changed by them.
            let after = parts.next[id as usize];
            let to = if after == NONE { last } else { from + BLOCK };
            for j in from..to {
                let (off, p) = unpack(parts.pool[j]);
                if let Some(c) = cells.get_mut(off as usize) {
                    let p = p as f64;
                    strike(c, [1.0 + p, 1.0 / p]);
                }
                let next = off + p; // below 2^32: p < 2^22, off < 2^16
                let slot = (index + (next >> shift) as usize) & mask;
                parts.file(slot, (next & (seg - 1), p));
            }
            id = after;
        }
        // Freed only now: the entries filed above never reuse a block of
        // the bucket being read.
        parts.release(first, last);
    }
}

/// The fields of [`Buckets`] that filing changes, borrowed apart.
struct Parts<'a> {
    head: &'a mut [u32],
    tail: &'a mut [usize],
    next: &'a mut [u32],
    pool: &'a mut [u64],
    free: &'a mut u32,
}

impl Parts<'_> {
    /// Adds `entry` (offset, p) to bucket `slot`.
    #[inline(always)]
    fn file(&mut self, slot: usize, entry: (u32, u32)) {
        let mut at = self.tail[slot];
        if at.is_multiple_of(BLOCK) {
            let id = *self.free;
            assert!(id != NONE, "the pool holds every block in use");
            *self.free = self.next[id as usize];
            self.next[id as usize] = NONE;
            match at {
                0 => self.head[slot] = id,
                _ => self.next[at / BLOCK - 1] = id,
            }
            at = id as usize * BLOCK;
        }
        self.pool[at] = entry.0 as u64 | (entry.1 as u64) << 32;
        self.tail[slot] = at + 1;
    }

    /// Puts the chain from block `first` whose bucket's tail was `tail`
    /// back on the free list (nothing if the bucket had no block).
    #[inline(always)]
    fn release(&mut self, first: u32, tail: usize) {
        if first != NONE {
            self.next[(tail - 1) / BLOCK] = *self.free;
            *self.free = first;
        }
    }
}

/// A bucket entry's (offset, p).
#[inline(always)]
fn unpack(entry: u64) -> (u32, u32) {
    (entry as u32, (entry >> 32) as u32)
}

/// The patterns that start a block of the next segment as the finishing
/// pass goes (see `Patterns::slices`).
pub(super) type Start<'a> = (&'a [Pair], &'a [Pair], usize);

/// The finishing pass over a block: the [`Tally`] of the finished `cells`
/// (the numbers from `lo`), the perfect ones pushed to `perfect`; then, with
/// `start`, the cells start the next segment's numbers. The portable path;
/// `simd` has the same in vector lanes, with the start fused in.
#[inline(always)]
pub(super) fn finish_block(
    cells: &mut [Pair],
    lo: u64,
    perfect: &mut Vec<u64>,
    start: Option<Start<'_>>,
) -> Tally {
    let t = tally(cells, lo);
    if t.perfect > 0 {
        push_perfect(cells, lo, perfect);
    }
    if let Some((odd, two, from)) = start {
        for (i, (c, a)) in cells.iter_mut().zip(odd).enumerate() {
            let b = two[(from + i) % TWO_PERIOD as usize];
            *c = [a[0] * b[0], a[1] * b[1]];
        }
    }
    t
}

/// Pushes the perfect numbers among the finished `cells` (the numbers from
/// `lo`) to `perfect`.
#[inline(always)]
fn push_perfect(cells: &[Pair], lo: u64, perfect: &mut Vec<u64>) {
    for (i, &c) in cells.iter().enumerate() {
        let n = lo + i as u64;
        let twice = (2 * n) as f64;
        if finish(twice, c) == twice {
            perfect.push(n);
        }
    }
}

/// Counts the abundant and perfect numbers among the finished `cells` (the
/// numbers from `lo`) and sums their σ, eight lanes at a time.
#[inline(always)]
pub(super) fn tally(cells: &[Pair], lo: u64) -> Tally {
    const LANES: usize = 8;
    let mut abundant = [0u64; LANES];
    let mut perfect = [0u64; LANES];
    let mut sum = [0u64; LANES];
    let mut n = [0f64; LANES];
    for (l, n) in n.iter_mut().enumerate() {
        *n = (lo + l as u64) as f64;
    }
    let mut groups = cells.chunks_exact(LANES);
    for group in &mut groups {
        for l in 0..LANES {
            let twice = n[l] + n[l];
            let s = finish(twice, group[l]);
            abundant[l] += (s > twice) as u64;
            perfect[l] += (s == twice) as u64;
            sum[l] += to_u64(s);
            n[l] += LANES as f64;
        }
    }
    for (l, &c) in groups.remainder().iter().enumerate() {
        let twice = n[l] + n[l];
        let s = finish(twice, c);
        abundant[l] += (s > twice) as u64;
        perfect[l] += (s == twice) as u64;
        sum[l] += to_u64(s);
    }
    Tally {
        abundant: abundant.iter().sum(),
        perfect: perfect.iter().sum(),
        sum: sum.iter().sum(),
    }
}
