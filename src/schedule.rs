//! The chunk queue (Python's `Queue` of work): chunks not yet handed out,
//! chunks in flight on a worker slot, the merged result of the chunks
//! counted with a ledger of what each one claimed and which host returned
//! it, and what happens to a chunk whose worker died: back to the head of
//! the queue, split in halves when it keeps killing workers, quarantined
//! when a small piece still does.
//!
//! A task is either a chunk's work or a replica of it: a second (or third)
//! computation of a chunk that is being double-checked
//! ([`crate::audit`] decides which and compares the answers). A chunk is
//! counted only once its answer is believed, and can be revoked (taken out
//! of the result and handed out again) when its host turns out to lie.
//!
//! One rule makes results exact under any fault: a result is accepted only
//! from the slot its task is in flight on, and only once; a chunk is
//! counted at most once.

use crate::fault::Tally;
use crate::ranges::RangeSet;
use crate::sigma::{ChunkResult, Overflow, sigma_sum_range};
use crate::verify::Claim;
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

/// What a task handed out is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// The chunk's work, the first time its numbers are computed.
    Work,
    /// Another computation of a chunk under double-check `check`.
    Replica { check: u64 },
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

/// What became of the task of a slot whose worker died.
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
    /// A replica that killed too many workers: no worker will recompute
    /// the chunk, so the caller must settle check `check` another way.
    ReplicaGivenUp { chunk: Chunk, check: u64 },
}

/// The answer to a worker's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The task in flight on this slot: it is off the slot now, and the
    /// caller decides whether to [`Schedule::count`] the result.
    Returned { chunk: Chunk, task: Task },
    /// Not the task in flight on this slot: ignored.
    Stale,
    /// The result does not cover the chunk's numbers: the worker is faulty
    /// (the task stays in flight, to be failed with its worker).
    Miscounted { chunk: Chunk, checked: u64 },
}

#[derive(Clone, Copy, Debug)]
struct Attempt {
    chunk: Chunk,
    task: Task,
    failures: u32,
    /// Whether the chunk it was cut from killed workers (a half of a split).
    suspect: bool,
}

/// What a counted chunk claimed, and who said so: enough to check its Σσ
/// against the identity and to take it out of the result again. 56 bytes
/// a chunk (Σσ as two words, so nothing is padded to a u128's alignment;
/// the perfect numbers are the result's own, found by range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub lo: u64,
    pub hi: u64,
    pub abundant: u64,
    /// Σσ, low and high words.
    sigma: [u64; 2],
    /// The host whose worker returned it (the first whose answer agreed,
    /// if it was double-checked); [`SUPERVISOR`] if the supervisor
    /// computed it.
    host: u32,
    /// That worker's slot.
    pub slot: u32,
    /// How many perfect numbers it holds.
    pub perfect: u32,
}

/// [`Entry::host`] of a chunk the supervisor computed itself.
const SUPERVISOR: u32 = u32::MAX;

impl Entry {
    /// Σσ over the chunk, as its answer claimed.
    pub fn sigma_sum(&self) -> u128 {
        self.sigma[0] as u128 | (self.sigma[1] as u128) << 64
    }

    /// The host whose worker returned it; `None`: the supervisor's own.
    pub fn host(&self) -> Option<usize> {
        (self.host != SUPERVISOR).then_some(self.host as usize)
    }
}

