//! The kernel's tests: every path against trial division and divisor pairs.

use super::*;

use crate::rng::SplitMix64;

/// A kernel for `max` on every path this machine has (see [`Path`]).
fn every_path(max: u64) -> Vec<Kernel> {
    Path::available()
        .iter()
        .map(|&path| Kernel::with_path(max, path))
        .collect()
}

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

/// Checks σ of every n of [lo, hi] on each of `kernels`: against trial
/// division when that is cheap, else against the divisor-pair window plus
/// trial division for `spot` numbers of the window (the first, the last and
/// random ones). Also checks `run`'s totals against the per-n values.
fn check_window(kernels: &mut [Kernel], lo: u64, hi: u64, spot: usize) {
    let len = hi - lo + 1;
    let reference: Vec<u64> = if len * hi.isqrt() <= 20_000_000 {
        (lo..=hi).map(sigma_naive).collect()
    } else {
        let reference = sigma_window_pairs(lo, hi);
        let mut rng = SplitMix64(lo ^ hi);
        for k in 0..spot {
            let n = match k {
                0 => lo,
                1 => hi,
                _ => rng.range(lo, hi),
            };
            assert_eq!(reference[(n - lo) as usize], sigma_naive(n), "σ({n})");
        }
        reference
    };
    let sum: u128 = reference.iter().map(|&s| s as u128).sum();
    assert_eq!(sum, sigma_sum_range(lo, hi));
    let abundant = reference
        .iter()
        .enumerate()
        .filter(|&(i, &s)| s > 2 * (lo + i as u64))
        .count() as u64;
    for kernel in kernels {
        let path = kernel.path().name();
        let sig = kernel.sigma_of_range(lo, hi);
        assert_eq!(sig.len() as u64, len);
        for (i, (&s, &r)) in sig.iter().zip(&reference).enumerate() {
            let n = lo + i as u64;
            assert_eq!(s, r, "σ({n}) in window [{lo}, {hi}] on {path}");
        }
        let r = kernel.run(lo, hi, |_| {});
        assert_eq!(r.sigma_sum, sum, "Σσ over [{lo}, {hi}] on {path}");
        assert_eq!(r.checked(), len);
        assert_eq!(r.abundant, abundant, "abundant in [{lo}, {hi}] on {path}");
    }
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
    for mut kernel in every_path(100_000) {
        let sig = kernel.sigma_of_range(1, 100_000);
        for (i, &s) in sig.iter().enumerate() {
            let n = i as u64 + 1;
            assert_eq!(s, sigma_naive(n), "σ({n})");
        }
        let whole = kernel.run(1, 100_000, |_| {});
        assert_eq!(whole, naive_result(1, 100_000));
        assert_eq!(whole.perfect, vec![6, 28, 496, 8128]);
    }
}

#[test]
fn chunks_of_odd_sizes_agree_with_the_whole() {
    for mut kernel in every_path(100_000) {
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
}

#[test]
fn progress_reports_every_segment() {
    for mut kernel in every_path(1_000_000) {
        let mut seen = Vec::new();
        let r = kernel.run(10, 100_009, |done| seen.push(done));
        assert_eq!(r.checked(), 100_000);
        assert_eq!(seen.len(), 100_000usize.div_ceil(kernel.sizes().0));
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*seen.last().unwrap(), 100_000);
    }
}

#[test]
fn chunk_edges() {
    let mut kernels = every_path(1_000_000_000_000);
    for kernel in kernels.iter_mut() {
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
    }
    check_window(&mut kernels, 1, 1, 0);
    check_window(&mut kernels, 1, 2, 0);
    check_window(&mut kernels, 1, 1000, 0);
    // Chunks starting and ending on squares, prime squares and cubes.
    for root in [3u64, 1000, 1009, 31_607, 999_983] {
        let sq = root * root;
        check_window(&mut kernels, sq, sq + 500, 2);
        check_window(&mut kernels, sq.saturating_sub(500).max(1), sq, 2);
        check_window(&mut kernels, sq, sq, 1);
    }
    for cube in [1009u64 * 1009 * 1009, 7u64.pow(14), 3u64.pow(25)] {
        check_window(&mut kernels, cube - 300, cube + 300, 2);
    }
    // Windows across segment boundaries, around 2^39.
    let seg = kernels[0].sizes().0 as u64;
    check_window(&mut kernels, (1 << 39) - 3 * seg, (1 << 39) + 3000, 2);
}

