//! The CPU's second-level cache, read once per process, and the segment
//! length it gives the sieve: the kernel's only input from outside the
//! process (Linux's sysfs), checked like any other.
//!
//! A segment's pairs (16 bytes a number) should fill about half of L2, so
//! the strikes of the primes from 1024 up stay in it beside the patterns
//! and the primes: on this project's Intel machines (2 MiB of L2 a core)
//! that is 2^16 numbers, measured against 2^15 and 2^17 (docs/kernel.md);
//! an AMD EPYC of the Zen 4 generation (1 MiB) gets 2^15, and so does one
//! of Zen 2 or Zen 3 (512 KiB), the shortest the sieve allows. Where the
//! size cannot be read (not Linux, no sysfs, a value that makes no sense)
//! the segment is 2^16. None of this changes a result, only the speed.

use std::sync::OnceLock;

use super::MAX_SUPPORTED;

/// The shortest segment: the primes from the segment length up get a
/// fix-up for p² only (`sieve`), which needs p³ > [`MAX_SUPPORTED`].
pub(super) const SHORTEST: usize = 1 << 15;
const _: () = assert!((SHORTEST as u64).pow(3) > MAX_SUPPORTED);
/// The longest: 2^17 (2 MiB of pairs) was 20–40% slower at 10^13 with a
/// 2 MiB L2, and the segment's Σσ must stay below 2^64 (`sieve::Tally`).
pub(super) const LONGEST: usize = 1 << 16;

/// Numbers per segment on this CPU (see the module's comment).
pub(super) fn segment_len() -> usize {
    static LEN: OnceLock<usize> = OnceLock::new();
    *LEN.get_or_init(|| segment_for(l2_bytes()))
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

/// The size in bytes of CPU 0's level-2 data or unified cache, from
/// `/sys/devices/system/cpu/cpu0/cache/index*/` (Linux); `None` where that
/// cannot be read or says something unbelievable.
fn l2_bytes() -> Option<u64> {
    let base = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    for entry in std::fs::read_dir(base).ok()?.flatten() {
        let read = |name: &str| std::fs::read_to_string(entry.path().join(name)).ok();
        let (Some(level), Some(kind)) = (read("level"), read("type")) else {
            continue;
        };
        if level.trim() == "2" && matches!(kind.trim(), "Data" | "Unified") {
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
