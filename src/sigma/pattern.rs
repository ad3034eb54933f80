//! The periodic start of every number: the factors 2, 3, 5 and 7 up to a
//! fixed power each come from two precomputed patterns instead of strikes.
//!
//! The part 3^min(v₃,3) · 5^min(v₅,2) · 7^min(v₇,1) of n depends only on
//! n mod 3³·5²·7 = 4725, and 2^min(v₂,7) only on n mod 128. Each pattern
//! holds, for every residue, the pair (σ of that part, 1 / that part), the
//! power of two's reciprocal halved (so a number's reciprocal is that of
//! twice its factored part: see `sieve::finish`); a number starts as the
//! product of its two pairs. Higher powers (3⁴, 5³, 7², 2⁸ and up) are
//! fixed up later like those of any other prime (see `sieve`). 2⁷ rather
//! than 2⁶ saves the fix-ups at the multiples of 128 (1.3% less time at
//! [1, 3·10^8]; 2⁸ was no better, and 7² in the odd pattern, a period of
//! 33 075, 7% slower: that pattern streams from L2 beside the segment).
//! Multiplying the two patterns saves the strikes of 2, 3, 5 and 7 (Σ 1/p
//! = 1.18 of about 2.6 strikes per number at 10^9).

use super::sieve::Pair;

/// The period of the odd part of the pattern: 3³ · 5² · 7.
pub(super) const ODD_PERIOD: u64 = 4725;
/// The period of the power of two: 2^7.
pub(super) const TWO_PERIOD: u64 = 1 << 7;
/// How far the power-of-two pattern is extended past its period: a whole
/// period more, so the residues from any r < 128 to r + 127 read one
/// contiguous slice of it (the AVX passes read it at r + (i mod 128)).
pub(super) const TWO_EXTRA: u64 = TWO_PERIOD;
/// The exponent of each small prime the patterns hold, (p, e): multiples of
/// p^(e+1) need a fix-up.
pub(super) const COVERED: [(u64, u32); 4] = [(2, 7), (3, 3), (5, 2), (7, 1)];

/// The two patterns; the odd one is extended by one block past its period
/// so a block of up to `block` numbers reads one contiguous slice of it.
pub(super) struct Patterns {
    odd: Vec<Pair>,
    two: Vec<Pair>,
    block: usize,
}

impl Patterns {
    /// The patterns for blocks of up to `block` numbers.
    pub(super) fn new(block: usize) -> Patterns {
        let part = |n: u64| -> (u64, u64) {
            // (σ(part), part) of n's covered small-prime part; n = 0 stands
            // for the residue 0, divisible by every covered power.
            let (mut sig, mut part) = (1u64, 1u64);
            for (p, e) in COVERED {
                if p == 2 {
                    continue;
                }
                let (mut pk, mut s) = (1u64, 1u64);
                for _ in 0..e {
                    if !n.is_multiple_of(pk * p) {
                        break;
                    }
                    pk *= p;
                    s += pk;
                }
                sig *= s;
                part *= pk;
            }
            (sig, part)
        };
        let odd = (0..ODD_PERIOD + block as u64)
            .map(|k| {
                let (s, d) = part(k % ODD_PERIOD);
                [s as f64, 1.0 / d as f64]
            })
            .collect();
        let two = (0..TWO_PERIOD + TWO_EXTRA)
            .map(|k| {
                let t = (k % TWO_PERIOD).trailing_zeros().min(7);
                // The reciprocal halved: see `sieve::finish`.
                [((2u64 << t) - 1) as f64, 1.0 / (2u64 << t) as f64]
            })
            .collect();
        Patterns { odd, two, block }
    }

    /// The patterns for the `len` numbers from `lo`: the odd part's pairs,
    /// one per number, and the power-of-two pattern from `lo`'s residue
    /// (whose pairs repeat every [`TWO_PERIOD`], and are extended by
    /// [`TWO_EXTRA`]), for a finishing pass that starts the next segment
    /// as it goes.
    #[inline(always)]
    pub(super) fn slices(&self, lo: u64, len: usize) -> (&[Pair], &[Pair], usize) {
        debug_assert!(len <= self.block);
        let odd = &self.odd[(lo % ODD_PERIOD) as usize..][..len];
        (odd, &self.two, (lo % TWO_PERIOD) as usize)
    }

    /// Starts `cells` (at most `block` of them) for the numbers from `lo`.
    #[inline(always)]
    pub(super) fn init(&self, cells: &mut [Pair], lo: u64) {
        debug_assert!(cells.len() <= self.block);
        let odd = &self.odd[(lo % ODD_PERIOD) as usize..][..cells.len()];
        // The power of two in runs of its period (the first one partial), so
        // its 128 pairs stay in L1.
        let mut from = (lo % TWO_PERIOD) as usize;
        let mut start = 0;
        while start < cells.len() {
            let run = (TWO_PERIOD as usize - from).min(cells.len() - start);
            let cells = &mut cells[start..start + run];
            let odd = &odd[start..start + run];
            for ((c, a), b) in cells.iter_mut().zip(odd).zip(&self.two[from..]) {
                *c = [a[0] * b[0], a[1] * b[1]];
            }
            start += run;
            from = 0;
        }
    }
}
