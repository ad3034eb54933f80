//! What the supervisor's checks cost, on one core.
//!
//! `cargo run --release --example verify_bench` times, best of several
//! runs: the per-Done check ([`verify::check_result`]) on an ordinary chunk
//! and on chunks holding a perfect number, its worst case (a forged
//! "perfect" prime near 10^13), the Σσ identity, a localisation over a run's
//! chunks at 10^10, reading a journal back (every check of
//! [`checkpoint::validate`]), and the ledger of counted chunks a run of
//! 10^13 keeps for localisation: its memory, and the end-of-run check
//! over it.

use std::time::{Duration, Instant};
use supervisor::checkpoint::{self, Journal};
use supervisor::schedule::{Completion, RetryPolicy, Schedule};
use supervisor::sigma::{ChunkResult, Kernel, sigma_sum_range, sigma_sum_upto};
use supervisor::verify::{self, Claim};

/// The best time of `runs` calls of `f`.
fn best(runs: u32, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// A result for `[lo, hi]` that passes every cheap check: the real one,
/// from the sieve, for chunks small enough to sieve here.
fn honest(lo: u64, hi: u64) -> ChunkResult {
    Kernel::new(hi).run(lo, hi, |_| {})
}

fn main() {
    // An ordinary chunk: 2^22 numbers ending at 10^10 (the default chunk).
    let (lo, hi) = (10_000_000_000 - (1 << 22) + 1, 10_000_000_000);
    let r = ChunkResult {
        perfect: vec![],
        abundant: 1_040_000,
        deficient: (1 << 22) - 1_040_000,
        sigma_sum: sigma_sum_range(lo, hi),
    };
    assert_eq!(verify::check_result(lo, hi, &r), Ok(()));
    let t = best(1000, || assert!(verify::check_result(lo, hi, &r).is_ok()));
    println!("check_result, a 2^22 chunk at 10^10, no perfect number: {t:?}");

    for (lo, hi) in [
        (33_550_000, 33_560_000),
        (8_589_869_000, 8_589_870_000),
        (137_438_691_000, 137_438_692_000),
    ] {
        let r = honest(lo, hi);
        assert_eq!(r.perfect.len(), 1);
        let t = best(20, || assert!(verify::check_result(lo, hi, &r).is_ok()));
        println!(
            "check_result, a chunk holding the perfect number {}: {t:?}",
            r.perfect[0]
        );
    }

    // The worst a forger can make it cost: one "perfect" prime near 10^13
    // (the check stops at the first number that is not perfect).
    let (lo, hi) = (10_000_000_000_000 - 999, 10_000_000_000_000);
    let mut forged = honest(lo, hi);
    let prime = (lo..=hi)
        .rev()
        .find(|&n| verify::sigma_by_factoring(n) == n as u128 + 1)
        .expect("a prime near 10^13");
    forged.perfect = vec![prime];
    forged.deficient -= 1;
    let t = best(5, || {
        assert!(verify::check_result(lo, hi, &forged).is_err())
    });
    println!("check_result, a forged perfect prime near 10^13 (worst case): {t:?}");

    for x in [10_000_000_000u64, 1_000_000_000_000, 10_000_000_000_000] {
        let t = best(5, || {
            std::hint::black_box(sigma_sum_upto(std::hint::black_box(x)));
        });
        println!("Σσ identity S({x:e}): {t:?}");
    }

    // Localising one wrong chunk among the 2385 chunks of 2^22 of [1, 10^10].
    let chunk = 1u64 << 22;
    let mut claims: Vec<Claim> = (0..10_000_000_000u64.div_ceil(chunk))
        .map(|i| {
            let lo = i * chunk + 1;
            let hi = ((i + 1) * chunk).min(10_000_000_000);
            Claim {
                lo,
                hi,
                sigma_sum: 0,
            }
        })
        .collect();
    let mut prev = 0u128;
    for c in &mut claims {
        let s = sigma_sum_upto(c.hi);
        c.sigma_sum = s - prev;
        prev = s;
    }
    let k = claims.len();
    claims[k / 3].sigma_sum += 1;
    let t = best(3, || assert_eq!(verify::localise(&claims), Ok(vec![k / 3])));
    println!("localise one wrong chunk among {k} chunks of [1, 10^10]: {t:?}");

    // Reading a journal back: [1, 10^10] with 3 finished ranges.
    let done = [
        (1, 3_000_000_000),
        (3_000_000_001 + chunk, 6_000_000_000),
        (6_000_000_001 + chunk, 9_000_000_000),
    ];
    let mut result = ChunkResult {
        perfect: vec![6, 28, 496, 8128, 33_550_336, 8_589_869_056],
        ..ChunkResult::default()
    };
    let total: u64 = done.iter().map(|&(lo, hi)| hi - lo + 1).sum();
    result.abundant = total / 4;
    result.deficient = total - total / 4 - 6;
    result.sigma_sum = done.iter().map(|&(lo, hi)| sigma_sum_range(lo, hi)).sum();
    let journal = Journal::new(1, 10_000_000_000, chunk, done.to_vec(), result);
    let t = best(5, || assert_eq!(checkpoint::validate(&journal), Ok(())));
    println!("validate a journal of [1, 10^10] with 3 ranges: {t:?}");

    // The ledger of a whole run of 10^13 in 2^22 chunks, as the schedule
    // keeps it, and the end-of-run check over it when the total agrees.
    ledger_at_10_13();
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split(' ').nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn ledger_at_10_13() {
    let (max, chunk) = (10_000_000_000_000u64, 1u64 << 22);
    let policy = RetryPolicy {
        max_attempts: 3,
        quarantine_min: 1000,
    };
    let before = rss();
    let mut s = Schedule::new(1, max, chunk, policy);
    let mut counted = 0u64;
    let mut claimed = 0u128;
    let total = sigma_sum_upto(max);
    while let Some((c, _)) = s.take(0, |_| true) {
        // Made-up Σσ (about 1.64 n per number), the last chunk's chosen
        // so the run's total is the identity's.
        let sigma = if c.hi == max {
            total - claimed
        } else {
            (c.lo as u128 + c.hi as u128) * c.len() as u128 * 82 / 100
        };
        claimed += sigma;
        let r = ChunkResult {
            perfect: vec![],
            abundant: 0,
            deficient: c.len(),
            sigma_sum: sigma,
        };
        assert!(matches!(
            s.complete(0, c.id, &r),
            Completion::Returned { .. }
        ));
        s.count(c.lo, c.hi, &r, Some((0, 0))).unwrap();
        counted += 1;
    }
    let bytes = rss().saturating_sub(before);
    println!(
        "ledger of a run of 10^13 in 2^22 chunks: {counted} chunks, {:.0} MB resident ({:.0} bytes a chunk)",
        bytes as f64 / 1e6,
        bytes as f64 / counted as f64
    );
    let t = best(3, || assert!(s.ledger_agrees()));
    println!("end-of-run Σσ check over that ledger (the total agrees): {t:?}");
    let t = best(3, || {
        let (claims, _) = s.claims();
        assert_eq!(verify::localise(&claims), Ok(vec![]));
    });
    println!("the same through a copy of the claims and verify::localise: {t:?}");
}