/// Squares of primes above the segment length take their own path (the
/// buckets, and the heap of their squares' fix-ups): chunks that run over
/// several segments into p² and past it, so the tracked multiples of p and
/// p² carry across segments.
#[test]
fn squares_of_huge_primes() {
    let mut kernels = every_path(MAX_SUPPORTED);
    let seg = kernels[0].sizes().0 as u64;
    for p in [131_101u64, 1_000_003, 3_162_277] {
        assert!(p >= seg && sigma_naive(p) == p + 1);
        let sq = p * p;
        check_window(&mut kernels, sq - 2 * seg - 12_345, sq + 1000, 2);
        check_window(&mut kernels, sq - p, sq + p, 2);
    }
}

/// The primes from 1024 up strike from their squares on, not from a
/// chunk's start (a multiple of p below p² has p as its cofactor): chunks
/// from 1 and from below the squares of the first such primes (struck over
/// the segment) and of the first primes past the segment length (filed in
/// the buckets as the segment holding p² comes), running over several
/// segments of squares.
#[test]
fn primes_strike_from_their_squares() {
    for max in [1u64 << 33, MAX_SUPPORTED] {
        let mut kernels = every_path(max);
        let seg = kernels[0].sizes().0 as u64;
        let first = 1031u64; // the first prime from 1024
        check_window(&mut kernels, 1, first * first + 2 * seg, 2);
        check_window(&mut kernels, first * first - 1, first * first + 3 * seg, 2);
        let huge = 65_537u64; // the first prime past 2^16
        assert!(huge >= seg && sigma_naive(huge) == huge + 1);
        let sq = huge * huge;
        check_window(&mut kernels, sq - 3 * seg - 5, sq + 3 * huge, 2);
        check_window(&mut kernels, sq + 1, sq + 2 * seg, 2);
    }
}

/// Segments of 2^15, which a CPU with less than 2 MiB of L2 gets (see
/// `cache`): more primes go to the buckets (from 2^15), the buckets look
/// further ahead, and the squares' fix-ups are found over more m.
#[test]
fn segments_of_2_15() {
    for max in [1u64 << 33, MAX_SUPPORTED] {
        short_segments(max, 1 << 15, 32_771);
    }
}

/// Kernels on every path for ranges up to `max` with segments of
/// `segment` numbers, checked from 1, at 1031², at the square of `huge`
/// (the first prime past the segment length) and at `max`.
fn short_segments(max: u64, segment: usize, huge: u64) -> Vec<Kernel> {
    let mut kernels: Vec<Kernel> = Path::available()
        .iter()
        .map(|&path| Kernel::with_sizes(max, path, segment, super::cache::SUB_BLOCK))
        .collect();
    let seg = segment as u64;
    check_window(&mut kernels, 1, 3 * seg + 777, 2);
    check_window(&mut kernels, 1031 * 1031 - 1, 1031 * 1031 + 2 * seg, 2);
    assert!(huge > seg && sigma_naive(huge) == huge + 1);
    let sq = huge * huge;
    check_window(&mut kernels, sq - 2 * seg - 5, sq + 2 * huge, 2);
    check_window(&mut kernels, max - 3 * seg - 4321, max, 2);
    kernels
}

