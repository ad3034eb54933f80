//! Which vector instructions the kernel's loops run with, chosen once per
//! process, and the only `unsafe` code of the kernel: the calls into those
//! loops compiled for AVX2 + FMA or for AVX-512.
//!
//! The loops are written once, as plain Rust the compiler vectorises
//! (`Sieve::segment_body`, `Sieve::start` and everything they inline),
//! except the finishing passes' groups. This module has them
//! compiled three times: for the baseline of the target (SSE2 on x86-64,
//! NEON on aarch64: the portable "scalar" path), for AVX2 + FMA (4 lanes of
//! f64) and for AVX-512 (8 lanes), and calls the best the CPU has. The same
//! binary runs on every x86-64.
//!
//! `SUPERVISOR_KERNEL_PATH=scalar|avx2|avx512` caps the choice, so the tests
//! (and CI) can run every path the machine has; an unknown value is ignored.

use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
use super::pattern::TWO_PERIOD;
use super::sieve::{self, Pair, Sieve, Start, Tally};

/// The environment variable that caps the path.
pub const PATH_VAR: &str = "SUPERVISOR_KERNEL_PATH";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Isa {
    Scalar,
    Avx2,
    Avx512,
}

/// One way to run the kernel's loops. A `Path` other than the scalar one
/// exists only once the CPU has been seen to support it: that is what makes
/// the calls below sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path(Isa);

impl Path {
    /// The path's name, as `SUPERVISOR_KERNEL_PATH` spells it.
    pub fn name(self) -> &'static str {
        match self.0 {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Every path this process may use, slowest first: those the CPU
    /// supports, up to the cap of `SUPERVISOR_KERNEL_PATH`.
    pub fn available() -> &'static [Path] {
        static PATHS: OnceLock<Vec<Path>> = OnceLock::new();
        PATHS.get_or_init(|| {
            let cap = match std::env::var(PATH_VAR).as_deref() {
                Ok("scalar") => Isa::Scalar,
                Ok("avx2") => Isa::Avx2,
                _ => Isa::Avx512,
            };
            let best = detected().min(cap);
            [Isa::Scalar, Isa::Avx2, Isa::Avx512]
                .into_iter()
                .filter(|&isa| isa <= best)
                .map(Path)
                .collect()
        })
    }

    /// The path the kernel uses: the best of [`Path::available`].
    pub fn chosen() -> Path {
        *Path::available()
            .last()
            .expect("the scalar path is always there")
    }
}

/// The best instruction set this CPU supports.
fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("popcnt");
        if avx2
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("popcnt")
        {
            return Isa::Avx512;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    Isa::Scalar
}