/// The run's chunks. Chunks are cut from `[min, max]` lazily, so memory does
/// not grow with the range, except for the ledger of counted chunks.
#[derive(Debug)]
pub struct Schedule {
    cursor: u64,
    max: u64,
    size: u64,
    next_id: u64,
    /// Tasks to hand out before fresh chunks: failed chunks, revoked
    /// chunks, and replicas.
    retry: VecDeque<Attempt>,
    in_flight: BTreeMap<usize, Attempt>,
    /// The merged result; shared, so worker threads can reach it.
    result: Tally,
    /// The numbers whose chunks are counted (including a resumed journal's).
    done: RangeSet,
    /// Every chunk counted by this run (a resumed journal's ranges are not
    /// in it: the journal was checked as a whole). A vector, appended to
    /// and sorted by first number only when it is read in order: no tree
    /// nodes (a BTreeMap took 112 bytes a chunk, this 56), and no insert
    /// in the middle (chunks redone late would each move the rest).
    ledger: Vec<Entry>,
    /// Whether `ledger` is in ascending order.
    ledger_sorted: bool,
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
            // Grown as chunks are counted, nothing reserved for the whole
            // range: a worker started by fork inherits the supervisor's
            // address space, and `--worker-mem` (RLIMIT_AS) counts even
            // untouched pages of a reservation.
            ledger: Vec::new(),
            ledger_sorted: true,
            quarantined: Vec::new(),
            policy,
        }
    }

    fn new_chunk(&mut self, lo: u64, hi: u64) -> Chunk {
        let id = self.next_id;
        self.next_id += 1;
        Chunk { id, lo, hi }
    }

    /// Hands the next task to `slot` (which must hold none): a task waiting
    /// at the head of the queue (a retry, a revoked chunk, or a replica
    /// `slot` may compute, as `may_check` says of its check), else a fresh
    /// chunk.
    pub fn take(&mut self, slot: usize, may_check: impl Fn(u64) -> bool) -> Option<(Chunk, Task)> {
        assert!(!self.in_flight.contains_key(&slot), "slot {slot} is busy");
        let waiting = self.retry.iter().position(|a| match a.task {
            Task::Work => true,
            Task::Replica { check } => may_check(check),
        });
        let attempt = match waiting {
            Some(i) => self.retry.remove(i).expect("found"),
            None if self.skip_done() => {
                let lo = self.cursor;
                let mut hi = lo.saturating_add(self.size - 1).min(self.max);
                if let Some((next_done, _)) = self.done.next_after(lo) {
                    hi = hi.min(next_done - 1);
                }
                self.cursor = hi + 1; // hi ≤ max ≤ MAX_SUPPORTED: no overflow
                Attempt {
                    chunk: self.new_chunk(lo, hi),
                    task: Task::Work,
                    failures: 0,
                    suspect: false,
                }
            }
            None => return None,
        };
        self.in_flight.insert(slot, attempt);
        Some((attempt.chunk, attempt.task))
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

    /// Takes a result for task `id` off `slot`, if that is the task in
    /// flight there and the result covers exactly its numbers. It is not
    /// counted yet: see [`Schedule::count`].
    pub fn complete(&mut self, slot: usize, id: u64, result: &ChunkResult) -> Completion {
        let Some(attempt) = self.in_flight.get(&slot) else {
            return Completion::Stale;
        };
        let chunk = attempt.chunk;
        if chunk.id != id {
            return Completion::Stale;
        }
        if result.count() != chunk.len() as u128
            || result.perfect.iter().any(|&n| n < chunk.lo || n > chunk.hi)
        {
            return Completion::Miscounted {
                chunk,
                checked: result.checked(),
            };
        }
        let task = attempt.task;
        self.in_flight.remove(&slot);
        Completion::Returned { chunk, task }
    }

    /// Counts `result` as the answer for `[lo, hi]`, returned by the worker
    /// in `(host, slot)` (`None`: computed by the supervisor).
    /// Refused, nothing counted, if the sums would not fit (no result that
    /// passed [`crate::verify::check_result`] can cause that).
    pub fn count(
        &mut self,
        lo: u64,
        hi: u64,
        result: &ChunkResult,
        by: Option<(usize, usize)>,
    ) -> Result<(), Overflow> {
        debug_assert!(
            self.done.containing(lo).is_none(),
            "[{lo}, {hi}] counted twice"
        );
        lock(&self.result).merge(result)?;
        self.done.insert(lo, hi);
        if self.ledger.last().is_some_and(|e| e.lo > lo) {
            self.ledger_sorted = false;
        }
        self.ledger.push(Entry {
            lo,
            hi,
            abundant: result.abundant,
            sigma: [result.sigma_sum as u64, (result.sigma_sum >> 64) as u64],
            host: by.map_or(SUPERVISOR, |(h, _)| h as u32),
            slot: by.map_or(SUPERVISOR, |(_, s)| s as u32),
            perfect: result.perfect.len() as u32,
        });
        Ok(())
    }

    /// Puts `[lo, hi]` at the head of the queue as fresh work (a chunk
    /// revoked, or one whose answers could not be counted).
    pub fn requeue(&mut self, lo: u64, hi: u64) -> Chunk {
        let chunk = self.new_chunk(lo, hi);
        self.retry.push_front(Attempt {
            chunk,
            task: Task::Work,
            failures: 0,
            suspect: false,
        });
        chunk
    }

    /// Puts a replica of `[lo, hi]` for check `check` at the head of the
    /// queue.
    pub fn replicate(&mut self, lo: u64, hi: u64, check: u64) -> Chunk {
        let chunk = self.new_chunk(lo, hi);
        self.retry.push_front(Attempt {
            chunk,
            task: Task::Replica { check },
            failures: 0,
            suspect: false,
        });
        chunk
    }

    /// Drops the replicas of check `check` still waiting in the queue.
    pub fn cancel_replicas(&mut self, check: u64) {
        self.retry.retain(|a| a.task != Task::Replica { check });
    }

    /// The checks whose replicas wait in the queue.
    pub fn queued_checks(&self) -> Vec<u64> {
        self.retry
            .iter()
            .filter_map(|a| match a.task {
                Task::Replica { check } => Some(check),
                Task::Work => None,
            })
            .collect()
    }

    /// Takes every chunk `host` returned out of the result and puts it at
    /// the head of the queue: the host is not to be believed. The chunks,
    /// as requeued, with what the ledger held of each.
    pub fn revoke_host(&mut self, host: usize) -> Vec<(Chunk, Entry)> {
        let mut theirs = Vec::new();
        self.ledger.retain(|e| {
            let mine = e.host() == Some(host);
            if mine {
                theirs.push(*e);
            }
            !mine
        });
        theirs
            .into_iter()
            .map(|e| (self.take_back(&e), e))
            .collect()
    }

    /// Takes the counted chunk starting at `lo` out of the result, the
    /// numbers it covered out of the done set, and puts it at the head of
    /// the queue (returned, with what the ledger held of it).
    pub fn revoke(&mut self, lo: u64) -> Option<(Chunk, Entry)> {
        self.sort_ledger();
        let at = self.ledger.binary_search_by_key(&lo, |e| e.lo).ok()?;
        let e = self.ledger.remove(at);
        Some((self.take_back(&e), e))
    }

    /// Takes a chunk no longer in the ledger out of the result and the
    /// done set, and puts it at the head of the queue.
    fn take_back(&mut self, e: &Entry) -> Chunk {
        let (lo, len) = (e.lo, e.hi - e.lo + 1);
        {
            let mut t = lock(&self.result);
            t.perfect.retain(|&n| n < lo || n > e.hi);
            t.abundant = t.abundant.saturating_sub(e.abundant);
            let deficient = len - e.abundant - e.perfect as u64;
            t.deficient = t.deficient.saturating_sub(deficient);
            t.sigma_sum = t.sigma_sum.saturating_sub(e.sigma_sum());
        }
        self.done.remove(lo, e.hi);
        self.requeue(lo, e.hi)
    }

    /// The counted chunks as the Σσ localisation sees them, ascending, and
    /// the host of each.
    pub fn claims(&mut self) -> (Vec<Claim>, Vec<Option<usize>>) {
        self.sort_ledger();
        self.ledger
            .iter()
            .map(|e| {
                (
                    Claim {
                        lo: e.lo,
                        hi: e.hi,
                        sigma_sum: e.sigma_sum(),
                    },
                    e.host(),
                )
            })
            .unzip()
    }

    /// Whether the ledger's Σσ, summed, is the identity's over the chunks
    /// it holds (one evaluation pair per run of contiguous chunks), read
    /// in place: the check of a run that went right copies nothing.
    pub fn ledger_agrees(&mut self) -> bool {
        self.sort_ledger();
        let mut claimed = Some(0u128);
        let mut expected = 0u128;
        let mut run: Option<(u64, u64)> = None;
        for e in &self.ledger {
            claimed = claimed.and_then(|c| c.checked_add(e.sigma_sum()));
            run = match run {
                Some((lo, hi)) if hi + 1 == e.lo => Some((lo, e.hi)),
                Some((lo, hi)) => {
                    expected += sigma_sum_range(lo, hi);
                    Some((e.lo, e.hi))
                }
                None => Some((e.lo, e.hi)),
            };
        }
        if let Some((lo, hi)) = run {
            expected += sigma_sum_range(lo, hi);
        }
        claimed == Some(expected)
    }

    fn sort_ledger(&mut self) {
        if !self.ledger_sorted {
            self.ledger.sort_unstable_by_key(|e| e.lo);
            self.ledger_sorted = true;
        }
    }

    /// Whether the task in flight on `slot` is already known to kill
    /// workers: it is a piece of a chunk that killed `max_attempts` of them
    /// and was split. A death on such a piece has a known cause, and the
    /// bisection is bounded by itself (at most `max_attempts` deaths per
    /// halving, down to `quarantine_min`), so it is not the restart
    /// intensity's to count. (Deaths on a whole chunk still count: that is
    /// how a crash loop of unknown cause is stopped.)
    pub fn is_suspect(&self, slot: usize) -> bool {
        self.in_flight.get(&slot).is_some_and(|a| a.suspect)
    }

    /// The worker on `slot` died: decide its task's fate. `None` if the
    /// slot held no task.
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
        if let Task::Replica { check } = attempt.task {
            return Some(Fate::ReplicaGivenUp { chunk, check });
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
        for half in [halves.1, halves.0] {
            self.retry.push_front(Attempt {
                chunk: half,
                task: Task::Work,
                failures: 0,
                suspect: true,
            });
        }
        Some(Fate::Split { chunk, halves })
    }

    /// Gives a task back without blaming its worker (the run is stopping,
    /// or its host was marked down).
    pub fn release(&mut self, slot: usize) {
        if let Some(a) = self.in_flight.remove(&slot) {
            self.retry.push_front(a);
        }
    }

    /// Whether tasks wait to be handed out.
    pub fn has_pending(&self) -> bool {
        let fresh = match self.done.containing(self.cursor) {
            Some((_, hi)) => hi < self.max,
            None => self.cursor <= self.max,
        };
        !self.retry.is_empty() || fresh
    }

    /// Whether every number is either counted or quarantined (or under a
    /// check that has no task left: see [`crate::audit`]).
    pub fn is_finished(&self) -> bool {
        !self.has_pending() && self.in_flight.is_empty()
    }

    /// The merged result of every counted chunk.
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

    /// Takes the next task for `slot`, any replica allowed.
    fn take(s: &mut Schedule, slot: usize) -> Option<Chunk> {
        s.take(slot, |_| true).map(|(c, _)| c)
    }

    /// Completes `c` on `slot` with `r` and counts it if it is returned
    /// work (host 0).
    fn finish(s: &mut Schedule, slot: usize, c: Chunk, r: &ChunkResult) -> Completion {
        let done = s.complete(slot, c.id, r);
        if let Completion::Returned {
            task: Task::Work, ..
        } = done
        {
            s.count(c.lo, c.hi, r, Some((0, slot))).unwrap();
        }
        done
    }

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
        let a = take(&mut s, 0).unwrap();
        let b = take(&mut s, 1).unwrap();
        assert_eq!((a.lo, a.hi, b.lo, b.hi), (5, 14, 15, 24));
        assert!(matches!(
            finish(&mut s, 0, a, &result_for(a)),
            Completion::Returned { .. }
        ));
        let c = take(&mut s, 0).unwrap();
        assert_eq!((c.lo, c.hi), (25, 27));
        assert!(take(&mut s, 2).is_none());
        assert!(!s.is_finished());
        finish(&mut s, 1, b, &result_for(b));
        finish(&mut s, 0, c, &result_for(c));
        assert!(s.is_finished());
        assert_eq!(s.result().checked(), 23);
    }

    #[test]
    fn a_result_counts_once_and_only_from_its_slot() {
        let mut s = Schedule::new(1, 100, 50, POLICY);
        let a = take(&mut s, 0).unwrap();
        assert_eq!(finish(&mut s, 1, a, &result_for(a)), Completion::Stale);
        assert!(matches!(
            finish(&mut s, 0, a, &result_for(a)),
            Completion::Returned { .. }
        ));
        assert_eq!(finish(&mut s, 0, a, &result_for(a)), Completion::Stale);
        let b = take(&mut s, 0).unwrap();
        let short = ChunkResult {
            deficient: 3,
            ..Default::default()
        };
        assert!(matches!(
            finish(&mut s, 0, b, &short),
            Completion::Miscounted { .. }
        ));
        assert_eq!(s.result().checked(), 50);
    }

    #[test]
    fn only_pieces_of_a_split_chunk_are_known_poison() {
        let mut s = Schedule::new(1, 100_000, 100_000, POLICY);
        for _ in 0..POLICY.max_attempts {
            take(&mut s, 0).unwrap();
            assert!(!s.is_suspect(0), "a whole chunk's deaths count");
            s.fail(0);
        }
        let half = take(&mut s, 0).unwrap();
        assert_eq!(half.len(), 50_000);
        assert!(s.is_suspect(0), "a half of a split chunk");
        assert!(!s.is_suspect(1), "a slot with no chunk");
    }

    #[test]
    fn counts_that_wrap_to_the_chunk_length_are_miscounted() {
        let mut s = Schedule::new(1, 100, 50, POLICY);
        let a = take(&mut s, 0).unwrap();
        // 2^64 − 1 + 51 wraps to 50 in a u64.
        let wrapped = ChunkResult {
            abundant: u64::MAX,
            deficient: 51,
            ..Default::default()
        };
        assert!(matches!(
            finish(&mut s, 0, a, &wrapped),
            Completion::Miscounted { .. }
        ));
        // Σσ that would wrap the tally.
        assert!(matches!(
            finish(&mut s, 0, a, &result_for(a)),
            Completion::Returned { .. }
        ));
        let b = take(&mut s, 0).unwrap();
        let huge = ChunkResult {
            sigma_sum: u128::MAX,
            ..result_for(b)
        };
        assert!(matches!(
            s.complete(0, b.id, &huge),
            Completion::Returned { .. }
        ));
        assert_eq!(s.count(b.lo, b.hi, &huge, Some((0, 0))), Err(Overflow));
        assert_eq!(s.result().checked(), 50, "nothing of either counted");
        assert_eq!(s.done(), vec![(1, 50)]);
    }

    #[test]
    fn a_revoked_host_s_chunks_leave_the_result_and_are_handed_out_again() {
        let mut s = Schedule::new(1, 40, 10, POLICY);
        let with_perfect = |c: Chunk| {
            let mut r = result_for(c);
            if (c.lo..=c.hi).contains(&28) {
                r.perfect = vec![28];
                r.deficient -= 1;
                r.abundant += 2;
                r.deficient -= 2;
            }
            r
        };
        for (slot, host) in [(0, 0), (1, 1), (0, 0), (1, 1)] {
            let c = take(&mut s, slot).unwrap();
            assert!(matches!(
                s.complete(slot, c.id, &with_perfect(c)),
                Completion::Returned { .. }
            ));
            s.count(c.lo, c.hi, &with_perfect(c), Some((host, slot)))
                .unwrap();
        }
        assert!(s.is_finished());
        assert_eq!(s.result().perfect, [28]);
        let (claims, hosts) = s.claims();
        assert_eq!(claims.len(), 4);
        assert_eq!(hosts, [Some(0), Some(1), Some(0), Some(1)]);
        // Host 1 returned [11, 20] and [31, 40].
        let revoked = s.revoke_host(1);
        assert_eq!(revoked.len(), 2);
        assert!(
            revoked
                .iter()
                .all(|(_, e)| e.slot == 1 && e.host() == Some(1))
        );
        assert_eq!(s.done(), vec![(1, 10), (21, 30)]);
        let r = s.result();
        assert_eq!(
            (r.checked(), r.perfect.clone(), r.abundant),
            (20, vec![28], 2)
        );
        assert!(!s.is_finished());
        // Host 0's chunk with 28 in it goes too.
        s.revoke(21).unwrap();
        let r = s.result();
        assert_eq!((r.checked(), r.abundant, r.sigma_sum), (10, 0, 10));
        assert!(r.perfect.is_empty());
        // They are handed out again, and counted again.
        let mut again = Vec::new();
        while let Some(c) = take(&mut s, 2) {
            again.push((c.lo, c.hi));
            finish(&mut s, 2, c, &with_perfect(c));
        }
        again.sort_unstable();
        assert_eq!(again, [(11, 20), (21, 30), (31, 40)]);
        assert_eq!(s.done(), vec![(1, 40)]);
        // Counted out of order, read in order.
        let (claims, _) = s.claims();
        let los: Vec<u64> = claims.iter().map(|c| c.lo).collect();
        assert_eq!(los, [1, 11, 21, 31]);
        assert_eq!(s.result().checked(), 40);
        assert!(s.is_finished());
    }

    #[test]
    fn replicas_go_only_where_allowed_and_are_never_split() {
        let mut s = Schedule::new(1, 100, 50, POLICY);
        let a = take(&mut s, 0).unwrap();
        assert_eq!(
            s.complete(0, a.id, &result_for(a)),
            Completion::Returned {
                chunk: a,
                task: Task::Work
            }
        );
        let r = s.replicate(a.lo, a.hi, 7);
        // Slot 0 may not check it: it gets fresh work; slot 1 gets the
        // replica.
        let (b, task) = s.take(0, |_| false).unwrap();
        assert_eq!((b.lo, task), (51, Task::Work));
        let (c, task) = s.take(1, |check| check == 7).unwrap();
        assert_eq!((c, task), (r, Task::Replica { check: 7 }));
        for _ in 1..POLICY.max_attempts {
            assert!(matches!(s.fail(1), Some(Fate::Requeued { .. })));
            assert_eq!(s.queued_checks(), [7]);
            s.take(1, |_| true).unwrap();
        }
        assert_eq!(s.fail(1), Some(Fate::ReplicaGivenUp { chunk: r, check: 7 }));
        assert!(s.queued_checks().is_empty());
        s.replicate(a.lo, a.hi, 8);
        s.cancel_replicas(8);
        assert!(!s.has_pending());
    }

    #[test]
    fn a_failed_chunk_goes_back_to_the_head() {
        let mut s = Schedule::new(1, 100, 10, POLICY);
        let a = take(&mut s, 0).unwrap();
        let _b = take(&mut s, 1).unwrap();
        assert_eq!(
            s.fail(0),
            Some(Fate::Requeued {
                chunk: a,
                failures: 1
            })
        );
        assert_eq!(take(&mut s, 2), Some(a));
        assert_eq!(s.fail(3), None);
    }

    #[test]
    fn a_poison_chunk_is_bisected_down_to_the_quarantine_size() {
        let poison = 37;
        let mut s = Schedule::new(1, 100, 100, POLICY);
        let mut slot = 0;
        while let Some(c) = take(&mut s, slot) {
            if (c.lo..=c.hi).contains(&poison) {
                s.fail(slot);
            } else {
                finish(&mut s, slot, c, &result_for(c));
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
        while let Some(c) = take(&mut s, 0) {
            cut.push((c.lo, c.hi));
            finish(&mut s, 0, c, &result_for(c));
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
        assert!(take(&mut all_done, 0).is_none());
    }

    #[test]
    fn release_does_not_count_a_failure() {
        let mut s = Schedule::new(1, 10, 10, POLICY);
        let a = take(&mut s, 0).unwrap();
        s.release(0);
        assert_eq!(take(&mut s, 1), Some(a));
        assert_eq!(
            s.fail(1),
            Some(Fate::Requeued {
                chunk: a,
                failures: 1
            })
        );
    }
}