/// Segments of 2^14, which a CPU with 512 KiB of L2 gets (Zen 2 and 3, see
/// `cache`): the primes from 2^14 up go to the buckets, and those up to
/// 21 529 have cubes below 10^13, fixed up from the heap after their
/// squares (`Sieve::start`, with the other primes' powers): at a multiple
/// of p³, at the first and last such prime, as a window's first and last
/// number; and the squares' fix-ups, a division each below 2^16 and found
/// by their multiplier from it (`Sieve::huge_squares`), either side of
/// 2^16.
#[test]
fn segments_of_2_14() {
    let seg = 1u64 << 14;
    let huge = 16_411u64; // the first prime past 2^14
    for max in [1u64 << 33, MAX_SUPPORTED] {
        let mut kernels = short_segments(max, seg as usize, huge);
        if max < MAX_SUPPORTED {
            continue;
        }
        // Either side of 2^16, where the squares' fix-ups are found by m.
        for p in [65_521u64, 65_537] {
            let sq = p * p;
            check_window(&mut kernels, sq - seg, sq + seg, 2);
            check_window(&mut kernels, 3 * sq - 7, 3 * sq + seg, 2);
        }
        let last = 21_529u64; // the last prime with p³ ≤ 10^13
        assert!(sigma_naive(last) == last + 1 && last.pow(3) <= MAX_SUPPORTED);
        assert!(21_557u64.pow(3) > MAX_SUPPORTED); // the next prime
        let cube = huge.pow(3);
        check_window(&mut kernels, cube, cube + seg, 2);
        check_window(&mut kernels, cube - seg, cube, 2);
        check_window(&mut kernels, 2 * cube - seg - 3, 2 * cube + 2 * seg, 2);
        let cube = last.pow(3);
        check_window(&mut kernels, cube - 2 * seg, cube + seg + 17, 2);
        // Against the caches' length, over many segments from 1 and in
        // chunks near 10^13 (the chunks' starts file the buckets again).
        let mut wide = Kernel::with_path(max, Path::chosen());
        for (lo, hi) in [(1, 1 << 21), (max - (1 << 20) + 1, max)] {
            let expected = wide.run(lo, hi, |_| {});
            for kernel in &mut kernels {
                let mut got = ChunkResult::default();
                for at in (lo..=hi).step_by(1 << 18) {
                    let part = kernel.run(at, hi.min(at + (1 << 18) - 1), |_| {});
                    got.merge(&part).expect("small counts");
                }
                assert_eq!(got, expected, "{}", kernel.path().name());
            }
        }
    }
}

/// Sub-blocks of 2^10, which a CPU with less than 32 KiB of L1 gets (see
/// `cache`): every prime's group and the fix-up lists change (⌊2^10 / p⌋
/// strikes, fix-ups filed from steps of 2^10), on every path, from 1
/// (the first four perfect numbers), across sub-block and segment edges,
/// at 10^12 and at 10^13, and against sub-blocks of 2^11 over a longer
/// range.
#[test]
fn sub_blocks_of_2_10() {
    use super::cache::{SMALL_SUB_BLOCK, SUB_BLOCK, segment_len};
    let long = if cfg!(debug_assertions) { 1 } else { 3 };
    for max in [1u64 << 33, MAX_SUPPORTED] {
        let mut kernels: Vec<Kernel> = Path::available()
            .iter()
            .map(|&path| Kernel::with_sizes(max, path, segment_len(), SMALL_SUB_BLOCK))
            .collect();
        assert_eq!(kernels[0].sizes().1, SMALL_SUB_BLOCK);
        let seg = segment_len() as u64;
        check_window(&mut kernels, 1, long * seg + 777, 2);
        check_window(&mut kernels, (1 << 20) - 1, (1 << 20) + 1023 + seg, 2);
        check_window(&mut kernels, 1031 * 1031 - 1025, 1031 * 1031 + seg, 2);
        check_window(&mut kernels, max - long * seg - 4321, max, 2);
        let (lo, hi) = (1, 1 << 21);
        let mut wide = Kernel::with_sizes(max, Path::chosen(), segment_len(), SUB_BLOCK);
        let expected = wide.sigma_of_range(lo, hi);
        for kernel in &mut kernels {
            assert!(
                kernel.sigma_of_range(lo, hi) == expected,
                "{}",
                kernel.path().name()
            );
            assert_eq!(kernel.run(lo, hi, |_| {}), wide.run(lo, hi, |_| {}));
        }
    }
}

