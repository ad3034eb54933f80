//! What happened during a run, as it happened: one timestamped line per
//! event on stderr for a person, and optionally the same events as JSON
//! lines in a file for a program.
//!
//! The event file is best effort: if a line cannot be written (a full disk,
//! `/dev/full`), that is said once on stderr, the partial line is cut off
//! where possible, nothing more is written to the file, and the run goes
//! on; [`EventLog::complete`] then says the file misses events.

use crate::hosts::LOCALHOST;
use serde::Serialize;
use std::fs::File;
use std::io::{self, Write};
use std::time::{Instant, SystemTime};

/// A chunk as events name it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ChunkRef {
    pub id: u64,
    pub lo: u64,
    pub hi: u64,
}

impl From<crate::schedule::Chunk> for ChunkRef {
    fn from(c: crate::schedule::Chunk) -> Self {
        ChunkRef {
            id: c.id,
            lo: c.lo,
            hi: c.hi,
        }
    }
}

/// One thing that happened to a worker, a chunk or the run.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A worker process began in a slot, on a host (for a remote host, the
    /// pid is its launcher's).
    Started { slot: usize, pid: i32, host: String },
    /// A remote worker said Hello: it runs, with this pid on its host.
    Connected {
        slot: usize,
        host: String,
        remote_pid: u32,
    },
    /// A worker that owes a frame was judged stuck: silent past the stall
    /// timeout and stopped, asleep, spinning, or past the hard bound; or
    /// not reading its input.
    Stalled {
        slot: usize,
        pid: i32,
        silent_s: f64,
        chunk: Option<ChunkRef>,
        why: String,
        /// Its resident memory when it was judged (a local worker's).
        rss_bytes: Option<u64>,
    },
    /// A line a remote worker (or its ssh) wrote on stderr.
    WorkerStderr {
        slot: usize,
        host: String,
        line: String,
    },
    /// The supervisor killed a worker, and why.
    Killed { slot: usize, pid: i32, why: String },
    /// A worker ended on its own or was killed: how it ended and what it was
    /// doing.
    Died {
        slot: usize,
        pid: i32,
        host: String,
        status: String,
        cause: String,
        chunk: Option<ChunkRef>,
    },
    /// A new process took over a slot.
    Replaced {
        slot: usize,
        old_pid: i32,
        new_pid: i32,
    },
    /// A replacement sent its first progress: the slot works again, this
    /// long after its predecessor's death was detected.
    Recovered {
        slot: usize,
        pid: i32,
        after_ms: f64,
    },
    /// A dead worker's chunk went back to the head of the queue.
    Requeued { chunk: ChunkRef, failures: u32 },
    /// A chunk that kept killing workers was split in halves.
    Split {
        chunk: ChunkRef,
        halves: [ChunkRef; 2],
    },
    /// A small chunk that still killed workers was given up on.
    Quarantined { chunk: ChunkRef },
    /// The run resumes a journal: how many of its numbers were already
    /// checked, and how many remain.
    Resumed {
        path: String,
        finished: u64,
        remaining: u64,
    },
    /// The journal was written at a stop.
    Checkpoint { path: String, finished: u64 },
    /// Writing the journal failed; the run goes on (the previous journal,
    /// if any, is intact) and tries again at the next interval. Said for
    /// the first failure since the last write that worked, and for the
    /// run's last write; `failures` counts them in between.
    CheckpointFailed {
        path: String,
        error: String,
        failures: u64,
    },
    /// A host was given up on: its workers are stopped, their chunks go
    /// to the other hosts.
    HostDown {
        host: String,
        failures: u64,
        reason: String,
    },
    /// The run is stopping, and why.
    Shutdown { reason: String },
    /// A worker could not be started (fork or spawn failed: EAGAIN, ENOMEM,
    /// EMFILE...): a failed restart, tried again after `retry_ms`.
    StartFailed {
        slot: usize,
        host: String,
        error: String,
        retry_ms: u64,
    },
    /// The run was paused (SIGTSTP, Ctrl-Z): its local workers are stopped
    /// with it.
    Paused { workers: usize },
    /// The run goes on after a pause (SIGCONT, `fg`), or after the
    /// supervisor found it had not been running (stopped on its own, or not
    /// scheduled): silence clocks start again, so the time it was not
    /// watching never counts as a worker's silence.
    Continued { paused_s: Option<f64>, why: String },
    /// A chunk was handed to the worker in a slot. Written to the
    /// `--events` file only (one a chunk is too many for a person), for
    /// `supervisor timeline`'s chunk bars.
    Assigned {
        slot: usize,
        chunk: ChunkRef,
        /// The double-check this is a replica for (absent for first work).
        #[serde(skip_serializing_if = "Option::is_none")]
        check: Option<u64>,
    },
    /// A chunk's result was accepted from the worker in a slot (file only,
    /// like `assigned`).
    Finished { slot: usize, chunk: ChunkRef },
    /// A chunk a host returned is to be computed again by another worker
    /// before it counts (`why`: `first` or `sample`). File only.
    DoubleCheck {
        check: u64,
        chunk: ChunkRef,
        host: String,
        why: String,
    },
    /// Two answers for a double-checked chunk differ: another worker (or
    /// the supervisor itself) decides.
    Mismatch {
        check: u64,
        lo: u64,
        hi: u64,
        hosts: Vec<String>,
        what: String,
    },
    /// A double-checked chunk is counted: two answers agreed (`by`
    /// `workers`) or the supervisor computed it (`supervisor`). `losers`
    /// are the hosts whose answers differed. A line for people only when
    /// there are losers.
    Verified {
        check: u64,
        lo: u64,
        hi: u64,
        by: String,
        losers: Vec<String>,
    },
    /// The Σσ self-check disagreed with the run's total, and bisection
    /// over prefix sums found this chunk's Σσ wrong.
    Refuted {
        lo: u64,
        hi: u64,
        host: String,
        claimed: u128,
        identity: u128,
    },
    /// A host caught lying: every chunk it returned is taken out of the
    /// result and redone elsewhere.
    Revoked {
        host: String,
        chunks: u64,
        numbers: u64,
        why: String,
    },
}

