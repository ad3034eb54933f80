//! The chunk queue (Python's `Queue` of work): chunks not yet handed out,
//! chunks in flight on a worker slot, the merged result of the chunks done,
//! and what happens to a chunk whose worker died: back to the head of the
//! queue, split in halves when it keeps killing workers, quarantined when a
//! small piece still does.
//!
//! One rule makes results exact under any fault: a result is accepted only
//! from the slot its chunk is in flight on, and only once.

use crate::fault::Tally;
use crate::ranges::RangeSet;
use crate::sigma::ChunkResult;
use std::collections::{BTreeMap, VecDeque};

/// A contiguous range of numbers handed to one worker at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub id: u64,
    pub lo: u64,
    pub hi: u64,
}

impl Chunk {
    /// How many numbers the chunk covers.
    pub fn len(&self) -> u64 {
        self.hi - self.lo + 1
    }

    /// Never true: a chunk holds at least one number.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// When a chunk that keeps killing workers is split, and when a piece of it
/// is given up on.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Worker deaths a chunk may cause before it is split (or quarantined).
    pub max_attempts: u32,
    /// A failing piece this small or smaller is quarantined, not split.
    pub quarantine_min: u64,
}

/// What became of the chunk of a slot whose worker died.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Back to the head of the queue, to be tried again.
    Requeued { chunk: Chunk, failures: u32 },
    /// Killed too many workers: its halves go to the head of the queue.
    Split {
        chunk: Chunk,
        halves: (Chunk, Chunk),
    },
    /// Small and still killing workers: given up on.
    Quarantined { chunk: Chunk },
}

/// The answer to a worker's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Counted.
    Accepted { chunk: Chunk },
    /// Not the chunk in flight on this slot: ignored.
    Stale,
    /// The result does not cover the chunk's numbers: the worker is faulty.
    Miscounted { chunk: Chunk, checked: u64 },
}

#[derive(Clone, Copy, Debug)]
struct Attempt {
    chunk: Chunk,
    failures: u32,
    /// Whether the chunk it was cut from killed workers (a half of a split).
    suspect: bool,
}

/// The run's chunks. Chunks are cut from `[min, max]` lazily, so memory does
/// not grow with the range.
#[derive(Debug)]
pub struct Schedule {
    cursor: u64,
    max: u64,
    size: u64,
    next_id: u64,
    retry: VecDeque<Attempt>,
    in_flight: BTreeMap<usize, Attempt>,
    /// The merged result; shared, so worker threads can reach it.
    result: Tally,
    /// The numbers whose chunks are counted (including a resumed journal's).
    done: RangeSet,
    quarantined: Vec<(u64, u64)>,
    policy: RetryPolicy,
}

impl Schedule {
    /// A queue over `[min, max]` in chunks of `size` numbers.
    pub fn new(min: u64, max: u64, size: u64, policy: RetryPolicy) -> Schedule {
        assert!(min >= 1 && min <= max && size >= 1);
        Schedule {
            cursor: min,
            max,
            size,
            next_id: 0,
            retry: VecDeque::new(),
            in_flight: BTreeMap::new(),
            result: Tally::default(),
            done: RangeSet::default(),
            quarantined: Vec::new(),
            policy,
        }
    }

    fn new_chunk(&mut self, lo: u64, hi: u64) -> Chunk {
        let id = self.next_id;
        self.next_id += 1;
        Chunk { id, lo, hi }
    }

    /// Hands the next chunk to `slot` (which must hold none): a chunk to
    /// retry first, else a fresh one.
    pub fn take(&mut self, slot: usize) -> Option<Chunk> {
        assert!(!self.in_flight.contains_key(&slot), "slot {slot} is busy");
        let attempt = match self.retry.pop_front() {
            Some(a) => a,
            None if self.skip_done() => {
                let lo = self.cursor;
                let mut hi = lo.saturating_add(self.size - 1).min(self.max);
                if let Some((next_done, _)) = self.done.next_after(lo) {
                    hi = hi.min(next_done - 1);
                }
                self.cursor = hi + 1; // hi ≤ max ≤ MAX_SUPPORTED: no overflow
                Attempt {
                    chunk: self.new_chunk(lo, hi),
                    failures: 0,
                    suspect: false,
                }
            }
            None => return None,
        };
        self.in_flight.insert(slot, attempt);
        Some(attempt.chunk)
    }