#[test]
fn the_caches_give_the_sizes() {
    use super::cache::{
        LONGEST, SHORTEST, SMALL_SUB_BLOCK, SUB_BLOCK, parse_size, segment_for, sub_block_for,
    };
    assert_eq!(parse_size("2048K\n"), Some(2 << 20));
    assert_eq!(parse_size("1M"), Some(1 << 20));
    assert_eq!(parse_size("524288"), Some(512 << 10));
    for bad in [
        "",
        "K",
        "-1K",
        "2048KB",
        "1e3K",
        "99999999999999999999K",
        "1K",
        "2G",
    ] {
        assert_eq!(parse_size(bad), None, "{bad:?}");
    }
    assert_eq!(segment_for(None), LONGEST);
    assert_eq!(segment_for(Some(2 << 20)), 1 << 16);
    assert_eq!(segment_for(Some(32 << 20)), LONGEST);
    assert_eq!(segment_for(Some(1 << 20)), 1 << 15);
    assert_eq!(segment_for(Some(512 << 10)), 1 << 14);
    assert_eq!(SHORTEST, 1 << 14);
    assert_eq!(segment_for(Some(4 << 10)), SHORTEST);
    assert_eq!(segment_for(Some(3 << 20)), 1 << 16);
    assert_eq!(sub_block_for(None), SUB_BLOCK);
    assert_eq!(sub_block_for(Some(48 << 10)), SUB_BLOCK);
    assert_eq!(sub_block_for(Some(32 << 10)), SUB_BLOCK);
    assert_eq!(sub_block_for(Some(24 << 10)), SMALL_SUB_BLOCK);
    assert_eq!(sub_block_for(Some(16 << 10)), SMALL_SUB_BLOCK);
    assert_eq!(sub_block_for(Some(4 << 10)), SMALL_SUB_BLOCK);
}

#[test]
fn random_windows_up_to_10_12() {
    let mut rng = SplitMix64(0x5eed_0001);
    let mut kernels = every_path(1_000_000_000_000);
    for _ in 0..20 {
        let lo = rng.range(1, 1_000_000_000_000 - 2000);
        let len = rng.range(1, 2000);
        check_window(&mut kernels, lo, lo + len - 1, 3);
    }
}

/// Every n of 20 random windows up to 10^12 against trial division
/// itself (O(√n) each: windows of 50 numbers in release, 4 in debug; the
/// 2000-number windows above check every n against divisor pairs).
#[test]
fn random_windows_against_trial_division() {
    let len = if cfg!(debug_assertions) { 4 } else { 50 };
    let mut rng = SplitMix64(0x5eed_0003);
    let mut kernels = every_path(1_000_000_000_000);
    for _ in 0..20 {
        let lo = rng.range(1, 1_000_000_000_000 - len + 1);
        let naive: Vec<u64> = (lo..lo + len).map(sigma_naive).collect();
        for kernel in kernels.iter_mut() {
            assert_eq!(
                kernel.sigma_of_range(lo, lo + len - 1),
                naive,
                "[{lo}, +{len}]"
            );
        }
    }
}

#[test]
fn windows_near_10_13() {
    let mut kernels = every_path(MAX_SUPPORTED);
    check_window(&mut kernels, MAX_SUPPORTED - 1999, MAX_SUPPORTED, 2);
    let mut rng = SplitMix64(0x5eed_0002);
    for _ in 0..4 {
        let lo = rng.range(MAX_SUPPORTED - 10_000_000_000, MAX_SUPPORTED - 2000);
        check_window(&mut kernels, lo, lo + 1999, 1);
    }
}

#[test]
fn known_perfect_number_33550336() {
    for mut kernel in every_path(40_000_000) {
        let r = kernel.run(33_550_000, 33_560_000, |_| {});
        assert_eq!(r.perfect, vec![33_550_336]);
        assert_eq!(r.checked(), 10_001);
        assert_eq!(r.sigma_sum, sigma_sum_range(33_550_000, 33_560_000));
    }
}

/// The known counts for [1, 3·10^7]; in a debug build the sieve takes
/// a while, so the full range runs only in release (`cargo test
/// --release`), and debug runs the first 3·10^6 against the closed form.
#[test]
fn known_counts_up_to_30_million() {
    let max = if cfg!(debug_assertions) {
        3_000_000
    } else {
        30_000_000
    };
    for mut kernel in every_path(max) {
        let r = kernel.run(1, max, |_| {});
        assert_eq!(r.perfect, vec![6, 28, 496, 8128]);
        assert_eq!(r.sigma_sum, sigma_sum_upto(max));
        if max == 30_000_000 {
            assert_eq!(r.abundant, 7_430_807);
            assert_eq!(r.deficient, 22_569_189);
        }
    }
}