/// How a worker's end reads in a line, from its `status`: a process
/// "exited with code N" or "died of signal N (NAME)"; a thread "panicked",
/// "returned N", or "was abandoned" (it cannot be killed).
fn ending(status: &str) -> String {
    if let Some(code) = status.strip_prefix("exit code ") {
        format!("exited with code {code}")
    } else if status.starts_with("signal ") {
        format!("died of {status}")
    } else if status == crate::launch::ABANDONED {
        "was abandoned (a thread cannot be killed: it keeps its core and memory \
         until the process exits)"
            .to_string()
    } else {
        status.to_string()
    }
}

impl Event {
    /// The human line (without timestamp), naming a worker's process id
    /// `pid`.
    pub fn describe(&self) -> String {
        self.describe_as("pid")
    }

    /// The human line, naming a worker's id `ident` (`pid` for processes,
    /// `tid` for threads, as the summary does).
    pub fn describe_as(&self, ident: &str) -> String {
        let chunk = |c: &Option<ChunkRef>| match c {
            Some(c) => format!(" on chunk {} [{}, {}]", c.id, c.lo, c.hi),
            None => String::new(),
        };
        match self {
            Event::Started { slot, pid, host } if host == LOCALHOST => {
                format!("worker {slot} ({ident} {pid}) started")
            }
            Event::Started { slot, pid, host } => {
                format!("worker {slot} (launcher pid {pid}) starting on {host}")
            }
            Event::Connected {
                slot,
                host,
                remote_pid,
            } => format!("worker {slot} running on {host} as pid {remote_pid}"),
            Event::Stalled {
                slot,
                pid,
                silent_s,
                chunk: c,
                why,
                rss_bytes,
            } => format!(
                "worker {slot} ({ident} {pid}) stalled {silent_s:.1}s{}{}: {why}",
                chunk(c),
                match rss_bytes {
                    Some(b) if *b >= 256 << 20 => {
                        format!(" (using {:.1} GiB)", *b as f64 / (1u64 << 30) as f64)
                    }
                    _ => String::new(),
                }
            ),
            Event::WorkerStderr { slot, host, line } => {
                format!("worker {slot} on {host} says: {line}")
            }
            Event::Killed { slot, pid, why } => {
                format!("worker {slot} ({ident} {pid}) killed: {why}")
            }
            Event::Died {
                slot,
                pid,
                host,
                status,
                cause,
                chunk: c,
            } => format!(
                "worker {slot} ({ident} {pid}{}) {}{}{}",
                if host == LOCALHOST {
                    String::new()
                } else {
                    format!(" on {host}")
                },
                ending(status),
                chunk(c),
                // How it was found; "exited" (or its exit "seen by
                // waitpid") only repeats the ending.
                if cause == "exited" || cause == "seen by waitpid" {
                    String::new()
                } else {
                    format!(" ({cause})")
                }
            ),
            Event::Replaced {
                slot,
                old_pid,
                new_pid,
            } => format!("worker {slot} replaced: {ident} {old_pid} -> {ident} {new_pid}"),
            Event::Recovered {
                slot,
                pid,
                after_ms,
            } => format!(
                "worker {slot} ({ident} {pid}) working again {after_ms:.1} ms after the failure"
            ),
            Event::Requeued { chunk: c, failures } => format!(
                "chunk {} [{}, {}] requeued (failures: {failures})",
                c.id, c.lo, c.hi
            ),
            Event::Split { chunk: c, halves } => format!(
                "chunk {} [{}, {}] keeps killing workers: split into [{}, {}] and [{}, {}]",
                c.id, c.lo, c.hi, halves[0].lo, halves[0].hi, halves[1].lo, halves[1].hi
            ),
            Event::Quarantined { chunk: c } => format!(
                "chunk {} [{}, {}] quarantined: it kills every worker that checks it",
                c.id, c.lo, c.hi
            ),
            Event::HostDown {
                host,
                failures,
                reason,
            } => format!(
                "host {host} is down ({failures} failures): {reason}; its chunks go to the other hosts"
            ),
            Event::Shutdown { reason } => format!("shutdown: {reason}"),
            Event::StartFailed {
                slot,
                host,
                error,
                retry_ms,
            } => format!(
                "worker {slot} could not be started on {host}: {error}; trying again in {retry_ms} ms"
            ),
            Event::Paused { workers } => {
                format!("paused: {workers} workers stopped (continue with fg or SIGCONT)")
            }
            Event::Continued { paused_s, why } => match paused_s {
                Some(s) => format!("continued after {s:.1}s: {why}"),
                None => format!("continued: {why}"),
            },
            Event::CheckpointFailed {
                path,
                error,
                failures: 1,
            } => format!(
                "cannot write the checkpoint {path}: {error}; the run goes on \
                 (further failures are counted, not shown)"
            ),
            Event::CheckpointFailed {
                path,
                error,
                failures,
            } => format!(
                "cannot write the checkpoint {path}: {error} \
                 ({failures} failed writes in a row); the run goes on"
            ),
            Event::Checkpoint { path, finished } => {
                format!("checkpoint written to {path}: {finished} numbers finished")
            }
            Event::Resumed {
                path,
                finished,
                remaining,
            } => {
                let total = finished + remaining;
                format!(
                    "resuming {path}: {finished} of the {total} numbers already checked \
                     ({:.1}%), {remaining} to go",
                    if total == 0 {
                        100.0
                    } else {
                        *finished as f64 * 100.0 / total as f64
                    }
                )
            }
            Event::Assigned {
                slot,
                chunk: c,
                check,
            } => {
                format!(
                    "chunk {} [{}, {}] assigned to worker {slot}{}",
                    c.id,
                    c.lo,
                    c.hi,
                    match check {
                        Some(k) => format!(" (replica for double-check {k})"),
                        None => String::new(),
                    }
                )
            }
            Event::DoubleCheck {
                check,
                chunk: c,
                host,
                why,
            } => format!(
                "chunk {} [{}, {}] from {host} is double-checked ({check}, {why})",
                c.id, c.lo, c.hi
            ),
            Event::Mismatch {
                check,
                lo,
                hi,
                hosts,
                what,
            } => format!(
                "double-check {check} of [{lo}, {hi}]: the answers of {} differ ({what}); \
                 another worker decides",
                hosts.join(" and ")
            ),
            Event::Verified {
                check,
                lo,
                hi,
                by,
                losers,
            } => format!(
                "double-check {check} of [{lo}, {hi}] settled by {by}{}",
                if losers.is_empty() {
                    String::new()
                } else {
                    format!("; wrong answer from {}", losers.join(", "))
                }
            ),
            Event::Refuted {
                lo,
                hi,
                host,
                claimed,
                identity,
            } => format!(
                "chunk [{lo}, {hi}] from {host}: its Σσ {claimed} is not the identity's {identity}"
            ),
            Event::Revoked {
                host,
                chunks,
                numbers,
                why,
            } => match chunks {
                0 => format!(
                    "host {host} is not to be believed ({why}); none of its chunks had been counted"
                ),
                1 => format!(
                    "host {host} is not to be believed ({why}): its 1 chunk ({numbers} numbers) \
                     is taken back and redone"
                ),
                _ => format!(
                    "host {host} is not to be believed ({why}): its {chunks} chunks \
                     ({numbers} numbers) are taken back and redone"
                ),
            },
            Event::Finished { slot, chunk: c } => {
                format!(
                    "chunk {} [{}, {}] finished by worker {slot}",
                    c.id, c.lo, c.hi
                )
            }
        }
    }