    /// Moves the cursor past numbers already done (a resumed run's);
    /// whether numbers remain to be cut into chunks.
    fn skip_done(&mut self) -> bool {
        if let Some((_, hi)) = self.done.containing(self.cursor) {
            self.cursor = hi + 1;
        }
        self.cursor <= self.max
    }

    /// Resumes a run, before any chunk is handed out: the numbers in `done`
    /// are already counted in `result` (a journal's, checked when it was
    /// read), which becomes the tally, and are never handed out again.
    pub fn resume(&mut self, done: &[(u64, u64)], result: &ChunkResult) {
        for &(lo, hi) in done {
            self.done.insert(lo, hi);
        }
        *lock(&self.result) = result.clone();
    }

    /// The numbers counted so far, as ranges.
    pub fn done(&self) -> Vec<(u64, u64)> {
        self.done.to_vec()
    }

    /// The chunk in flight on `slot`, if any.
    pub fn in_flight(&self, slot: usize) -> Option<Chunk> {
        self.in_flight.get(&slot).map(|a| a.chunk)
    }

    /// Counts `result` if `id` is the chunk in flight on `slot` and the result
    /// covers exactly its numbers.
    pub fn complete(&mut self, slot: usize, id: u64, result: &ChunkResult) -> Completion {
        let Some(attempt) = self.in_flight.get(&slot) else {
            return Completion::Stale;
        };
        let chunk = attempt.chunk;
        if chunk.id != id {
            return Completion::Stale;
        }
        let miscounted = Completion::Miscounted {
            chunk,
            checked: result.checked(),
        };
        if result.count() != chunk.len() as u128
            || result.perfect.iter().any(|&n| n < chunk.lo || n > chunk.hi)
        {
            return miscounted;
        }
        if lock(&self.result).merge(result).is_err() {
            return miscounted;
        }
        self.in_flight.remove(&slot);
        self.done.insert(chunk.lo, chunk.hi);
        Completion::Accepted { chunk }
    }

    /// Whether the chunk in flight on `slot` is already known to kill
    /// workers: it is a piece of a chunk that killed `max_attempts` of them
    /// and was split. A death on such a piece has a known cause, and the
    /// bisection is bounded by itself (at most `max_attempts` deaths per
    /// halving, down to `quarantine_min`), so it is not the restart
    /// intensity's to count. (Deaths on a whole chunk still count: that is
    /// how a crash loop of unknown cause is stopped.)
    pub fn is_suspect(&self, slot: usize) -> bool {
        self.in_flight.get(&slot).is_some_and(|a| a.suspect)
    }

    /// The worker on `slot` died: decide its chunk's fate. `None` if the
    /// slot held no chunk.
    pub fn fail(&mut self, slot: usize) -> Option<Fate> {
        let mut attempt = self.in_flight.remove(&slot)?;
        attempt.failures += 1;
        let chunk = attempt.chunk;
        if attempt.failures < self.policy.max_attempts {
            self.retry.push_front(attempt);
            return Some(Fate::Requeued {
                chunk,
                failures: attempt.failures,
            });
        }
        if chunk.len() <= self.policy.quarantine_min || chunk.len() == 1 {
            self.quarantined.push((chunk.lo, chunk.hi));
            self.quarantined.sort_unstable();
            return Some(Fate::Quarantined { chunk });
        }
        let mid = chunk.lo + chunk.len() / 2 - 1;
        let halves = (
            self.new_chunk(chunk.lo, mid),
            self.new_chunk(mid + 1, chunk.hi),
        );
        self.retry.push_front(Attempt {
            chunk: halves.1,
            failures: 0,
            suspect: true,
        });
        self.retry.push_front(Attempt {
            chunk: halves.0,
            failures: 0,
            suspect: true,
        });
        Some(Fate::Split { chunk, halves })
    }

