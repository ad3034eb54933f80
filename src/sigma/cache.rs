//! The CPU's first- and second-level data caches, read once per process,
//! and the segment and sub-block lengths they give the sieve: the kernel's
//! only input from outside the process (Linux's sysfs), checked like any
//! other.
//!
//! A segment's pairs (16 bytes a number) should fill about half of L2, so
//! the strikes of the primes from 1024 up stay in it beside the patterns
//! and the primes: on this project's Intel machines (2 MiB of L2 a core)
//! that is 2^16 numbers, measured against 2^15 and 2^17 (docs/kernel.md:
//! a segment that fills the whole L2 took 1.07 of the time at 10^9 and
//! 1.19 near 10^13); an AMD EPYC of the Zen 4 generation (1 MiB) gets
//! 2^15, and one of Zen 2 or Zen 3 (512 KiB, the AVX2-only EPYCs) 2^14,
//! the shortest the sieve allows (not measured on those: docs/kernel.md,
//! "The sixth round"). Where the size cannot be read (not Linux, no sysfs,
//! a value that makes no sense) the segment is 2^16. None of this changes
//! a result, only the speed.
//!
//! A sub-block's pairs should fit in L1: 2^11 numbers (32 KiB) where L1
//! holds 32 KiB or more (every CPU with AVX2, AMD's Zen included), and
//! where its size is unknown; 2^10 where it holds less (16 KiB on AMD's
//! Bulldozer family, 24 KiB on Intel's Atoms of the Silvermont and
//! Goldmont generations). Measured on a 48 KiB L1: 2^10 is
//! 10% slower than 2^11 (more sub-blocks, so more loop exits per prime),
//! and 2^12 (64 KiB, with the loop tier raised to 256 as it needs) is 2%
//! slower: a sub-block somewhat larger than L1 costs little, so 2^11 on a
//! 32 KiB L1 is safe, and the sieve has no 2^12 (docs/kernel.md).

use std::sync::OnceLock;

use super::MAX_SUPPORTED;

/// The shortest segment: the primes from the segment length up get
/// fix-ups for p² and p³ only (`sieve`), which needs p⁴ >
/// [`MAX_SUPPORTED`].
pub(super) const SHORTEST: usize = 1 << 14;
const _: () = assert!((SHORTEST as u64).pow(4) > MAX_SUPPORTED);
/// The longest: 2^17 (2 MiB of pairs) was 20–40% slower at 10^13 with a
/// 2 MiB L2, and the segment's Σσ must stay below 2^64 (`sieve::Tally`).
pub(super) const LONGEST: usize = 1 << 16;

/// Whether the sieve takes segments of `segment` numbers: a power of two
/// from [`SHORTEST`] to [`LONGEST`].
pub(super) fn is_segment_len(segment: usize) -> bool {
    segment.is_power_of_two() && (SHORTEST..=LONGEST).contains(&segment)
}

/// The sub-block lengths the sieve is built for.
pub(super) const SUB_BLOCK: usize = 1 << 11;
pub(super) const SMALL_SUB_BLOCK: usize = 1 << 10;

/// Numbers per segment on this CPU (see the module's comment).
pub(super) fn segment_len() -> usize {
    static LEN: OnceLock<usize> = OnceLock::new();
    *LEN.get_or_init(|| segment_for(data_cache_bytes(2)))
}

/// Numbers per sub-block on this CPU (see the module's comment).
pub(super) fn sub_block_len() -> usize {
    static LEN: OnceLock<usize> = OnceLock::new();
    *LEN.get_or_init(|| sub_block_for(data_cache_bytes(1)))
}

/// The segment length for an L2 of `l2` bytes: the largest power of two
/// whose pairs fill at most half of it, from [`SHORTEST`] to [`LONGEST`];
/// [`LONGEST`] when the size is unknown.
pub(super) fn segment_for(l2: Option<u64>) -> usize {
    let Some(l2) = l2 else { return LONGEST };
    let numbers = l2 / 2 / 16;
    if numbers < SHORTEST as u64 {
        return SHORTEST;
    }
    (1usize << numbers.ilog2()).clamp(SHORTEST, LONGEST)
}

/// The sub-block length for an L1 data cache of `l1` bytes: [`SUB_BLOCK`]
/// where its pairs fit, or where the size is unknown; [`SMALL_SUB_BLOCK`]
/// where they do not.
pub(super) fn sub_block_for(l1: Option<u64>) -> usize {
    match l1 {
        Some(l1) if l1 < 16 * SUB_BLOCK as u64 => SMALL_SUB_BLOCK,
        _ => SUB_BLOCK,
    }
}

/// The size in bytes of CPU 0's data or unified cache of `level`, from
/// `/sys/devices/system/cpu/cpu0/cache/index*/` (Linux); `None` where that
/// cannot be read or says something unbelievable.
fn data_cache_bytes(level: u32) -> Option<u64> {
    let base = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let level_name = level.to_string();
    for entry in std::fs::read_dir(base).ok()?.flatten() {
        let read = |name: &str| std::fs::read_to_string(entry.path().join(name)).ok();
        let (Some(at), Some(kind)) = (read("level"), read("type")) else {
            continue;
        };
        if at.trim() == level_name && matches!(kind.trim(), "Data" | "Unified") {
            return read("size").and_then(|s| parse_size(&s));
        }
    }
    None
}

/// A cache size as sysfs writes it ("2048K", "1M", or bytes), between
/// 4 KiB and 1 GiB; `None` otherwise.
pub(super) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last()? {
        (i, 'K') => (&text[..i], 1u64 << 10),
        (i, 'M') => (&text[..i], 1 << 20),
        (i, 'G') => (&text[..i], 1 << 30),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bytes = digits.parse::<u64>().ok()?.checked_mul(unit)?;
    (4 << 10..=1 << 30).contains(&bytes).then_some(bytes)
}