    /// Whether the event gets a line on stderr: not the per-chunk ones,
    /// which only the `--events` file records.
    pub fn for_people(&self) -> bool {
        match self {
            Event::Assigned { .. } | Event::Finished { .. } | Event::DoubleCheck { .. } => false,
            Event::Verified { losers, .. } => !losers.is_empty(),
            _ => true,
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    t: f64,
    #[serde(flatten)]
    event: &'a Event,
}

/// Where events go.
pub struct EventLog {
    start: Instant,
    stderr: bool,
    file: Option<File>,
    /// Bytes of whole lines in `file`.
    written: u64,
    /// Whether every event meant for the file reached it.
    complete: bool,
    /// Lines of the live view now on the terminal, under the events.
    view_lines: usize,
    /// What a worker's id is called in lines: `pid`, or `tid` for threads.
    ident: &'static str,
}

impl EventLog {
    /// Events on stderr unless `quiet`, and as JSON lines into `file`.
    pub fn new(quiet: bool, file: Option<File>) -> EventLog {
        EventLog {
            start: Instant::now(),
            stderr: !quiet,
            file,
            written: 0,
            complete: true,
            view_lines: 0,
            ident: "pid",
        }
    }

    /// Names workers' ids `tid` in lines, for worker threads.
    pub fn for_threads(mut self, threads: bool) -> EventLog {
        self.ident = if threads { "tid" } else { "pid" };
        self
    }

    /// An event log that records nothing.
    pub fn silent() -> EventLog {
        EventLog::new(true, None)
    }

    /// Draws the live view in place of the previous one.
    pub fn show_view(&mut self, lines: &[String]) {
        let erase = crate::progress::erase(self.view_lines);
        let mut text = erase;
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        let _ = io::stderr().write_all(text.as_bytes());
        self.view_lines = lines.len();
    }

    /// Erases the live view.
    pub fn clear_view(&mut self) {
        let erase = crate::progress::erase(std::mem::take(&mut self.view_lines));
        let _ = io::stderr().write_all(erase.as_bytes());
    }

    /// Records one event.
    pub fn emit(&mut self, event: Event) {
        let time = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
        if self.stderr && event.for_people() {
            // The line goes where the live view was; the view is redrawn
            // under it on the next tick. Best effort: a closed stderr must
            // not stop the run.
            let erase = crate::progress::erase(std::mem::take(&mut self.view_lines));
            let _ = writeln!(
                io::stderr(),
                "{erase}{time} supervisor: {}",
                event.describe_as(self.ident)
            );
        }
        if let Some(file) = &mut self.file {
            let line = Line {
                time,
                t: self.start.elapsed().as_secs_f64(),
                event: &event,
            };
            let json = serde_json::to_string(&line).expect("an event always serializes") + "\n";
            match file.write_all(json.as_bytes()) {
                Ok(()) => self.written += json.len() as u64,
                Err(e) => {
                    // No torn last line where the file can be cut.
                    let _ = file.set_len(self.written);
                    self.file = None;
                    self.complete = false;
                    let erase = crate::progress::erase(std::mem::take(&mut self.view_lines));
                    let _ = writeln!(
                        io::stderr(),
                        "{erase}supervisor: warning: cannot write the --events file ({e}); \
                         the run goes on, and the file misses the events from here on"
                    );
                }
            }
        }
    }

    /// Whether every event meant for the `--events` file was written (true
    /// without one).
    pub fn complete(&self) -> bool {
        self.complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some_event() -> Event {
        Event::Shutdown {
            reason: "a test".into(),
        }
    }

    #[test]
    fn events_are_whole_json_lines_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut log = EventLog::new(true, Some(File::create(&path).unwrap()));
        log.emit(some_event());
        log.emit(some_event());
        assert!(log.complete());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["event"], "shutdown");
        }
        assert!(EventLog::silent().complete(), "no file, nothing missed");
    }