/// Chunks that run over several segments, checked number by number, so
/// every edge inside a segment (sub-blocks, mid-blocks) and between
/// segments is crossed, for kernels of several sizes (which set which
/// primes go to the buckets), with chunks starting on and off those edges,
/// small, at 10^12 and at 10^13.
#[test]
fn every_block_and_segment_edge() {
    let long = if cfg!(debug_assertions) { 1 } else { 3 };
    for max in [1u64 << 32, 1 << 35, 1_000_000_000_000, MAX_SUPPORTED] {
        let mut kernels = every_path(max);
        let seg = kernels[0].sizes().0 as u64;
        let mut starts = vec![1, 1 << 20, (1 << 20) + 2047, (1 << 20) - 1];
        if max >= 1_000_000_000_000 {
            starts.extend([max - long * seg - 4321, (max / seg) * seg - seg - 1]);
        }
        for lo in starts {
            let hi = (lo + long * seg + 777).min(max);
            check_window(&mut kernels, lo, hi, 2);
        }
    }
}

/// The perfect numbers up to 10^13 are found where they are, with the
/// right counts, on every path.
#[test]
fn the_first_seven_perfect_numbers() {
    let perfect = crate::verify::PERFECT;
    for mut kernel in every_path(MAX_SUPPORTED) {
        for &p in &perfect {
            let (lo, hi) = (p.saturating_sub(5000).max(1), p + 5000);
            let r = kernel.run(lo, hi, |_| {});
            let inside: Vec<u64> = perfect
                .into_iter()
                .filter(|&q| lo <= q && q <= hi)
                .collect();
            assert_eq!(r.perfect, inside, "around {p}");
            assert_eq!(r.checked(), hi - lo + 1);
            assert_eq!(r.sigma_sum, sigma_sum_range(lo, hi));
            assert_eq!(kernel.sigma_of_range(p, p), vec![2 * p]);
        }
    }
}

/// Windows right at 10^12 and 10^13, and across a square of a prime just
/// below √(10^13), on every path.
#[test]
fn windows_ending_at_10_12_and_10_13() {
    let mut kernels = every_path(MAX_SUPPORTED);
    check_window(&mut kernels, 1_000_000_000_000 - 2999, 1_000_000_000_000, 3);
    check_window(&mut kernels, 1_000_000_000_000, 1_000_000_002_000, 3);
    check_window(&mut kernels, MAX_SUPPORTED - 2999, MAX_SUPPORTED, 3);
    let p = 3_162_277u64; // the largest prime ≤ √(10^13)
    check_window(&mut kernels, p * p - 1500, p * p + 1500, 3);
}

