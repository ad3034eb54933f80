//! The run's summary: the numbers found, the Σσ self-check, how the work was
//! shared out, and the exit status they add up to; written as text for a
//! person or as one JSON object for a program.

use crate::cli::{Config, Mode, exit};
use crate::hosts::LOCALHOST;
use crate::sigma::sigma_sum_range;
use crate::slurm::Allocation;
use crate::supervisor::{Ending, Outcome, SlotStats};
use serde::Serialize;
use std::fmt::Write as _;

/// One host's line in the per-host table.
#[derive(Debug, Serialize)]
pub struct HostLine {
    pub host: String,
    pub slots: usize,
    /// Chunks counted on its workers' answers, and their numbers.
    pub chunks: u64,
    pub numbers: u64,
    /// Chunks its workers computed again for double-checks.
    pub replicas: u64,
    /// Its workers that died.
    pub failures: u64,
    /// `up` (the local host, or a worker on it said Hello), `connecting`
    /// (none had when the run ended), or `down` (given up on during the
    /// run).
    pub state: &'static str,
    /// Why it was marked down.
    pub reason: Option<String>,
}

/// Everything a run reports. Field names are the JSON keys (a contract).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub min: u64,
    pub max: u64,
    pub procs: usize,
    pub start_method: &'static str,
    pub mode: &'static str,
    pub chunk: u64,
    pub perfect: Vec<u64>,
    pub checked: u64,
    pub abundant: u64,
    pub deficient: u64,
    pub sigma_sum: u128,
    /// Σσ from the identity, over the numbers that were checked.
    pub sigma_sum_expected: u128,
    pub sigma_sum_verified: bool,
    pub complete: bool,
    pub interrupted: Option<String>,
    pub quarantined: Vec<[u64; 2]>,
    pub restarts: u64,
    pub stalls: u64,
    /// Worker threads that could not be killed and were left running.
    pub abandoned: u64,
    /// Numbers taken from the journal of the run this one resumed.
    pub resumed: u64,
    /// Whether every event reached the `--events` file (true without one);
    /// set by the caller from [`crate::events::EventLog::complete`].
    pub events_complete: bool,
    /// One line per slot, as the run kept it.
    pub workers: Vec<SlotStats>,
    pub hosts: Vec<HostLine>,
    /// With `--hosts slurm`: the job id, its nodelist as Slurm wrote it,
    /// the nodes, and the variable the slots came from.
    pub slurm: Option<Allocation>,
    /// Chunks counted only once a second computation agreed (replicated
    /// verification, `--verify-first` and `--verify-sample`).
    pub verified_chunks: u64,
    /// Wrong answers caught: double-checks whose answers differed, and
    /// chunks whose Σσ the identity refuted.
    pub mismatches: u64,
    /// Double-checks the supervisor settled by computing the chunk itself
    /// (no uninvolved worker was left to ask).
    pub arbitrated: u64,
    /// Chunks taken back from hosts caught lying, and redone.
    pub revoked_chunks: u64,
    /// Whether any host's work was to be double-checked.
    #[serde(skip)]
    pub double_checking: bool,
    pub elapsed_s: f64,
    pub numbers_per_s: f64,
    pub exit_code: i32,
}