    #[test]
    fn a_file_that_cannot_be_written_makes_the_log_incomplete() {
        let Ok(full) = File::options().write(true).open("/dev/full") else {
            eprintln!("NOT RUN: no /dev/full");
            return;
        };
        let mut log = EventLog::new(true, Some(full));
        log.emit(some_event());
        assert!(!log.complete());
        assert!(log.file.is_none(), "no more attempts");
        log.emit(some_event());
        assert!(!log.complete());
    }

    fn died(status: &str, cause: &str) -> Event {
        Event::Died {
            slot: 2,
            pid: 77,
            host: LOCALHOST.to_string(),
            status: status.to_string(),
            cause: cause.to_string(),
            chunk: Some(ChunkRef {
                id: 5,
                lo: 1,
                hi: 9,
            }),
        }
    }

    #[test]
    fn a_worker_s_end_is_said_one_way() {
        assert_eq!(
            died("signal 9 (SIGKILL)", "closed its pipe").describe(),
            "worker 2 (pid 77) died of signal 9 (SIGKILL) on chunk 5 [1, 9] (closed its pipe)"
        );
        // Its exit seen first is not said twice, nor against a signal.
        let line = died("signal 9 (SIGKILL)", "exited").describe();
        assert!(!line.contains("exited"), "{line}");
        assert_eq!(
            died("exit code 7", "exited").describe(),
            "worker 2 (pid 77) exited with code 7 on chunk 5 [1, 9]"
        );
        let line = died(crate::launch::ABANDONED, "stalled 2.0s").describe_as("tid");
        assert!(
            line.starts_with("worker 2 (tid 77) was abandoned"),
            "{line}"
        );
        assert!(!line.contains("died"), "{line}");
    }

    #[test]
    fn threads_are_named_by_tid_in_every_line() {
        let events = [
            Event::Started {
                slot: 0,
                pid: 5,
                host: LOCALHOST.to_string(),
            },
            Event::Killed {
                slot: 0,
                pid: 5,
                why: "x".into(),
            },
            Event::Replaced {
                slot: 0,
                old_pid: 5,
                new_pid: 6,
            },
            Event::Recovered {
                slot: 0,
                pid: 6,
                after_ms: 1.0,
            },
            died("returned 0", "closed its pipe"),
        ];
        for event in events {
            let line = event.describe_as("tid");
            assert!(line.contains("tid ") && !line.contains("pid"), "{line}");
        }
    }
}
