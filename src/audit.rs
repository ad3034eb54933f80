//! Replicated verification, for what no identity covers (the
//! abundant/deficient split, a perfect number left out): which returned
//! chunks are computed a second time, the answers gathered for each, and
//! whose answer loses when they differ. This is BOINC's quorum and GIMPS's
//! double-check.
//!
//! - The first `--verify-first` chunks each host returns, and a random
//!   `--verify-sample` fraction of the rest, are picked ([`Audit::pick`]).
//! - A picked chunk is not counted yet: it becomes a check holding the
//!   first answer, and the loop hands a replica of it to a different
//!   worker (on another host when one is up).
//! - Two equal answers from different workers settle it: the chunk is
//!   counted, verified. Answers that differ are a mismatch: a third
//!   worker, on a host not yet involved, decides; when no such host is up,
//!   the supervisor computes the chunk itself and its answer decides
//!   ([`Audit::arbitrate`]). A host whose answer loses is untrustworthy.
//!
//! Pure bookkeeping: no I/O; the event loop acts on the verdicts.

use crate::rng::SplitMix64;
use crate::sigma::ChunkResult;
use crate::verify;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};

/// How much of one host's work is double-checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// The first this many chunks the host returns.
    pub first: u64,
    /// The fraction of the rest, picked at random (0 to 1).
    pub sample: f64,
}

impl Policy {
    /// The defaults: nothing on the local host, whose workers are this
    /// machine's own; the first 2 and 5% of the rest on a remote host.
    pub fn default_for(local: bool) -> Policy {
        if local {
            Policy {
                first: 0,
                sample: 0.0,
            }
        } else {
            Policy {
                first: 2,
                sample: 0.05,
            }
        }
    }
}

/// Why a chunk was picked for a double-check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// Among the first `--verify-first` its host returned.
    First,
    /// Picked at random (`--verify-sample`).
    Sample,
}

impl Why {
    pub fn name(self) -> &'static str {
        match self {
            Why::First => "first",
            Why::Sample => "sample",
        }
    }
}

/// One worker's answer for a chunk under check.
#[derive(Clone, Debug)]
pub struct Opinion {
    pub host: usize,
    pub slot: usize,
    pub pid: i32,
    pub result: ChunkResult,
}

/// A chunk being double-checked.
#[derive(Debug)]
struct Check {
    lo: u64,
    hi: u64,
    opinions: Vec<Opinion>,
    /// Whether answers for it have differed.
    mismatched: bool,
}

/// What the answers for a check add up to.
#[derive(Debug, PartialEq)]
pub enum Finding {
    /// Settled: count `result` for `[lo, hi]` as returned by the worker in
    /// `by`, `(host, slot)` (the first whose answer it was; `None`: the
    /// supervisor's own, which no worker gave).
    /// `losers` are the hosts whose answers differed from it, each with
    /// what differed: `by`'s own host too, if another of its workers
    /// answered wrong (the chunk is then revoked with the rest of its work).
    Settled {
        lo: u64,
        hi: u64,
        result: ChunkResult,
        by: Option<(usize, usize)>,
        losers: Vec<(usize, String)>,
        /// Whether the supervisor's own answer settled it.
        by_supervisor: bool,
    },
    /// The new answer differs from every other: another is needed. `what`
    /// says what differs.
    Mismatch { what: String },
    /// Fewer than two answers: another is needed.
    Waiting,
}

/// The run's double-checks and their tally.
#[derive(Debug)]
pub struct Audit {
    /// Per host.
    policies: Vec<Policy>,
    /// Per host: chunks of work returned so far.
    returned: Vec<u64>,
    /// Seeded at random per run, so a liar cannot predict which of its
    /// chunks are sampled.
    rng: SplitMix64,
    checks: BTreeMap<u64, Check>,
    next_check: u64,
    /// Chunks counted on two equal answers (or the supervisor's own).
    pub verified: u64,
    /// Checks whose answers differed.
    pub mismatches: u64,
    /// Checks the supervisor settled by computing the chunk itself.
    pub arbitrated: u64,
}