/// `SUPERVISOR_KERNEL_PATH` caps the path, so CI can run every path: when
/// it names one, the best available path is that one or one below it.
#[test]
fn the_path_variable_is_honoured() {
    let names: Vec<_> = Path::available().iter().map(|p| p.name()).collect();
    eprintln!("kernel paths in this run: {names:?}");
    assert_eq!(names[0], "scalar");
    if let Ok(cap) = std::env::var(PATH_VAR) {
        let order = ["scalar", "avx2", "avx512"];
        let cap = order
            .iter()
            .position(|&n| n == cap)
            .expect("a known path name");
        let best = order
            .iter()
            .position(|&n| n == Path::chosen().name())
            .unwrap();
        assert!(best <= cap);
    }
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
    for mut kernel in every_path(MAX_SUPPORTED) {
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
fn primes() {
    let primes = super::primes::odd_primes_upto(100);
    assert_eq!(primes.len(), 24);
    assert_eq!(primes[..5], [3, 5, 7, 11, 13]);
}

/// The f64 estimate of lo mod q used at each chunk's start is exact over
/// the whole range of lo, for the primes, their powers and any step.
#[test]
fn first_offsets_by_f64_estimate() {
    let mut rng = SplitMix64(0x5eed_0004);
    let primes = super::primes::odd_primes_upto(MAX_SUPPORTED.isqrt());
    for k in 0..200_000 {
        let p = primes[rng.range(0, primes.len() as u64 - 1) as usize];
        let lo = match k % 4 {
            0 => rng.range(1, MAX_SUPPORTED),
            1 => (rng.range(1, MAX_SUPPORTED / p as u64)) * p as u64,
            2 => (rng.range(1, MAX_SUPPORTED / p as u64)) * p as u64 - 1,
            _ => (rng.range(1, MAX_SUPPORTED / p as u64)) * p as u64 + 1,
        };
        let expected = (p as u64 - lo % p as u64) % p as u64;
        assert_eq!(
            super::sieve::first_offset(lo, p as u64),
            expected,
            "{lo} mod {p}"
        );
        // The powers of p up to the bound, and any step at all.
        let mut q = p as u64;
        while let Some(next) = q.checked_mul(p as u64).filter(|&x| x <= MAX_SUPPORTED) {
            q = next;
        }
        for q in [q, rng.range(1, MAX_SUPPORTED), rng.range(1, 1 << 20)] {
            for lo in [lo, q, q - 1, q + 1, (lo / q).max(1) * q] {
                let expected = (q - lo % q) % q;
                assert_eq!(super::sieve::first_offset(lo, q), expected, "{lo} mod {q}");
            }
        }
    }
}

/// The offsets a chunk's start files the primes from the segment length
/// up with, found in f64 lanes, are those of `first_offset`: for random
/// chunk starts, multiples of p and their neighbours, the largest start,
/// and every prime up to √(10^13) from the first past 2^15.
#[test]
fn offsets_in_lanes() {
    let mut rng = SplitMix64(0x5eed_0005);
    let primes = super::primes::odd_primes_upto(MAX_SUPPORTED.isqrt());
    let from = primes.partition_point(|&p| p < 1 << 15);
    for (k, &p) in primes[from..].iter().enumerate() {
        let q = p as u64;
        let multiple = rng.range(1, MAX_SUPPORTED / q) * q;
        for lo in [
            rng.range(1, MAX_SUPPORTED),
            multiple,
            multiple - 1,
            multiple + 1,
            q,
            q * q,
            MAX_SUPPORTED - k as u64 % 7,
            1,
        ] {
            let expected = super::sieve::first_offset(lo, q);
            assert_eq!(
                super::sieve::offset_in_lanes(lo as f64, p) as u64,
                expected,
                "{lo} mod {p}"
            );
        }
    }
}

/// The vector passes note the groups where σ(n) = 2n and push them after
/// the pass: in order, each lane mapped to its number (the AVX2 lanes
/// come as 0, 2, 1, 3), and never more groups than there is room for.
#[cfg(target_arch = "x86_64")]
#[test]
fn perfect_numbers_noted_by_group() {
    use super::simd::Hits;
    let mut hits = Hits::default();
    hits.note(4, 0b0110);
    hits.note(24, 0b1000);
    let mut perfect = vec![1];
    assert_eq!(hits.push(100, &[0, 2, 1, 3], &mut perfect), 3);
    assert_eq!(perfect, [1, 105, 106, 127]);
    for k in 0..5 {
        hits.note(8 * k, 1);
    }
    let more = std::panic::catch_unwind(move || hits.push(0, &[0, 1, 2, 3], &mut Vec::new()));
    assert!(more.is_err(), "seven groups noted, room for four");
}

/// ⌊√x⌋ from the f64 root, as the squares' fix-ups are found at a chunk's
/// start: around squares (n² − 1, n², n² + 1) and at random, up to 2^52.
#[test]
fn floor_sqrt_by_f64() {
    let mut rng = SplitMix64(0x5eed_0006);
    for _ in 0..200_000 {
        let n = rng.range(1, (1 << 26) - 1);
        for x in [n * n - 1, n * n, n * n + 1, rng.range(0, (1 << 52) - 1)] {
            assert_eq!(super::sieve::floor_sqrt(x), x.isqrt(), "√{x}");
        }
    }
    assert_eq!(super::sieve::floor_sqrt(0), 0);
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