    /// Gives a chunk back without blaming its worker (the run is stopping).
    pub fn release(&mut self, slot: usize) {
        if let Some(a) = self.in_flight.remove(&slot) {
            self.retry.push_front(a);
        }
    }

    /// Whether chunks wait to be handed out.
    pub fn has_pending(&self) -> bool {
        let fresh = match self.done.containing(self.cursor) {
            Some((_, hi)) => hi < self.max,
            None => self.cursor <= self.max,
        };
        !self.retry.is_empty() || fresh
    }

    /// Whether every number is either counted or quarantined.
    pub fn is_finished(&self) -> bool {
        !self.has_pending() && self.in_flight.is_empty()
    }

    /// The merged result of every accepted chunk.
    pub fn result(&self) -> ChunkResult {
        lock(&self.result).clone()
    }

    /// The shared tally the result is merged into.
    pub fn tally(&self) -> Tally {
        self.result.clone()
    }

    /// The ranges given up on, ascending.
    pub fn quarantined(&self) -> &[(u64, u64)] {
        &self.quarantined
    }

    /// The chunk size.
    pub fn chunk_size(&self) -> u64 {
        self.size
    }
}

/// Locks the tally; a panic elsewhere while holding it does not matter to a
/// sum of counts.
fn lock(tally: &Tally) -> std::sync::MutexGuard<'_, ChunkResult> {
    tally.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        quarantine_min: 10,
    };

    fn result_for(c: Chunk) -> ChunkResult {
        ChunkResult {
            perfect: vec![],
            abundant: 0,
            deficient: c.len(),
            sigma_sum: c.len() as u128,
        }
    }

    #[test]
    fn cuts_the_range_into_chunks_and_finishes() {
        let mut s = Schedule::new(5, 27, 10, POLICY);
        let a = s.take(0).unwrap();
        let b = s.take(1).unwrap();
        assert_eq!((a.lo, a.hi, b.lo, b.hi), (5, 14, 15, 24));
        assert!(matches!(
            s.complete(0, a.id, &result_for(a)),
            Completion::Accepted { .. }
        ));
        let c = s.take(0).unwrap();
        assert_eq!((c.lo, c.hi), (25, 27));
        assert!(s.take(2).is_none());
        assert!(!s.is_finished());
        s.complete(1, b.id, &result_for(b));
        s.complete(0, c.id, &result_for(c));
        assert!(s.is_finished());
        assert_eq!(s.result().checked(), 23);
    }

    #[test]
    fn a_result_counts_once_and_only_from_its_slot() {
        let mut s = Schedule::new(1, 100, 50, POLICY);
        let a = s.take(0).unwrap();
        assert_eq!(s.complete(1, a.id, &result_for(a)), Completion::Stale);
        assert!(matches!(
            s.complete(0, a.id, &result_for(a)),
            Completion::Accepted { .. }
        ));
        assert_eq!(s.complete(0, a.id, &result_for(a)), Completion::Stale);
        let b = s.take(0).unwrap();
        let short = ChunkResult {
            deficient: 3,
            ..Default::default()
        };
        assert!(matches!(
            s.complete(0, b.id, &short),
            Completion::Miscounted { .. }
        ));
        assert_eq!(s.result().checked(), 50);
    }

    #[test]
    fn only_pieces_of_a_split_chunk_are_known_poison() {
        let mut s = Schedule::new(1, 100_000, 100_000, POLICY);
        for _ in 0..POLICY.max_attempts {
            s.take(0).unwrap();
            assert!(!s.is_suspect(0), "a whole chunk's deaths count");
            s.fail(0);
        }
        let half = s.take(0).unwrap();
        assert_eq!(half.len(), 50_000);
        assert!(s.is_suspect(0), "a half of a split chunk");
        assert!(!s.is_suspect(1), "a slot with no chunk");
    }

    #[test]
    fn counts_that_wrap_to_the_chunk_length_are_miscounted() {
        let mut s = Schedule::new(1, 100, 50, POLICY);
        let a = s.take(0).unwrap();
        // 2^64 − 1 + 51 wraps to 50 in a u64.
        let wrapped = ChunkResult {
            abundant: u64::MAX,
            deficient: 51,
            ..Default::default()
        };
        assert!(matches!(
            s.complete(0, a.id, &wrapped),
            Completion::Miscounted { .. }
        ));
        // Σσ that would wrap the tally.
        assert!(matches!(
            s.complete(0, a.id, &result_for(a)),
            Completion::Accepted { .. }
        ));
        let b = s.take(0).unwrap();
        let huge = ChunkResult {
            sigma_sum: u128::MAX,
            ..result_for(b)
        };
        assert!(matches!(
            s.complete(0, b.id, &huge),
            Completion::Miscounted { .. }
        ));
        assert_eq!(s.result().checked(), 50, "nothing of either counted");
    }

    #[test]
    fn a_failed_chunk_goes_back_to_the_head() {
        let mut s = Schedule::new(1, 100, 10, POLICY);
        let a = s.take(0).unwrap();
        let _b = s.take(1).unwrap();
        assert_eq!(
            s.fail(0),
            Some(Fate::Requeued {
                chunk: a,
                failures: 1
            })
        );
        assert_eq!(s.take(2), Some(a));
        assert_eq!(s.fail(3), None);
    }

    #[test]
    fn a_poison_chunk_is_bisected_down_to_the_quarantine_size() {
        let poison = 37;
        let mut s = Schedule::new(1, 100, 100, POLICY);
        let mut slot = 0;
        while let Some(c) = s.take(slot) {
            if (c.lo..=c.hi).contains(&poison) {
                s.fail(slot);
            } else {
                s.complete(slot, c.id, &result_for(c));
            }
            slot = (slot + 1) % 4;
        }
        assert!(s.is_finished());
        let q = s.quarantined();
        assert_eq!(q.len(), 1);
        let (lo, hi) = q[0];
        assert!(lo <= poison && poison <= hi && hi - lo < 10, "{q:?}");
        assert_eq!(s.result().checked() + (hi - lo + 1), 100);
    }

    #[test]
    fn a_resumed_schedule_skips_what_is_done() {
        let mut s = Schedule::new(1, 100, 10, POLICY);
        let done_before = ChunkResult {
            deficient: 36,
            ..Default::default()
        };
        s.resume(&[(1, 15), (40, 55), (96, 100)], &done_before);
        let mut cut = Vec::new();
        while let Some(c) = s.take(0) {
            cut.push((c.lo, c.hi));
            s.complete(0, c.id, &result_for(c));
        }
        assert_eq!(
            cut,
            vec![
                (16, 25),
                (26, 35),
                (36, 39),
                (56, 65),
                (66, 75),
                (76, 85),
                (86, 95)
            ]
        );
        assert!(s.is_finished());
        assert_eq!(s.result().checked(), 100);
        assert_eq!(s.done(), vec![(1, 100)]);
        let mut all_done = Schedule::new(1, 100, 10, POLICY);
        all_done.resume(&[(1, 100)], &ChunkResult::default());
        assert!(all_done.is_finished());
        assert!(all_done.take(0).is_none());
    }

    #[test]
    fn release_does_not_count_a_failure() {
        let mut s = Schedule::new(1, 10, 10, POLICY);
        let a = s.take(0).unwrap();
        s.release(0);
        assert_eq!(s.take(1), Some(a));
        assert_eq!(
            s.fail(1),
            Some(Fate::Requeued {
                chunk: a,
                failures: 1
            })
        );
    }
}