impl Audit {
    /// An audit with one policy per host.
    pub fn new(policies: Vec<Policy>) -> Audit {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Audit::with_seed(policies, seed)
    }

    fn with_seed(policies: Vec<Policy>, seed: u64) -> Audit {
        Audit {
            returned: vec![0; policies.len()],
            policies,
            rng: SplitMix64(seed),
            checks: BTreeMap::new(),
            next_check: 0,
            verified: 0,
            mismatches: 0,
            arbitrated: 0,
        }
    }

    /// Whether any host's work is double-checked at all.
    pub fn active(&self) -> bool {
        self.policies.iter().any(|p| p.first > 0 || p.sample > 0.0)
    }

    /// `host` returned a chunk of work: whether (and why) it is to be
    /// double-checked.
    pub fn pick(&mut self, host: usize) -> Option<Why> {
        let policy = self.policies[host];
        self.returned[host] += 1;
        if self.returned[host] <= policy.first {
            Some(Why::First)
        } else if policy.sample > 0.0 && self.rng.unit() < policy.sample {
            Some(Why::Sample)
        } else {
            None
        }
    }

    /// Opens a check of `[lo, hi]` with its first answer; its id.
    pub fn open(&mut self, lo: u64, hi: u64, first: Opinion) -> u64 {
        let id = self.next_check;
        self.next_check += 1;
        self.checks.insert(
            id,
            Check {
                lo,
                hi,
                opinions: vec![first],
                mismatched: false,
            },
        );
        id
    }

    /// The range of check `id`, if it is open.
    pub fn range(&self, id: u64) -> Option<(u64, u64)> {
        self.checks.get(&id).map(|c| (c.lo, c.hi))
    }

    /// Who has answered check `id`: the hosts and slots, and how many
    /// answers there are.
    pub fn involved(&self, id: u64) -> (Vec<usize>, Vec<usize>, usize) {
        match self.checks.get(&id) {
            Some(c) => (
                c.opinions.iter().map(|o| o.host).collect(),
                c.opinions.iter().map(|o| o.slot).collect(),
                c.opinions.len(),
            ),
            None => (Vec::new(), Vec::new(), 0),
        }
    }

    /// Adds an answer to check `id`; what they add up to. `None` if the
    /// check is no longer open (settled meanwhile): the answer is not
    /// needed.
    pub fn opine(&mut self, id: u64, opinion: Opinion) -> Option<Finding> {
        let check = self.checks.get_mut(&id)?;
        // Which worker may answer is the loop's to choose (a different one
        // whenever there is one); here two equal answers settle it.
        let agrees = check
            .opinions
            .iter()
            .position(|o| verify::compare(&o.result, &opinion.result).is_ok());
        if let Some(i) = agrees {
            let winner = check.opinions[i].clone();
            return Some(self.settle(id, winner.result, Some((winner.host, winner.slot)), false));
        }
        let what = check
            .opinions
            .iter()
            .find_map(|o| verify::compare(&o.result, &opinion.result).err());
        check.opinions.push(opinion);
        match what {
            Some(what) => {
                if !std::mem::replace(&mut check.mismatched, true) {
                    self.mismatches += 1;
                }
                Some(Finding::Mismatch { what })
            }
            None => Some(Finding::Waiting),
        }
    }

    /// Settles check `id` with the supervisor's own answer, `truth`
    /// (computed in-process when no uninvolved worker is left to ask).
    pub fn arbitrate(&mut self, id: u64, truth: ChunkResult) -> Option<Finding> {
        let check = self.checks.get(&id)?;
        let by = check
            .opinions
            .iter()
            .find(|o| o.result == truth)
            .map(|o| (o.host, o.slot));
        self.arbitrated += 1;
        Some(self.settle(id, truth, by, true))
    }