/// Sieves and finishes one segment (see `Sieve::segment_body`) on `path`.
pub(super) fn segment(
    path: Path,
    sieve: &mut Sieve,
    lo: u64,
    len: usize,
    hi: u64,
    perfect: &mut Vec<u64>,
    collect: Option<&mut Vec<u64>>,
) -> Tally {
    match path.0 {
        Isa::Scalar => sieve.segment_body(Portable, lo, len, hi, perfect, collect),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a Path holding Isa::Avx2 or Isa::Avx512 is only made by
        // `Path::available`, after `detected` saw AVX2, FMA and POPCNT (and,
        // for Isa::Avx512, AVX-512 F, DQ, VL and BW) on this CPU, so the
        // instructions `avx2` may use exist here.
        Isa::Avx2 => unsafe { avx2(sieve, lo, len, hi, perfect, collect) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above: Isa::Avx512 exists only after `detected` saw
        // AVX-512 F, DQ, VL, BW, POPCNT, AVX2 and FMA on this CPU.
        Isa::Avx512 => unsafe { avx512(sieve, lo, len, hi, perfect, collect) },
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Avx2 | Isa::Avx512 => unreachable!("no x86 path off x86-64"),
    }
}

/// Starts the chunk `[lo, hi]` (see `Sieve::start`) on `path`: its loops
/// over the primes run in the path's vector lanes, as the segments' do.
pub(super) fn start(path: Path, sieve: &mut Sieve, lo: u64, hi: u64) {
    match path.0 {
        Isa::Scalar => sieve.start(lo, hi),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `segment`: Isa::Avx2 exists only after `detected`
        // saw AVX2, FMA and POPCNT on this CPU.
        Isa::Avx2 => unsafe { start_avx2(sieve, lo, hi) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `segment`: Isa::Avx512 exists only after `detected`
        // saw AVX-512 F, DQ, VL, BW, POPCNT, AVX2 and FMA on this CPU.
        Isa::Avx512 => unsafe { start_avx512(sieve, lo, hi) },
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Avx2 | Isa::Avx512 => unreachable!("no x86 path off x86-64"),
    }
}

/// `Sieve::start` compiled for AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,popcnt")]
fn start_avx2(sieve: &mut Sieve, lo: u64, hi: u64) {
    sieve.start(lo, hi)
}

/// `Sieve::start` compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,popcnt")]
fn start_avx512(sieve: &mut Sieve, lo: u64, hi: u64) {
    sieve.start(lo, hi)
}

/// `Sieve::segment_body` compiled for AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,popcnt")]
fn avx2(
    sieve: &mut Sieve,
    lo: u64,
    len: usize,
    hi: u64,
    perfect: &mut Vec<u64>,
    collect: Option<&mut Vec<u64>>,
) -> Tally {
    sieve.segment_body(Avx2(()), lo, len, hi, perfect, collect)
}

/// `Sieve::segment_body` compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,popcnt")]
fn avx512(
    sieve: &mut Sieve,
    lo: u64,
    len: usize,
    hi: u64,
    perfect: &mut Vec<u64>,
    collect: Option<&mut Vec<u64>>,
) -> Tally {
    sieve.segment_body(Avx512(()), lo, len, hi, perfect, collect)
}

/// The finishing pass of one instruction set: `sieve::finish_block`.
pub(super) trait Lanes: Copy {
    /// The [`Tally`] of the finished `cells` (the numbers from `lo`), the
    /// perfect ones pushed to `perfect`; with `start`, the cells start the
    /// next segment's numbers as the pass goes.
    fn finish(
        self,
        cells: &mut [Pair],
        lo: u64,
        perfect: &mut Vec<u64>,
        start: Option<Start<'_>>,
    ) -> Tally;
}

/// The portable finishing pass: plain Rust.
#[derive(Clone, Copy)]
pub(super) struct Portable;

impl Lanes for Portable {
    #[inline(always)]
    fn finish(
        self,
        cells: &mut [Pair],
        lo: u64,
        perfect: &mut Vec<u64>,
        start: Option<Start<'_>>,
    ) -> Tally {
        sieve::finish_block(cells, lo, perfect, start)
    }
}

/// The AVX2 finishing pass, 4 lanes. A token: made only inside `avx2`,
/// which runs only where `detected` saw AVX2, FMA and POPCNT.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx2 {
    #[inline(always)]
    fn finish(
        self,
        cells: &mut [Pair],
        lo: u64,
        perfect: &mut Vec<u64>,
        start: Option<Start<'_>>,
    ) -> Tally {
        // SAFETY: an Avx2 token exists only inside `avx2`, which is called
        // only on a CPU with AVX2, FMA and POPCNT (see `segment`).
        unsafe { finish_avx2(cells, lo, perfect, start) }
    }
}

/// The AVX-512 finishing pass, 8 lanes. A token: made only inside
/// `avx512`, which runs only where `detected` saw AVX-512.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Avx512(());

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx512 {
    #[inline(always)]
    fn finish(
        self,
        cells: &mut [Pair],
        lo: u64,
        perfect: &mut Vec<u64>,
        start: Option<Start<'_>>,
    ) -> Tally {
        // SAFETY: an Avx512 token exists only inside `avx512`, which is
        // called only on a CPU with AVX-512 F, DQ, VL, BW and POPCNT (see
        // `segment`).
        unsafe { finish_avx512(cells, lo, perfect, start) }
    }
}

/// Groups of 8 numbers per flush of the f64 sums in `finish_avx512`: 64
/// values of σ < 6.25·10^13 per lane stay below 4·10^15 < 2^52, whole
/// numbers, so the f64 sums are exact.
#[cfg(target_arch = "x86_64")]
const FLUSH: usize = 64;

/// Groups of 4 numbers per flush of the f64 sums of σ − 2n in
/// `groups_avx2`: −2n < σ − 2n < 4.25n up to 10^13 (σ(n) < 6.25n there),
/// so 32 values per lane stay below 1.4·10^15 < 2^51 in size, whole
/// numbers, and the f64 sums are exact, as is their conversion by adding
/// [`D_ROUND`].
#[cfg(target_arch = "x86_64")]
const D_FLUSH: usize = 32;

/// 2^52 + 2^51: x + D_ROUND lies in [2^52, 2^53), where doubles are the
/// whole numbers, for whole x with |x| < 2^51, so its bits less D_ROUND's
/// are x in two's complement.
#[cfg(target_arch = "x86_64")]
const D_ROUND: f64 = 6_755_399_441_055_744.0;

/// `sieve::finish_block` in 4 lanes of AVX2: the same values (c =
/// round(2n · r), here with one rounding by FMA; σ − 2n = s · σ(c) − 2n,
/// one FMA of exact integers below 2^53), so the same exact results, with
/// the next segment's start fused in. Only 2n runs along the lanes, not n
/// too (see `sieve::finish`): with the FMA, 3% less time at [1, 3·10^8]
/// on AVX-512 (docs/kernel.md).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,popcnt")]
fn finish_avx2(
    cells: &mut [Pair],
    lo: u64,
    perfect: &mut Vec<u64>,
    start: Option<Start<'_>>,
) -> Tally {
    in_groups(
        cells,
        lo,
        perfect,
        start,
        8,
        |head, perfect, start| match start {
            Some((odd, two, from)) => groups_avx2::<true>(head, lo, perfect, odd, two, from),
            None => groups_avx2::<false>(head, lo, perfect, &[], &[], 0),
        },
    )
}

/// A vector finishing pass: `groups` over the first `cells` (a multiple of
/// `lanes` of them, with the next start when there is one), the portable
/// pass over the few left.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn in_groups<'a>(
    cells: &mut [Pair],
    lo: u64,
    perfect: &mut Vec<u64>,
    start: Option<Start<'a>>,
    lanes: usize,
    groups: impl FnOnce(&mut [Pair], &mut Vec<u64>, Option<Start<'a>>) -> Tally,
) -> Tally {
    let full = cells.len() / lanes * lanes;
    let (head, tail) = cells.split_at_mut(full);
    let rest_start =
        start.map(|(odd, two, from)| (&odd[full..], two, (from + full) % TWO_PERIOD as usize));
    let mut t = groups(head, perfect, start);
    t += sieve::finish_block(tail, lo + full as u64, perfect, rest_start);
    t
}

/// The groups of 4 of `finish_avx2`, two a step (`cells.len()` a multiple
/// of 8), as `groups_avx512` does them in 8: one count and one test for
/// σ = 2n for both groups (at [1, 10^9], 0.981 and 0.967 of the time with
/// one group a step, 15 rounds each). AVX2 has no mask registers, and its
/// vector ports are this pass's limit, so it computes d = σ − 2n and not σ:
///
/// - σ(c), 1 for c = 1 and c + 1 for a prime, is min(c + 1, 3c − 2), and
///   d = s · σ(c) − 2n is one FMA: no compare and no AND to pick s · c + s
///   or s, and no subtraction after;
/// - the sign bits of d, in the high halves of its lanes, count the
///   deficient: one shuffle brings the 8 of both groups together, one
///   movemask;
/// - d = 0 (a whole number, +0 when it is 0) exactly where the high half
///   is 0: one compare and movemask test both groups for σ = 2n;
/// - the lanes sum d, and Σσ = Σ 2n + Σ d.
///
/// The abundant are the rest. At [1, 10^9], 0.975 and 0.978 of the time of
/// σ = s · c + s or s, a subtraction for d, and the test by d₀ · d₁ (9 and
/// 11 rounds; docs/kernel.md, the eighth round).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,popcnt")]
fn groups_avx2<const START: bool>(
    cells: &mut [Pair],
    lo: u64,
    perfect: &mut Vec<u64>,
    odd: &[Pair],
    two: &[Pair],
    from: usize,
) -> Tally {
    use std::arch::x86_64::*;
    let len = cells.len();
    assert!(len.is_multiple_of(8));
    if START {
        let period = TWO_PERIOD as usize;
        assert!(odd.len() >= len && from < period && two.len() >= 2 * period);
    }
    let round = _mm256_set1_pd(sieve::ROUND);
    // 2^52 − 1, exact.
    let round_less_one = _mm256_set1_pd(sieve::ROUND - 1.0);
    let signed = _mm256_set1_pd(D_ROUND);
    let three = _mm256_set1_pd(3.0);
    // −(3 · 2^52 + 2), even and below 2^54 in size: exact.
    let three_rounds_and_two = _mm256_set1_pd(-3.0 * sieve::ROUND - 2.0);
    let eight = _mm256_set1_pd(8.0);
    let sixteen = _mm256_set1_pd(16.0);
    // unpacklo/unpackhi of (s0 r0 s1 r1), (s2 r2 s3 r3) give the lanes in
    // the order 0, 2, 1, 3; the pass carries −2n.
    let base = -2.0 * lo as f64;
    let mut minus_twice = _mm256_set_pd(base - 6.0, base - 2.0, base - 4.0, base);
    let mut deficient = 0u64;
    let mut hits = Hits::default();
    let mut sums = _mm256_setzero_si256();
    let c = cells.as_mut_ptr().cast::<f64>();
    let o = odd.as_ptr().cast::<f64>();
    let w = two.as_ptr().cast::<f64>().wrapping_add(2 * from);
    let mut i = 0;
    while i < len {
        let stop = len.min(i + 4 * D_FLUSH);
        let mut acc = _mm256_setzero_pd();
        while i < stop {
            // σ − 2n of the 4 numbers from `at`, given their −2n.
            let four = |at: usize, minus_twice: __m256d| {
                // SAFETY: at + 4 <= len (len is a multiple of 8 and at is
                // i or i + 4): cells at..at + 4 are 8 contiguous f64, two
                // unaligned loads of 4.
                let (a, b) = unsafe {
                    (
                        _mm256_loadu_pd(c.add(2 * at)),
                        _mm256_loadu_pd(c.add(2 * at + 4)),
                    )
                };
                let s = _mm256_unpacklo_pd(a, b);
                let r = _mm256_unpackhi_pd(a, b);
                // 2^52 + c, one rounding of 2n · r + 2^52.
                let x = _mm256_fnmadd_pd(minus_twice, r, round);
                // c + 1 and 3c − 2, exact; their minimum is σ(c).
                let sigma_c = _mm256_min_pd(
                    _mm256_sub_pd(x, round_less_one),
                    _mm256_fmadd_pd(x, three, three_rounds_and_two),
                );
                // s · σ(c) − 2n: one rounding of an exact integer.
                _mm256_fmadd_pd(s, sigma_c, minus_twice)
            };
            let d0 = four(i, minus_twice);
            let d1 = four(i + 4, _mm256_sub_pd(minus_twice, eight));
            // The high halves of the lanes of d₀ and d₁, the 8 together
            // (numbers 0, 2, 4, 6, 1, 3, 5 and 7 from i).
            let high =
                _mm256_shuffle_ps::<0b11_01_11_01>(_mm256_castpd_ps(d0), _mm256_castpd_ps(d1));
            deficient += (_mm256_movemask_ps(high) as u32).count_ones() as u64;
            let zero = _mm256_cmpeq_epi32(_mm256_castps_si256(high), _mm256_setzero_si256());
            let zero = _mm256_movemask_ps(_mm256_castsi256_ps(zero)) as u32;
            if zero != 0 {
                hits.note(i, zero);
            }
            acc = _mm256_add_pd(acc, _mm256_add_pd(d0, d1));
            if START {
                let k = 2 * (i % TWO_PERIOD as usize);
                // SAFETY: odd.len() >= len >= i + 8 and the two pattern
                // holds 2 periods with from < 128 and i mod 128 <= 120, so
                // pairs from + (i mod 128) .. + 8 are inside it (asserted
                // above): 16 f64 each, four loads of 4; the cells as above.
                unsafe {
                    let (oi, wk) = (o.add(2 * i), w.add(k));
                    for q in [0, 4, 8, 12] {
                        _mm256_storeu_pd(
                            c.add(2 * i + q),
                            _mm256_mul_pd(_mm256_loadu_pd(oi.add(q)), _mm256_loadu_pd(wk.add(q))),
                        );
                    }
                }
            }
            minus_twice = _mm256_sub_pd(minus_twice, sixteen);
            i += 8;
        }
        let whole = _mm256_sub_epi64(
            _mm256_castpd_si256(_mm256_add_pd(acc, signed)),
            _mm256_castpd_si256(signed),
        );
        sums = _mm256_add_epi64(sums, whole);
    }
    let mut lanes = [0u64; 4];
    // SAFETY: `lanes` is 32 writable bytes.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), sums) };
    let found = hits.push(lo, &[0, 2, 4, 6, 1, 3, 5, 7], perfect);
    // Σ 2n over the cells, and Σ d in two's complement: Σσ is below 2^64.
    let twice = len as u64 * (2 * lo + len as u64 - 1);
    Tally {
        abundant: len as u64 - deficient - found,
        perfect: found,
        sum: lanes.iter().fold(twice, |sum, &d| sum.wrapping_add(d)),
    }
}

/// The groups of a vector pass where σ(n) = 2n, noted as the pass goes
/// and pushed as perfect numbers after it. The pass used to push them
/// itself (`sieve::push_perfect`, inlined into its loop for a branch
/// almost never taken): that code took registers from the whole loop,
/// which then kept some of its state on the stack (docs/kernel.md). A
/// pass covers at most a sub-block (2^11 numbers), and no 2^11
/// consecutive numbers up to 10^13 hold more than three perfect numbers
/// (6, 28 and 496; the even ones past them are 16 times apart or more,
/// and no odd one is below 10^1500), so four places are room enough.
#[cfg(target_arch = "x86_64")]
#[derive(Default)]
pub(super) struct Hits {
    /// (the group's first index, the mask of its lanes where σ(n) = 2n).
    at: [(usize, u32); 4],
    len: usize,
}

#[cfg(target_arch = "x86_64")]
impl Hits {
    /// Notes that the group from index `i` has σ(n) = 2n in the lanes of
    /// `mask`.
    #[inline(always)]
    pub(super) fn note(&mut self, i: usize, mask: u32) {
        if let Some(slot) = self.at.get_mut(self.len) {
            *slot = (i, mask);
        }
        self.len += 1;
    }

    /// Pushes the perfect numbers noted to `perfect`, in order (bit k of a
    /// mask stands for the number `lanes[k]` places into its group, the
    /// numbers counted from `lo`); returns how many.
    pub(super) fn push(&self, lo: u64, lanes: &[usize], perfect: &mut Vec<u64>) -> u64 {
        assert!(
            self.len <= self.at.len(),
            "{} groups with a perfect number in one sub-block",
            self.len
        );
        let before = perfect.len();
        for &(i, mask) in &self.at[..self.len] {
            let from = perfect.len();
            perfect.extend(
                (lanes.iter().enumerate())
                    .filter(|&(k, _)| mask >> k & 1 == 1)
                    .map(|(_, &lane)| lo + (i + lane) as u64),
            );
            perfect[from..].sort_unstable();
        }
        (perfect.len() - before) as u64
    }
}

/// `sieve::finish_block` in 8 lanes of AVX-512 (see `finish_avx2`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,popcnt")]
fn finish_avx512(
    cells: &mut [Pair],
    lo: u64,
    perfect: &mut Vec<u64>,
    start: Option<Start<'_>>,
) -> Tally {
    in_groups(
        cells,
        lo,
        perfect,
        start,
        8,
        |head, perfect, start| match start {
            Some((odd, two, from)) => groups_avx512::<true>(head, lo, perfect, odd, two, from),
            None => groups_avx512::<false>(head, lo, perfect, &[], &[], 0),
        },
    )
}

/// The groups of 8 of `finish_avx512` (`cells.len()` a multiple of 8);
/// with `START`, the cells start from `odd` (one pair per cell) and `two`
/// (from residue `from`, read at `from + (i mod 128)`) as the pass goes.
/// The loop keeps its state in registers: no bounds checks, no running
/// residue of the power of two (both were spilled to the stack before,
/// and the pass took 0.58 s of the 2.2 s at [1, 10^9]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,popcnt")]
fn groups_avx512<const START: bool>(
    cells: &mut [Pair],
    lo: u64,
    perfect: &mut Vec<u64>,
    odd: &[Pair],
    two: &[Pair],
    from: usize,
) -> Tally {
    use std::arch::x86_64::*;
    let len = cells.len();
    assert!(len.is_multiple_of(8));
    if START {
        let period = TWO_PERIOD as usize;
        assert!(odd.len() >= len && from < period && two.len() >= 2 * period);
    }
    let round = _mm512_set1_pd(sieve::ROUND);
    let threshold = _mm512_set1_pd(1.5);
    let sixteen = _mm512_set1_pd(16.0);
    let even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
    let odd_lanes = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
    let n = _mm512_add_pd(
        _mm512_set1_pd(lo as f64),
        _mm512_set_pd(7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0),
    );
    let mut twice = _mm512_add_pd(n, n);
    // Counted from the comparison's mask with a scalar popcount.
    let mut abundant = 0u64;
    let mut hits = Hits::default();
    let mut sums = _mm512_setzero_si512();
    let c = cells.as_mut_ptr().cast::<f64>();
    let o = odd.as_ptr().cast::<f64>();
    let w = two.as_ptr().cast::<f64>().wrapping_add(2 * from);
    let mut i = 0;
    while i < len {
        let stop = len.min(i + 8 * FLUSH);
        let mut acc = _mm512_setzero_pd();
        while i < stop {
            // SAFETY: i + 8 <= len (len is a multiple of 8): cells
            // i..i + 8 are 16 contiguous f64, two unaligned loads of 8.
            let (a, b) = unsafe {
                (
                    _mm512_loadu_pd(c.add(2 * i)),
                    _mm512_loadu_pd(c.add(2 * i + 8)),
                )
            };
            let s = _mm512_permutex2var_pd(a, even, b);
            let r = _mm512_permutex2var_pd(a, odd_lanes, b);
            let cof = _mm512_sub_pd(_mm512_fmadd_pd(twice, r, round), round);
            let big = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(cof, threshold);
            // s · c + s where c > 1, s where not: one rounding of an
            // exact integer below 2^53.
            let sig = _mm512_mask_fmadd_pd(s, big, cof, s);
            let gt = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(sig, twice);
            abundant += gt.count_ones() as u64;
            let equal = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(sig, twice);
            if equal != 0 {
                hits.note(i, equal as u32);
            }
            acc = _mm512_add_pd(acc, sig);
            if START {
                let k = 2 * (i % TWO_PERIOD as usize);
                // SAFETY: odd.len() >= len >= i + 8 and the two pattern
                // holds 2 periods with from < 128 and i mod 128 <= 120, so
                // pairs from + (i mod 128) .. + 8 are inside it (asserted
                // above): 16 f64 each, two loads of 8; the cells as above.
                unsafe {
                    let (oi, wk) = (o.add(2 * i), w.add(k));
                    _mm512_storeu_pd(
                        c.add(2 * i),
                        _mm512_mul_pd(_mm512_loadu_pd(oi), _mm512_loadu_pd(wk)),
                    );
                    _mm512_storeu_pd(
                        c.add(2 * i + 8),
                        _mm512_mul_pd(_mm512_loadu_pd(oi.add(8)), _mm512_loadu_pd(wk.add(8))),
                    );
                }
            }
            twice = _mm512_add_pd(twice, sixteen);
            i += 8;
        }
        sums = _mm512_add_epi64(sums, _mm512_cvtpd_epu64(acc));
    }
    Tally {
        abundant,
        perfect: hits.push(lo, &[0, 1, 2, 3, 4, 5, 6, 7], perfect),
        sum: _mm512_reduce_add_epi64(sums) as u64,
    }
}

/// Asks the system to back `cells` (starting at a huge-page boundary, a
/// whole number of huge pages long) with transparent huge pages: advice
/// only, ignored where the system has them off; other systems than Linux
/// are not asked.
pub(super) fn advise_huge_pages(cells: &mut [Pair]) {
    #[cfg(target_os = "linux")]
    // SAFETY: madvise(MADV_HUGEPAGE) over memory this slice owns (its
    // start page-aligned, as the caller ensures, and its length within the
    // slice) changes how the kernel backs those pages, never their contents
    // or their validity; its result is only advice and is ignored.
    unsafe {
        libc::madvise(
            cells.as_mut_ptr().cast::<libc::c_void>(),
            std::mem::size_of_val(cells),
            libc::MADV_HUGEPAGE,
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cells;
}