impl Summary {
    /// Builds the summary and runs the self-check: Σσ over the numbers that
    /// were checked must equal Σ d·⌊N/d⌋ over the same numbers, computed
    /// independently of the sieve. A lost or twice-counted chunk breaks it.
    pub fn new(cfg: &Config, outcome: &Outcome) -> Summary {
        let result = &outcome.result;
        let complete = outcome.ending == Ending::Finished && outcome.quarantined.is_empty();
        let expected = if outcome.ending == Ending::Finished {
            let quarantined: u128 = outcome
                .quarantined
                .iter()
                .map(|&(lo, hi)| sigma_sum_range(lo, hi))
                .sum();
            sigma_sum_range(cfg.min, cfg.max) - quarantined
        } else {
            // Interrupted: the chunks done are scattered; the check can only
            // be made over the whole range, so it is not made.
            0
        };
        let verified = outcome.ending == Ending::Finished && expected == result.sigma_sum;
        let exit_code = match &outcome.ending {
            Ending::Interrupted(sig) => 128 + *sig as i32,
            Ending::RestartIntensity | Ending::HostsDown => exit::RESTARTS,
            Ending::Failed(_) => exit::FAILED,
            Ending::Finished if !verified => exit::FAILED,
            Ending::Finished if !complete => exit::INCOMPLETE,
            Ending::Finished => exit::OK,
        };
        let elapsed_s = outcome.elapsed.as_secs_f64();
        let checked = result.checked();
        // A remote worker's pid is known once it has said an accepted Hello.
        let said_hello = |host: &str| {
            outcome
                .slots
                .iter()
                .any(|s| s.host == host && s.remote_pid.is_some())
        };
        Summary {
            min: cfg.min,
            max: cfg.max,
            procs: cfg.procs,
            start_method: match cfg.mode {
                Mode::Processes => cfg.start_method.name(),
                Mode::Threads => "thread",
            },
            mode: cfg.mode.name(),
            chunk: outcome.chunk_size,
            perfect: result.perfect.clone(),
            checked,
            abundant: result.abundant,
            deficient: result.deficient,
            sigma_sum: result.sigma_sum,
            sigma_sum_expected: expected,
            sigma_sum_verified: verified,
            complete,
            interrupted: match &outcome.ending {
                Ending::Interrupted(sig) => Some(sig.as_str().to_string()),
                Ending::RestartIntensity => Some("restart intensity exceeded".to_string()),
                Ending::HostsDown => Some("every host is down".to_string()),
                Ending::Failed(why) => Some(format!("error: {why}")),
                Ending::Finished => None,
            },
            quarantined: outcome.quarantined.iter().map(|&(l, h)| [l, h]).collect(),
            restarts: outcome.restarts,
            stalls: outcome.stalls,
            abandoned: outcome.abandoned,
            resumed: outcome.resumed,
            events_complete: true,
            workers: outcome.slots.clone(),
            hosts: outcome
                .hosts
                .iter()
                .map(|h| HostLine {
                    host: h.host.name.clone(),
                    slots: h.host.slots,
                    chunks: h.chunks,
                    numbers: h.numbers,
                    replicas: h.replicas,
                    failures: h.failures,
                    state: match (&h.down, h.host.is_local() || said_hello(&h.host.name)) {
                        (Some(_), _) => "down",
                        (None, true) => "up",
                        (None, false) => "connecting",
                    },
                    reason: h.down.clone(),
                })
                .collect(),
            slurm: cfg.slurm.clone(),
            verified_chunks: outcome.verified_chunks,
            mismatches: outcome.mismatches,
            arbitrated: outcome.arbitrated,
            revoked_chunks: outcome.revoked_chunks,
            double_checking: cfg.verify.iter().any(|p| p.first > 0 || p.sample > 0.0),
            elapsed_s,
            numbers_per_s: if elapsed_s > 0.0 {
                checked.saturating_sub(outcome.resumed) as f64 / elapsed_s
            } else {
                0.0
            },
            exit_code,
        }
    }