    fn settle(
        &mut self,
        id: u64,
        result: ChunkResult,
        by: Option<(usize, usize)>,
        by_supervisor: bool,
    ) -> Finding {
        let check = self.checks.remove(&id).expect("open");
        self.verified += 1;
        // Every host that gave a wrong answer loses, the winner's own
        // included (another of its workers gave the right one): a host that
        // answers wrong once is not to be believed.
        let mut losers: Vec<(usize, String)> = Vec::new();
        for o in &check.opinions {
            if let Err(what) = verify::compare(&o.result, &result)
                && !losers.iter().any(|(h, _)| *h == o.host)
            {
                losers.push((o.host, what));
            }
        }
        Finding::Settled {
            lo: check.lo,
            hi: check.hi,
            result,
            by,
            losers,
            by_supervisor,
        }
    }

    /// Forgets every answer `host` gave to an open check (it is not to be
    /// believed); each check keeps its replica outstanding, so it gathers
    /// answers again.
    pub fn forget_host(&mut self, host: usize) {
        for check in self.checks.values_mut() {
            check.opinions.retain(|o| o.host != host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(abundant: u64, deficient: u64) -> ChunkResult {
        ChunkResult {
            perfect: vec![],
            abundant,
            deficient,
            sigma_sum: 1000 + abundant as u128,
        }
    }

    fn opinion(host: usize, slot: usize, pid: i32, r: ChunkResult) -> Opinion {
        Opinion {
            host,
            slot,
            pid,
            result: r,
        }
    }

    #[test]
    fn picks_the_first_n_then_a_sample() {
        let mut a = Audit::with_seed(
            vec![
                Policy::default_for(true),
                Policy {
                    first: 3,
                    sample: 0.25,
                },
                Policy {
                    first: 0,
                    sample: 1.0,
                },
            ],
            1,
        );
        assert!(a.active());
        assert!((0..100).all(|_| a.pick(0).is_none()));
        let picks: Vec<_> = (0..3).map(|_| a.pick(1)).collect();
        assert_eq!(picks, [Some(Why::First); 3]);
        let sampled = (0..10_000).filter(|_| a.pick(1).is_some()).count();
        assert!((2_200..2_800).contains(&sampled), "{sampled}");
        assert!((0..100).all(|_| a.pick(2) == Some(Why::Sample)));
        let none = Audit::with_seed(vec![Policy::default_for(true)], 1);
        assert!(!none.active());
    }

    #[test]
    fn two_equal_answers_from_different_workers_settle_a_check() {
        let mut a = Audit::with_seed(vec![Policy::default_for(false); 2], 1);
        let id = a.open(1, 10, opinion(1, 1, 100, result(1, 9)));
        let v = a.opine(id, opinion(0, 0, 50, result(1, 9))).unwrap();
        assert_eq!(
            v,
            Finding::Settled {
                lo: 1,
                hi: 10,
                result: result(1, 9),
                by: Some((1, 1)),
                losers: vec![],
                by_supervisor: false,
            }
        );
        assert_eq!((a.verified, a.mismatches), (1, 0));
        assert_eq!(a.opine(id, opinion(0, 0, 50, result(1, 9))), None);
    }

    #[test]
    fn a_third_answer_decides_a_mismatch_and_names_the_loser() {
        let mut a = Audit::with_seed(vec![Policy::default_for(false); 3], 1);
        let id = a.open(1, 10, opinion(2, 2, 300, result(3, 7)));
        let v = a.opine(id, opinion(0, 0, 50, result(1, 9))).unwrap();
        assert!(matches!(v, Finding::Mismatch { ref what } if what.contains("abundant")));
        assert_eq!(a.involved(id), (vec![2, 0], vec![2, 0], 2));
        let Finding::Settled { by, losers, .. } =
            a.opine(id, opinion(1, 1, 60, result(1, 9))).unwrap()
        else {
            panic!("settled")
        };
        assert_eq!(by, Some((0, 0)));
        assert_eq!(losers.len(), 1);
        assert_eq!(losers[0].0, 2);
        assert_eq!((a.verified, a.mismatches, a.arbitrated), (1, 1, 0));
    }

    #[test]
    fn the_supervisor_s_own_answer_decides_when_no_one_else_can() {
        let mut a = Audit::with_seed(vec![Policy::default_for(false); 2], 1);
        let id = a.open(1, 10, opinion(1, 1, 300, result(3, 7)));
        a.opine(id, opinion(0, 0, 50, result(1, 9)));
        let Finding::Settled { by, losers, .. } = a.arbitrate(id, result(1, 9)).unwrap() else {
            panic!("settled")
        };
        assert_eq!(by, Some((0, 0)));
        assert_eq!(
            losers,
            vec![(1, "abundant differs: 3 against 1".to_string())]
        );
        // Neither right: both lose, the supervisor's answer counts.
        let id = a.open(1, 10, opinion(1, 1, 300, result(3, 7)));
        a.opine(id, opinion(0, 0, 50, result(2, 8)));
        let Finding::Settled { by, losers, .. } = a.arbitrate(id, result(1, 9)).unwrap() else {
            panic!("settled")
        };
        assert_eq!((by, losers.len()), (None, 2));
        assert_eq!((a.verified, a.mismatches, a.arbitrated), (2, 2, 2));
    }

    /// The right answer from one of a host's workers does not excuse the
    /// wrong one from another: the host loses all the same.
    #[test]
    fn a_wrong_answer_loses_whoever_gave_the_right_one() {
        let mut a = Audit::with_seed(vec![Policy::default_for(false); 2], 1);
        // Decided by the supervisor: the only host lied in slot 2.
        let id = a.open(1, 10, opinion(1, 2, 300, result(3, 7)));
        a.opine(id, opinion(1, 3, 301, result(1, 9)));
        let Finding::Settled { by, losers, .. } = a.arbitrate(id, result(1, 9)).unwrap() else {
            panic!("settled")
        };
        assert_eq!(by, Some((1, 3)));
        assert_eq!(
            losers,
            vec![(1, "abundant differs: 3 against 1".to_string())]
        );
        // Decided by workers: two equal answers from a host, a third from
        // the same host differing; named once.
        let id = a.open(1, 10, opinion(1, 2, 300, result(3, 7)));
        a.opine(id, opinion(1, 4, 302, result(2, 8)));
        let Finding::Settled { by, losers, .. } =
            a.opine(id, opinion(1, 3, 301, result(3, 7))).unwrap()
        else {
            panic!("settled")
        };
        assert_eq!(by, Some((1, 2)));
        assert_eq!(
            losers,
            vec![(1, "abundant differs: 2 against 3".to_string())]
        );
        // Another host's wrong answer loses as before; the winner's host,
        // all of whose answers were right, does not.
        let id = a.open(1, 10, opinion(0, 0, 50, result(3, 7)));
        a.opine(id, opinion(1, 3, 301, result(1, 9)));
        let Finding::Settled { by, losers, .. } =
            a.opine(id, opinion(1, 2, 300, result(1, 9))).unwrap()
        else {
            panic!("settled")
        };
        assert_eq!(by, Some((1, 3)));
        assert_eq!(losers.len(), 1);
        assert_eq!(losers[0].0, 0);
    }

    #[test]
    fn a_forgotten_host_s_answers_no_longer_count() {
        let mut a = Audit::with_seed(vec![Policy::default_for(false); 2], 1);
        let id = a.open(1, 10, opinion(1, 1, 300, result(3, 7)));
        a.forget_host(1);
        assert_eq!(a.involved(id).2, 0);
        assert_eq!(
            a.opine(id, opinion(0, 0, 50, result(1, 9))),
            Some(Finding::Waiting)
        );
        assert!(matches!(
            a.opine(id, opinion(0, 2, 70, result(1, 9))),
            Some(Finding::Settled {
                by: Some((0, 0)),
                ..
            })
        ));
    }
}