    /// One JSON object, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a summary always serializes")
    }

    /// The text summary for a person.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let on_hosts = self.hosts.len() > 1 || self.hosts.iter().any(|h| h.host != LOCALHOST);
        // What was checked: the whole range, or (a partial summary) how
        // much of it.
        let total = self.max - self.min + 1;
        let range = if self.checked >= total {
            format!("checked [{}, {}]", self.min, self.max)
        } else {
            format!(
                "checked {} of the {total} numbers in [{}, {}]",
                self.checked, self.min, self.max
            )
        };
        // Threads have no start method.
        let workers = if self.mode == "threads" {
            format!("{} worker threads", self.procs)
        } else {
            format!("{} worker processes ({})", self.procs, self.start_method)
        };
        let _ = writeln!(
            w,
            "{range} on {workers}{}, chunks of {}",
            if on_hosts {
                format!(" on {} hosts", self.hosts.len())
            } else {
                String::new()
            },
            self.chunk
        );
        if let Some(job) = &self.slurm {
            let _ = writeln!(
                w,
                "slurm job:       {} on {} ({}, slots from {})",
                job.job_id,
                job.nodelist,
                match job.nodes.len() {
                    1 => "1 node".to_string(),
                    n => format!("{n} nodes"),
                },
                job.slots_from
            );
        }
        let perfect: Vec<String> = self.perfect.iter().map(u64::to_string).collect();
        let _ = writeln!(
            w,
            "perfect numbers: {}",
            if perfect.is_empty() {
                "none".to_string()
            } else {
                perfect.join(", ")
            }
        );
        let _ = writeln!(w, "abundant:        {}", self.abundant);
        let _ = writeln!(w, "deficient:       {}", self.deficient);
        let _ = writeln!(w, "checked:         {}", self.checked);
        let check = if self.sigma_sum_verified {
            "verified: equals Σ d·⌊N/d⌋".to_string()
        } else if self.interrupted.is_some() {
            "not verified: the run was interrupted".to_string()
        } else {
            format!(
                "MISMATCH: Σ d·⌊N/d⌋ gives {}; a chunk was lost or counted twice",
                self.sigma_sum_expected
            )
        };
        let _ = writeln!(w, "Σσ:              {} ({check})", self.sigma_sum);
        if self.resumed > 0 {
            let _ = writeln!(
                w,
                "resumed:         {} numbers from the checkpoint journal",
                self.resumed
            );
        }
        if self.double_checking || self.mismatches > 0 || self.revoked_chunks > 0 {
            let _ = writeln!(
                w,
                "double-checked:  {} chunks recomputed and compared{}; {} wrong {} caught{}",
                self.verified_chunks,
                if self.arbitrated > 0 {
                    format!(" ({} settled by the supervisor)", self.arbitrated)
                } else {
                    String::new()
                },
                self.mismatches,
                if self.mismatches == 1 {
                    "answer"
                } else {
                    "answers"
                },
                if self.revoked_chunks > 0 {
                    format!(
                        ", {} chunks of untrustworthy hosts redone",
                        self.revoked_chunks
                    )
                } else {
                    String::new()
                }
            );
        }
        for [lo, hi] in &self.quarantined {
            let _ = writeln!(w, "quarantined:     [{lo}, {hi}] (not checked)");
        }
        if !self.events_complete {
            let _ = writeln!(
                w,
                "events:          incomplete (the --events file could not be written)"
            );
        }
        if let Some(why) = &self.interrupted {
            let _ = writeln!(w, "stopped early:   {why}; the counts above are partial");
        }
        let _ = writeln!(
            w,
            "elapsed:         {:.3} s ({:.1} million numbers/s)",
            self.elapsed_s,
            self.numbers_per_s / 1e6
        );
        let _ = writeln!(
            w,
            "restarts:        {}    stalls: {}",
            self.restarts, self.stalls
        );
        if self.abandoned > 0 {
            let _ = writeln!(
                w,
                "abandoned:       {} thread(s) stuck for good: a thread cannot be killed; \
                 each keeps its core and memory until the process exits",
                self.abandoned
            );
        }
        // Replicas (chunks computed again for double-checks) get a column
        // when there are any.
        let replicas = self.workers.iter().any(|s| s.replicas > 0);
        let column = |n: u64| {
            if replicas {
                format!(" {n:>8}")
            } else {
                String::new()
            }
        };
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "{:>5} {:>8} {:>7} {:>12} {:>8}{}",
            "slot",
            if self.mode == "threads" { "tid" } else { "pid" },
            "chunks",
            "numbers",
            "restarts",
            if replicas { " replicas" } else { "" }
        );
        for s in &self.workers {
            let _ = write!(
                w,
                "{:>5} {:>8} {:>7} {:>12} {:>8}{}",
                s.slot,
                s.pid,
                s.chunks,
                s.numbers,
                s.restarts,
                column(s.replicas)
            );
            let _ = if on_hosts {
                writeln!(w, "  {}", s.host)
            } else {
                writeln!(w)
            };
        }
        if on_hosts {
            let _ = writeln!(w);
            let _ = writeln!(
                w,
                "{:<24} {:>5} {:>7} {:>14} {:>8}{}  state",
                "host",
                "slots",
                "chunks",
                "numbers",
                "failures",
                if replicas { " replicas" } else { "" }
            );
            for h in &self.hosts {
                let _ = writeln!(
                    w,
                    "{:<24} {:>5} {:>7} {:>14} {:>8}{}  {}{}",
                    h.host,
                    h.slots,
                    h.chunks,
                    h.numbers,
                    h.failures,
                    column(h.replicas),
                    h.state,
                    h.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
            }
        }
        out
    }
}
