//! The supervisor's event loop: the story of a run. One thread, one
//! `poll(2)` over the workers' pipes and a signalfd. Each turn it starts the
//! workers that are due, hands chunks to idle ones, waits for something to
//! happen (a frame, an end of file, a child's exit, a signal, a deadline),
//! handles it, and looks at the workers that have gone quiet.
//!
//! Single-threaded on purpose: `fork()` is only safe in a process with one
//! thread, so there is no ticker, logging or reaper thread here.
//!
//! A slot's life (starting, connecting, idle, busy, waiting to restart,
//! down) is in [`crate::slot`]; this loop only decides when it moves on.
//! Whatever ends a worker goes through [`Supervisor::retire`], which returns
//! what must follow (a host to mark down) instead of acting on other slots
//! itself; new workers start and chunks are handed out at the top of the
//! next turn, never from inside a handler.
//!
//! The supervisor acts for its workers towards the terminal: they live in
//! process groups of their own, so Ctrl-C, Ctrl-Z and a hang-up reach only
//! the supervisor. SIGINT, SIGTERM and SIGHUP stop the run gracefully;
//! SIGTSTP stops the workers and then the supervisor, and continuing it
//! continues them. Time the loop was not running (paused, stopped, not
//! scheduled) never counts as a worker's silence.
//!
//! Slots belong to hosts. A remote worker is supervised like a local one
//! (its handle is its launcher, ssh); on top of that, its host keeps a count
//! of failures in a row, and a host that reaches `--host-retries` is marked
//! down: its workers are stopped, their chunks given back, and the run goes
//! on with the other hosts.

use crate::audit::{Audit, Finding, Opinion};
use crate::checkpoint::{self, Journal};
use crate::cli::{Config, Mode};
use crate::events::{ChunkRef, Event, EventLog};
use crate::health::{RestartPolicy, StallRule, StallTimeout, Verdict};
use crate::hosts::Host;
use crate::inherited;
use crate::launch::{Launcher, Remote, Start, StderrLines, launch_failure};
use crate::mp::{Pipes, poll_timeout};
use crate::progress::{self, SlotLine, SlotTally, Snapshot};
use crate::protocol::{FromWorker, Setup, check_hello};
use crate::schedule::{Chunk, Completion, Fate, RetryPolicy, Schedule, Task};
use crate::sigma::{ChunkResult, Kernel, sigma_sum_range};
use crate::slot::{Phase, Slot, State, Worker};
use crate::verify;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, raise, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use crate::slot::SlotStats;

/// What one host did over the run.
#[derive(Clone, Debug)]
pub struct HostStats {
    pub host: Host,
    /// Chunks counted on its workers' answers, and their numbers.
    pub chunks: u64,
    pub numbers: u64,
    /// Chunks its workers computed again for double-checks.
    pub replicas: u64,
    /// Its workers that died (not counting those stopped because the host
    /// was marked down, or while the run was ending).
    pub failures: u64,
    /// Failures since its last finished chunk.
    streak: u32,
    /// Why it was marked down, if it was.
    pub down: Option<String>,
    /// Whether it was caught lying (and every chunk it returned revoked).
    pub untrusted: bool,
}

/// How the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every chunk counted or quarantined.
    Finished,
    /// Stopped by SIGINT, SIGTERM or SIGHUP.
    Interrupted(Signal),
    /// Stopped because workers died (or failed to start) faster than the
    /// restart intensity allows.
    RestartIntensity,
    /// Stopped because every host was marked down.
    HostsDown,
    /// Stopped by an error that is no worker's fault (exit 1).
    Failed(String),
}

/// What the event loop hands to the report.
#[derive(Debug)]
pub struct Outcome {
    pub ending: Ending,
    pub result: ChunkResult,
    pub quarantined: Vec<(u64, u64)>,
    pub chunk_size: u64,
    pub restarts: u64,
    pub stalls: u64,
    pub abandoned: u64,
    /// Numbers counted by the run this one resumed.
    pub resumed: u64,
    pub slots: Vec<SlotStats>,
    pub hosts: Vec<HostStats>,
    pub elapsed: Duration,
    /// Chunks counted only once a second answer (or the supervisor's own)
    /// agreed.
    pub verified_chunks: u64,
    /// Wrong answers caught: double-checks whose answers differed, and
    /// chunks whose Σσ the identity refuted.
    pub mismatches: u64,
    /// Double-checks the supervisor settled by computing the chunk itself.
    pub arbitrated: u64,
    /// Chunks taken back from hosts caught lying, and redone.
    pub revoked_chunks: u64,
}

/// A failure before the run began (exit 1).
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a descriptor the event loop polls is.
#[derive(Clone, Copy)]
enum Source {
    /// A worker's frames.
    Frames,
    /// A remote worker's stderr.
    Stderr,
    /// A worker's input, while frames wait for it to read.
    Input,
}

/// Why a worker is being retired.
enum Cause {
    /// End of file on its pipe.
    Eof { inside_frame: bool },
    /// Its exit was seen by `waitpid`.
    Exited,
    /// It sent bytes that are not a valid frame, or a wrong message.
    BadFrame(String),
    /// Its result fails the supervisor's own check.
    BadResult(String),
    /// Writing to it failed, or it does not read what is written.
    WriteFailed(io::Error),
    /// It was judged stuck.
    Stalled(String),
    /// Its host was marked down.
    HostDown,
    /// Its Hello names another program: its host is refused.
    Refused(String),
}

impl Cause {
    fn describe(&self) -> String {
        match self {
            Cause::Eof {
                inside_frame: false,
            } => "closed its pipe".into(),
            Cause::Eof { inside_frame: true } => "its pipe ended inside a frame".into(),
            Cause::Exited => "seen by waitpid".into(),
            Cause::BadFrame(why) => format!("bad frame: {why}"),
            Cause::BadResult(why) => format!("its result was refused: {why}"),
            Cause::WriteFailed(e) => format!("could not be written to: {e}"),
            Cause::Stalled(why) => format!("stalled: {why}"),
            Cause::HostDown => "its host was marked down".into(),
            Cause::Refused(why) => format!("refused: {why}"),
        }
    }
}

/// What must follow a worker's retirement, beyond its own slot.
#[must_use]
enum Follow {
    Nothing,
    /// Its host is to be marked down, for this reason.
    MarkDown(usize, String),
}

/// The run's state, driven by [`Supervisor::run`].
pub struct Supervisor<'a> {
    launcher: Launcher,
    log: &'a mut EventLog,
    /// The run's range, `[min, max]`.
    range: (u64, u64),
    schedule: Schedule,
    slots: Vec<Slot>,
    hosts: Vec<HostStats>,
    signals: SignalFd,
    old_mask: SigSet,
    stall: StallRule,
    intensity: RestartPolicy,
    grace: Duration,
    stop: Option<Ending>,
    kill_now: bool,
    restarts: u64,
    stalls: u64,
    /// Threads that could not be killed and were left running.
    abandoned: u64,
    /// Numbers counted by the run this one resumes.
    resumed: u64,
    checkpoint: Option<Checkpoint>,
    /// When the live view is next redrawn; `None` without a view.
    next_draw: Option<Instant>,
    heartbeat: Duration,
    started: Instant,
    host_retries: u32,
    connect_timeout: Duration,
    /// When remote workers are next pinged; `None` without remote hosts.
    next_ping: Option<Instant>,
    /// Set when the supervisor continued its own workers after a pause, so
    /// the SIGCONT that woke it is not reported twice.
    just_continued: bool,
    /// The double-checks.
    audit: Audit,
    /// Hosts caught lying, not yet acted on (at the top of the next turn),
    /// with what gave them away.
    untrusted: Vec<(usize, String)>,
    /// Chunks revoked from hosts caught lying.
    revoked_chunks: u64,
    /// Chunks whose Σσ the identity refuted.
    refuted: u64,
    /// Times the finished run's Σσ was localised and work given back.
    reconciled: u32,
    /// The supervisor's own sieve, made the first time it must settle a
    /// double-check itself.
    kernel: Option<Kernel>,
}

/// Which hosts can take replicas this turn ([`Supervisor::hosts_now`]).
struct HostsNow {
    /// Per host: not down, and local or with a worker that has said Hello
    /// and is still there (a host being connected to, or never again, does
    /// not hold double-checks up).
    usable: Vec<bool>,
    /// Per host: its slots not down.
    slots_up: Vec<usize>,
}

impl HostsNow {
    /// Whether a usable host is not among `answered`.
    fn uninvolved(&self, answered: &[usize]) -> bool {
        self.usable
            .iter()
            .enumerate()
            .any(|(h, &usable)| usable && !answered.contains(&h))
    }
}

/// Where and how often the journal is written.
struct Checkpoint {
    path: PathBuf,
    every: Duration,
    next: Instant,
    failures: checkpoint::SaveFailures,
}

/// How long a worker that closed its pipe gets to finish exiting before it
/// is killed (so its real exit status can be reported).
const EXIT_GRACE: Duration = Duration::from_millis(100);

/// A remote worker's watchdog is this many stall timeouts (and at least
/// [`MIN_WATCHDOG`]); it is pinged four times per watchdog period.
const WATCHDOG_STALLS: u32 = 2;
const MIN_WATCHDOG: Duration = Duration::from_secs(2);

/// After a remote failure, the slot waits this long times 2^(failures in a
/// row - 1), at most [`MAX_BACKOFF`], before its next worker starts: a
/// host that refuses a burst of connections gets a moment. A start that
/// fails here (fork or spawn) backs off the same way.
const BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A loop that wakes this much later than it asked to was not running
/// (stopped, or not scheduled): the time is taken off every silence.
const LATE: Duration = Duration::from_millis(500);

/// Bytes read from one worker per wakeup, so a worker that floods cannot
/// starve the others.
const READ_BUDGET: usize = 64 * 1024;

/// The signals the loop reads from its signalfd.
const SIGNALS: [Signal; 6] = [
    Signal::SIGCHLD,
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGTSTP,
    Signal::SIGCONT,
];

/// Whether SIGINT, SIGTERM or SIGHUP is waiting in the signalfd: a stop
/// that arrived after this turn's signals were read.
fn stop_signal_pending() -> bool {
    let mut pending = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending writes the set of pending signals into `pending`,
    // a buffer of the right type, and changes nothing.
    if unsafe { libc::sigpending(pending.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: sigpending filled it when it returned 0.
    let pending = unsafe { pending.assume_init() };
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
        .into_iter()
        // SAFETY: sigismember only reads the set.
        .any(|sig| unsafe { libc::sigismember(&pending, sig) } == 1)
}

fn backoff(failures_in_a_row: u32) -> Duration {
    BACKOFF
        .saturating_mul(1 << failures_in_a_row.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

impl<'a> Supervisor<'a> {
    /// Prepares a run: blocks the signals it handles so they arrive on a
    /// signalfd the event loop polls (the mask is restored on drop).
    pub fn new(
        cfg: &'a Config,
        log: &'a mut EventLog,
        journal: Option<Journal>,
    ) -> Result<Supervisor<'a>, Fatal> {
        let mut mask = SigSet::empty();
        for sig in SIGNALS {
            // A stop signal the supervisor was started with ignored (nohup)
            // stays ignored; SIGCHLD was reset to its default before.
            if sig == Signal::SIGCHLD || sig == Signal::SIGCONT || !inherited::is_ignored(sig) {
                mask.add(sig);
            }
        }
        let mut old_mask = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old_mask))
            .map_err(|e| Fatal(format!("cannot block signals: {e}")))?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| Fatal(format!("cannot create a signalfd: {e}")))?;
        let policy = RetryPolicy {
            max_attempts: cfg.max_attempts,
            quarantine_min: cfg.quarantine_min,
        };
        let mut schedule = Schedule::new(cfg.min, cfg.max, cfg.chunk, policy);
        let resumed = match &journal {
            Some(j) => {
                schedule.resume(&j.done, &j.result);
                j.finished()
            }
            None => 0,
        };
        let watchdog = cfg
            .stall_timeout
            .saturating_mul(WATCHDOG_STALLS)
            .max(MIN_WATCHDOG);
        let slots = cfg
            .hosts
            .iter()
            .enumerate()
            .flat_map(|(h, host)| std::iter::repeat_n(h, host.slots))
            .enumerate()
            .map(|(i, h)| Slot::new(i, h, &cfg.hosts[h].name, cfg.faults[i].clone()))
            .collect();
        let now = Instant::now();
        Ok(Supervisor {
            launcher: Launcher {
                start: match cfg.mode {
                    Mode::Processes => Start::Process(cfg.start_method),
                    Mode::Threads => Start::Thread,
                },
                setup: Setup {
                    max: cfg.max,
                    heartbeat_ms: cfg.heartbeat.as_millis() as u64,
                    watchdog_ms: None,
                    mem_limit: cfg.worker_mem,
                    fault: None,
                    crash_at: cfg.crash_at,
                },
                tally: schedule.tally(),
                program: None,
                remote: Remote {
                    template: cfg.launcher.clone(),
                    worker: cfg.remote_worker.clone(),
                    watchdog,
                },
            },
            log,
            range: (cfg.min, cfg.max),
            schedule,
            slots,
            hosts: cfg
                .hosts
                .iter()
                .map(|h| HostStats {
                    host: h.clone(),
                    chunks: 0,
                    numbers: 0,
                    replicas: 0,
                    failures: 0,
                    streak: 0,
                    down: None,
                    untrusted: false,
                })
                .collect(),
            signals,
            old_mask,
            stall: StallRule {
                timeout: StallTimeout(cfg.stall_timeout),
                heartbeat: cfg.heartbeat,
            },
            intensity: RestartPolicy::new(cfg.max_restarts, cfg.restart_window),
            grace: cfg.grace,
            stop: None,
            kill_now: false,
            restarts: 0,
            stalls: 0,
            abandoned: 0,
            resumed,
            checkpoint: cfg.checkpoint.clone().map(|path| Checkpoint {
                path,
                every: cfg.checkpoint_every,
                next: now + cfg.checkpoint_every,
                failures: Default::default(),
            }),
            next_draw: cfg.progress.then_some(now),
            heartbeat: cfg.heartbeat,
            started: now,
            host_retries: cfg.host_retries,
            connect_timeout: cfg.connect_timeout,
            next_ping: cfg
                .hosts
                .iter()
                .any(|h| !h.is_local())
                .then(|| now + watchdog / 4),
            just_continued: false,
            audit: Audit::new(cfg.verify.clone()),
            untrusted: Vec::new(),
            revoked_chunks: 0,
            refuted: 0,
            reconciled: 0,
            kernel: None,
        })
    }

    /// Runs until every chunk is counted (or quarantined), or the run is
    /// stopped; every worker is reaped and the journal written before this
    /// returns, whatever ended the run.
    pub fn run(mut self) -> Outcome {
        self.run_loop();
        self.shut_down();
        self.write_checkpoint(true);
        Outcome {
            ending: self.stop.clone().unwrap_or(Ending::Finished),
            result: self.schedule.result().clone(),
            quarantined: self.schedule.quarantined().to_vec(),
            chunk_size: self.schedule.chunk_size(),
            restarts: self.restarts,
            stalls: self.stalls,
            abandoned: self.abandoned,
            resumed: self.resumed,
            slots: self.slots.iter().map(|s| s.stats.clone()).collect(),
            hosts: self.hosts.clone(),
            elapsed: self.started.elapsed(),
            verified_chunks: self.audit.verified,
            mismatches: self.audit.mismatches + self.refuted,
            arbitrated: self.audit.arbitrated,
            revoked_chunks: self.revoked_chunks,
        }
    }

    fn run_loop(&mut self) {
        loop {
            self.act_on_liars();
            if self.stop.is_none() && self.schedule.is_finished() {
                self.reconcile();
            }
            if self.stop.is_some() || self.schedule.is_finished() {
                break;
            }
            self.start_due();
            self.offer_work();
            let deadline = self.next_deadline();
            self.wait_and_dispatch(deadline);
            self.look_at_quiet_workers();
            let now = Instant::now();
            if self.checkpoint.as_ref().is_some_and(|c| now >= c.next) {
                self.write_checkpoint(false);
            }
            if self.next_draw.is_some_and(|t| now >= t) {
                self.draw_view();
            }
            if self.next_ping.is_some_and(|t| now >= t) {
                self.ping_remote();
            }
        }
        if self.next_draw.is_some() {
            self.log.clear_view();
        }
    }

    /// Stops the run for a reason that is no worker's fault.
    fn fail_run(&mut self, why: String) {
        if self.stop.is_none() {
            self.log.emit(Event::Shutdown {
                reason: format!("error: {why}"),
            });
            self.stop = Some(Ending::Failed(why));
        }
    }

    /// Redraws the live view from the run's state.
    fn draw_view(&mut self) {
        let now = Instant::now();
        self.next_draw = Some(now + progress::REDRAW);
        let result = self.schedule.result();
        let mut done = result.checked();
        let quiet_for = self.heartbeat.saturating_mul(3) + progress::REDRAW;
        let slots = self
            .slots
            .iter()
            .map(|slot| {
                let (state, progress) = slot.view(now, quiet_for);
                done += progress;
                let host = &self.hosts[slot.host].host;
                SlotLine {
                    slot: slot.index,
                    pid: slot.stats.pid,
                    state,
                    chunk: slot.chunk().map(|c| (c.lo, c.hi, progress)),
                    restarts: slot.stats.restarts,
                    host: (!host.is_local()).then(|| host.name.clone()),
                }
            })
            .collect();
        let elapsed = self.started.elapsed().as_secs_f64();
        let snapshot = Snapshot {
            total: self.range.1 - self.range.0 + 1,
            done,
            rate: if elapsed > 0.0 {
                done.saturating_sub(self.resumed) as f64 / elapsed
            } else {
                0.0
            },
            perfect: result.perfect,
            slots,
        };
        let tallies: Vec<SlotTally> = self
            .slots
            .iter()
            .map(|s| SlotTally {
                chunks: s.stats.chunks,
                numbers: s.stats.numbers,
                rate: if s.busy.is_zero() {
                    0.0
                } else {
                    s.stats.numbers as f64 / s.busy.as_secs_f64()
                },
            })
            .collect();
        let lines = progress::render_tallied(&snapshot, &tallies, progress::width());
        self.log.show_view(&lines);
    }

    /// Writes the journal of what is done (atomically); `last` at a stop,
    /// which is also reported as an event.
    fn write_checkpoint(&mut self, last: bool) {
        let Some(cp) = &mut self.checkpoint else {
            return;
        };
        cp.next = Instant::now() + cp.every;
        let journal = Journal::new(
            self.range.0,
            self.range.1,
            self.schedule.chunk_size(),
            self.schedule.done(),
            self.schedule.result(),
        );
        let saved = checkpoint::save(&cp.path, &journal);
        if saved.is_ok() {
            cp.failures.succeeded();
        }
        match saved {
            Ok(()) if last => self.log.emit(Event::Checkpoint {
                path: cp.path.display().to_string(),
                finished: journal.finished(),
            }),
            Ok(()) => {}
            Err(e) => match cp.failures.failed() {
                failures if failures == 1 || last => self.log.emit(Event::CheckpointFailed {
                    path: cp.path.display().to_string(),
                    error: e.to_string(),
                    failures,
                }),
                _ => {}
            },
        }
    }

    /// How long a worker may stay silent before it is looked at: the stall
    /// timeout, or for a remote worker still connecting, at least
    /// `--connect-timeout` (connecting and logging in can take longer).
    fn silence_limit(&self, w: &Worker) -> Duration {
        if w.remote && !w.ready() {
            self.stall.timeout.0.max(self.connect_timeout)
        } else {
            self.stall.timeout.0
        }
    }

    /// When a quiet worker is next to be looked at.
    fn look_at(&self, w: &Worker) -> Instant {
        let quiet = w
            .next_look
            .unwrap_or_else(|| w.heard + self.silence_limit(w));
        match w.outbox_since {
            Some(since) => quiet.min(since + self.stall.timeout.0),
            None => quiet,
        }
    }

    /// The earliest moment something is due: a quiet worker to look at, a
    /// worker to start, the journal, the view, or the remote pings.
    fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|slot| match &slot.state {
                State::Live(w) if slot.owes_frames() => Some(self.look_at(w)),
                State::Waiting { at } => Some(*at),
                _ => None,
            })
            .chain(self.checkpoint.as_ref().map(|c| c.next))
            .chain(self.next_draw)
            .chain(self.next_ping)
            .min()
    }

    /// Starts a worker in every slot whose turn has come.
    fn start_due(&mut self) {
        let now = Instant::now();
        for slot in 0..self.slots.len() {
            if self.stop.is_none() && self.slots[slot].due(now) {
                self.start(slot);
            }
        }
    }

    /// Starts a worker in `slot`. A start that fails (fork or spawn: EAGAIN,
    /// ENOMEM, EMFILE) is a failed restart: reported, counted in the restart
    /// intensity, and tried again after a backoff.
    fn start(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        let host = &self.hosts[s.host].host;
        let remote = !host.is_local();
        let fault = s.faults.pop_front();
        let setup = self.launcher.setup(host, fault);
        let started = self
            .launcher
            .start(host)
            .and_then(|(handle, pipes)| prepare(handle, pipes, setup, remote));
        let worker = match started {
            Ok(worker) => worker,
            Err(e) => {
                if let Some(f) = fault {
                    s.faults.push_front(f);
                }
                s.failed_starts += 1;
                let wait = backoff(s.failed_starts);
                s.state = State::Waiting {
                    at: Instant::now() + wait,
                };
                self.log.emit(Event::StartFailed {
                    slot,
                    host: host.name.clone(),
                    error: e.to_string(),
                    retry_ms: wait.as_millis() as u64,
                });
                self.count_restart();
                return;
            }
        };
        let pid = worker.handle.pid();
        let old_pid = std::mem::replace(&mut s.stats.pid, pid);
        s.install(worker);
        self.log.emit(Event::Started {
            slot,
            pid,
            host: s.stats.host.clone(),
        });
        if old_pid != 0 {
            self.log.emit(Event::Replaced {
                slot,
                old_pid,
                new_pid: pid,
            });
        }
    }

    /// Records a restart (or a failed start) against the restart intensity;
    /// one too many stops the run.
    fn count_restart(&mut self) {
        if !self.intensity.allow(Instant::now()) && self.stop.is_none() {
            self.stop = Some(Ending::RestartIntensity);
            self.log.emit(Event::Shutdown {
                reason: format!(
                    "restart intensity exceeded ({}): stopping the run",
                    self.intensity.describe()
                ),
            });
        }
    }

    /// Hands a chunk to every idle worker, while there are chunks.
    fn offer_work(&mut self) {
        if self.stop.is_some() {
            return;
        }
        self.settle_stranded();
        let now = Instant::now();
        let hosts = self.hosts_now();
        for slot in 0..self.slots.len() {
            if !self.slots[slot].is_idle() {
                continue;
            }
            let allowed: Vec<u64> = self
                .schedule
                .queued_checks()
                .into_iter()
                .filter(|&check| self.may_check(&hosts, slot, check))
                .collect();
            let Some((chunk, task)) = self.schedule.take(slot, |c| allowed.contains(&c)) else {
                continue;
            };
            let w = self.slots[slot].worker_mut().expect("idle is live");
            match w.assign(chunk, now) {
                Ok(()) => self.log.emit(Event::Assigned {
                    slot,
                    chunk: chunk.into(),
                    check: match task {
                        Task::Replica { check } => Some(check),
                        Task::Work => None,
                    },
                }),
                Err(e) => self.end(slot, Cause::WriteFailed(e)),
            }
        }
    }

    /// Which hosts can take replicas now, and how many slots each has up.
    fn hosts_now(&self) -> HostsNow {
        let mut now = HostsNow {
            usable: vec![false; self.hosts.len()],
            slots_up: vec![0; self.hosts.len()],
        };
        for (h, host) in self.hosts.iter().enumerate() {
            now.usable[h] = host.down.is_none() && host.host.is_local();
        }
        for s in &self.slots {
            if !matches!(s.state, State::Down) {
                now.slots_up[s.host] += 1;
            }
            if s.worker().is_some_and(Worker::ready) && self.hosts[s.host].down.is_none() {
                now.usable[s.host] = true;
            }
        }
        now
    }

    /// Whether the worker in `slot` may compute a replica for `check`: one
    /// on a host that has not answered it, while such a host is usable.
    /// With none, a second answer may come from another worker of the one
    /// host that answered (or its only one); a third, which decides a
    /// mismatch, comes from no worker: the supervisor computes it
    /// ([`Supervisor::settle_stranded`]).
    fn may_check(&self, now: &HostsNow, slot: usize, check: u64) -> bool {
        let (hosts, slots, answers) = self.audit.involved(check);
        if answers == 0 {
            return true;
        }
        let h = self.slots[slot].host;
        if now.uninvolved(&hosts) {
            return !hosts.contains(&h);
        }
        answers < 2 && (!slots.contains(&slot) || now.slots_up[h] <= 1)
    }

    /// Whether some worker may compute a replica for `check` (see
    /// [`Supervisor::may_check`]): with fewer than two answers, one always
    /// may; a third needs a usable host that has not answered.
    fn can_be_checked(&self, now: &HostsNow, check: u64) -> bool {
        let (hosts, _, answers) = self.audit.involved(check);
        answers < 2 || now.uninvolved(&hosts)
    }

    /// Settles the double-checks whose replicas no worker may compute any
    /// more (their hosts went down, or a mismatch has no uninvolved host to
    /// decide it) by computing them here.
    fn settle_stranded(&mut self) {
        let now = self.hosts_now();
        for check in self.schedule.queued_checks() {
            if !self.can_be_checked(&now, check) {
                self.schedule.cancel_replicas(check);
                self.arbitrate(check);
            }
        }
    }

    /// Settles double-check `check` with the supervisor's own answer: the
    /// chunk is sieved here, in this thread, by the same exact kernel the
    /// workers run (one core: about 0.05 s for the largest default chunk,
    /// 2^22 numbers). The time it takes is not the workers' silence.
    fn arbitrate(&mut self, check: u64) {
        let Some((lo, hi)) = self.audit.range(check) else {
            return;
        };
        let began = Instant::now();
        let max = self.range.1;
        let truth = self
            .kernel
            .get_or_insert_with(|| Kernel::new(max))
            .run(lo, hi, |_| {});
        let took = began.elapsed();
        if took > Duration::from_millis(100) {
            self.restart_silence(Some(took));
        }
        if let Some(verdict) = self.audit.arbitrate(check, truth) {
            self.on_verdict(check, verdict);
        }
    }

    /// A worker's answer for `chunk`, already checked on its own
    /// ([`verify::check_result`]): counted, or held for a double-check, or
    /// added to one.
    fn take_answer(&mut self, chunk: Chunk, task: Task, answer: Opinion) {
        match task {
            Task::Work => match self.audit.pick(answer.host) {
                None => self.count(
                    chunk.lo,
                    chunk.hi,
                    &answer.result,
                    Some((answer.host, answer.slot)),
                ),
                Some(why) => {
                    let host = self.hosts[answer.host].host.name.clone();
                    let check = self.audit.open(chunk.lo, chunk.hi, answer);
                    self.log.emit(Event::DoubleCheck {
                        check,
                        chunk: chunk.into(),
                        host,
                        why: why.name().into(),
                    });
                    self.ask_again(check);
                }
            },
            Task::Replica { check } => {
                if let Some(verdict) = self.audit.opine(check, answer) {
                    self.on_verdict(check, verdict);
                }
            }
        }
    }

    /// Acts on what the answers for `check` add up to.
    fn on_verdict(&mut self, check: u64, verdict: Finding) {
        match verdict {
            Finding::Settled {
                lo,
                hi,
                result,
                by,
                losers,
                by_supervisor,
            } => {
                self.count(lo, hi, &result, by);
                let name = |h: usize| self.hosts[h].host.name.clone();
                self.log.emit(Event::Verified {
                    check,
                    lo,
                    hi,
                    by: if by_supervisor {
                        "the supervisor".into()
                    } else {
                        "workers".into()
                    },
                    losers: losers.iter().map(|(h, _)| name(*h)).collect(),
                });
                for (h, what) in losers {
                    self.untrusted.push((
                        h,
                        format!("its answer for [{lo}, {hi}] lost a double-check: {what}"),
                    ));
                }
            }
            Finding::Mismatch { what } => {
                let (lo, hi) = self.audit.range(check).expect("open");
                let (hosts, _, _) = self.audit.involved(check);
                let mut names: Vec<String> = Vec::new();
                for h in hosts {
                    let name = &self.hosts[h].host.name;
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                self.log.emit(Event::Mismatch {
                    check,
                    lo,
                    hi,
                    hosts: names,
                    what,
                });
                self.ask_again(check);
            }
            Finding::Waiting => self.ask_again(check),
        }
    }

    /// Asks for another answer for `check`: a replica for a worker that may
    /// compute it, or the supervisor's own when none may.
    fn ask_again(&mut self, check: u64) {
        if self.can_be_checked(&self.hosts_now(), check) {
            let (lo, hi) = self.audit.range(check).expect("open");
            self.schedule.replicate(lo, hi, check);
        } else {
            self.arbitrate(check);
        }
    }

    /// Counts `result` for `[lo, hi]`, returned by the worker in `(host,
    /// slot)` (`None`: computed by the supervisor), and credits it.
    fn count(&mut self, lo: u64, hi: u64, result: &ChunkResult, by: Option<(usize, usize)>) {
        let counted = self.schedule.count(lo, hi, result, by);
        if let (Ok(()), Some((h, slot))) = (&counted, by) {
            let numbers = hi - lo + 1;
            self.slots[slot].stats.chunks += 1;
            self.slots[slot].stats.numbers += numbers;
            self.hosts[h].chunks += 1;
            self.hosts[h].numbers += numbers;
        }
        if counted.is_err() {
            // Cannot happen to a result that passed check_result (its sums
            // fit); if it did, the numbers are done again rather than lost.
            let chunk = self.schedule.requeue(lo, hi);
            self.log.emit(Event::Requeued {
                chunk: chunk.into(),
                failures: 0,
            });
        }
    }

    /// Marks down every host caught lying since the last turn, and takes
    /// back every chunk it returned: they are redone by the others.
    fn act_on_liars(&mut self) {
        for (h, why) in std::mem::take(&mut self.untrusted) {
            if self.hosts[h].untrusted {
                continue;
            }
            self.hosts[h].untrusted = true;
            let revoked = self.schedule.revoke_host(h);
            self.audit.forget_host(h);
            let numbers: u64 = revoked.iter().map(|(c, _)| c.len()).sum();
            for (chunk, entry) in &revoked {
                // No longer in the result: no longer the slot's work.
                let stats = &mut self.slots[entry.slot as usize].stats;
                stats.chunks = stats.chunks.saturating_sub(1);
                stats.numbers = stats.numbers.saturating_sub(chunk.len());
            }
            let host = &mut self.hosts[h];
            host.chunks = host.chunks.saturating_sub(revoked.len() as u64);
            host.numbers = host.numbers.saturating_sub(numbers);
            self.revoked_chunks += revoked.len() as u64;
            self.log.emit(Event::Revoked {
                host: self.hosts[h].host.name.clone(),
                chunks: revoked.len() as u64,
                numbers,
                why: why.clone(),
            });
            self.mark_down(h, format!("untrustworthy: {why}"));
        }
        self.stop_if_no_host_left();
    }

    /// The run is finished: checks the Σσ of every chunk it counted against
    /// the identity. Where they disagree, bisection over prefix sums finds
    /// the chunks that are wrong ([`verify::localise`]); their hosts are
    /// caught lying, and everything they returned is redone (the loop goes
    /// on). Gives up, leaving the report's self-check to fail, if that
    /// keeps happening.
    fn reconcile(&mut self) {
        if self.schedule.ledger_agrees() {
            return;
        }
        let (claims, hosts) = self.schedule.claims();
        let bad = match verify::localise(&claims) {
            Ok(bad) => bad,
            Err(e) => return self.fail_run(format!("the counted chunks overlap: {e}")),
        };
        if bad.is_empty() {
            return;
        }
        self.reconciled += 1;
        if self.reconciled > self.hosts.len() as u32 + 1 {
            return self.fail_run(format!(
                "the Σσ self-check still disagrees after {} rounds of redoing the chunks it refuted",
                self.reconciled - 1
            ));
        }
        for i in bad {
            let c = claims[i];
            let identity = sigma_sum_range(c.lo, c.hi);
            self.refuted += 1;
            self.log.emit(Event::Refuted {
                lo: c.lo,
                hi: c.hi,
                host: hosts[i].map_or("the supervisor".into(), |h| self.hosts[h].host.name.clone()),
                claimed: c.sigma_sum,
                identity,
            });
            match hosts[i] {
                Some(h) => self.untrusted.push((
                    h,
                    format!(
                        "its Σσ for [{}, {}] is {}, the identity gives {identity}",
                        c.lo, c.hi, c.sigma_sum
                    ),
                )),
                None => drop(self.schedule.revoke(c.lo)),
            }
        }
        self.act_on_liars();
    }

    /// Sends every ready remote worker a Ping, so its watchdog knows the
    /// supervisor is still there.
    fn ping_remote(&mut self) {
        self.next_ping = Some(Instant::now() + self.launcher.remote.watchdog / 4);
        for slot in 0..self.slots.len() {
            let Some(w) = self.slots[slot].worker_mut() else {
                continue;
            };
            if w.remote
                && w.ready()
                && let Err(e) = w.send(&crate::protocol::ToWorker::Ping)
            {
                self.end(slot, Cause::WriteFailed(e));
            }
        }
    }

    /// Looks at every worker that owes a frame and has been quiet past its
    /// limit (or has left frames unread that long), and retires the stuck
    /// ones (see [`crate::health`] for how stuck is told from starved).
    fn look_at_quiet_workers(&mut self) {
        for slot in 0..self.slots.len() {
            let now = Instant::now();
            let Some(w) = self.slots[slot].worker() else {
                continue;
            };
            if !self.slots[slot].owes_frames() || now < self.look_at(w) {
                continue;
            }
            if let Some(since) = w.outbox_since
                && now - since >= self.stall.timeout.0
            {
                let why = format!(
                    "it has not read its input for {:.1}s",
                    (now - since).as_secs_f64()
                );
                self.declare_stalled(slot, now - since, why);
                continue;
            }
            // Look at it first, then read what it already sent: a frame
            // written before the look is read now, so an idle worker that
            // answered while this loop was not running is never judged by
            // a look taken after its answer.
            let stat = if w.remote { None } else { w.handle.stat() };
            if let Some(cause) = self.read_frames(slot) {
                self.end(slot, cause);
                continue;
            }
            let Some(w) = self.slots[slot].worker() else {
                continue;
            };
            let quiet = now.saturating_duration_since(w.heard);
            if !self.slots[slot].owes_frames() || quiet < self.silence_limit(w) {
                continue;
            }
            match self.stall.judge(quiet, stat, w.probe, now) {
                Verdict::Stuck(why) => self.declare_stalled(slot, quiet, why),
                Verdict::Watch { probe, next } => {
                    let w = self.slots[slot].worker_mut().expect("looked at");
                    w.probe = Some(probe);
                    w.next_look = Some(next);
                }
            }
        }
    }

    fn declare_stalled(&mut self, slot: usize, silent: Duration, why: String) {
        let cause = self.note_stalled(slot, silent, why);
        self.end(slot, cause);
    }

    /// Counts and reports a worker judged stuck; the cause to end it with.
    fn note_stalled(&mut self, slot: usize, silent: Duration, why: String) -> Cause {
        self.stalls += 1;
        // A worker that was using a lot of memory says so (a leak, say).
        let rss_bytes = self.slots[slot]
            .worker()
            .filter(|w| !w.remote)
            .and_then(|w| w.handle.stat())
            .map(|s| s.rss_bytes);
        self.log.emit(Event::Stalled {
            slot,
            pid: self.slots[slot].stats.pid,
            silent_s: silent.as_secs_f64(),
            chunk: self.slots[slot].chunk().map(ChunkRef::from),
            why: why.clone(),
            rss_bytes,
        });
        Cause::Stalled(why)
    }

    /// Waits until `deadline` (forever if `None`) for events and handles
    /// them. A wakeup much later than asked means the loop was not running:
    /// that time is taken off every silence.
    fn wait_and_dispatch(&mut self, deadline: Option<Instant>) {
        let asked = Instant::now();
        let (ready, sources) = {
            let (mut fds, sources) = self.poll_set();
            let timeout = deadline.map(|d| d.saturating_duration_since(asked));
            match poll(&mut fds, poll_timeout(timeout)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    drop(fds);
                    self.fail_run(format!("poll failed: {e}"));
                    return;
                }
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            (ready, sources)
        };
        if let Some(d) = deadline {
            let late = Instant::now().saturating_duration_since(d.max(asked));
            if late > LATE {
                self.restart_silence(Some(late));
                self.log.emit(Event::Continued {
                    paused_s: Some(late.as_secs_f64()),
                    why: "the supervisor was not running (stopped, or not scheduled)".into(),
                });
            }
        }
        if ready[0] {
            self.handle_signals();
        }
        for (i, &(slot, source)) in sources.iter().enumerate() {
            if !ready[i + 1] {
                continue;
            }
            let cause = match source {
                Source::Frames => self.read_frames(slot),
                Source::Stderr => {
                    self.read_stderr(slot);
                    None
                }
                Source::Input => self.slots[slot]
                    .worker_mut()
                    .and_then(|w| w.flush().err())
                    .map(Cause::WriteFailed),
            };
            if let Some(cause) = cause {
                self.end(slot, cause);
            }
        }
    }

    /// What the event loop polls: the signalfd first, then each live
    /// worker's frames, its stderr until it ends, and its input while frames
    /// wait for it; and which worker and which of these each descriptor
    /// after the first is.
    fn poll_set(&self) -> (Vec<PollFd<'_>>, Vec<(usize, Source)>) {
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        let mut sources = Vec::new();
        for slot in &self.slots {
            let Some(w) = slot.worker() else { continue };
            fds.push(PollFd::new(w.from_worker.as_fd(), PollFlags::POLLIN));
            sources.push((slot.index, Source::Frames));
            if let Some(err) = w.stderr.as_ref().and_then(StderrLines::file) {
                fds.push(PollFd::new(err.as_fd(), PollFlags::POLLIN));
                sources.push((slot.index, Source::Stderr));
            }
            if let Some(input) = w.blocked_input() {
                fds.push(PollFd::new(input.as_fd(), PollFlags::POLLOUT));
                sources.push((slot.index, Source::Input));
            }
        }
        (fds, sources)
    }

    /// Logs the lines a worker wrote on stderr.
    fn read_stderr(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        let host = s.stats.host.clone();
        if let Some(err) = s.worker_mut().and_then(|w| w.stderr.as_mut()) {
            log_lines(self.log, slot, &host, err.read());
        }
    }

    /// Drains the signalfd: SIGCHLD reaps; SIGINT, SIGTERM and SIGHUP stop
    /// the run; SIGTSTP pauses it; SIGCONT restarts the silence clocks.
    fn handle_signals(&mut self) {
        let mut child_exited = false;
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => child_exited = true,
                Ok(sig @ (Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP)) => {
                    self.on_stop_signal(sig)
                }
                Ok(Signal::SIGTSTP) => self.pause(),
                Ok(Signal::SIGCONT) if std::mem::take(&mut self.just_continued) => {}
                Ok(Signal::SIGCONT) => {
                    self.restart_silence(None);
                    self.log.emit(Event::Continued {
                        paused_s: None,
                        why: "SIGCONT: the supervisor was stopped; silence clocks start again"
                            .into(),
                    });
                }
                _ => {}
            }
        }
        if child_exited {
            self.reap_exited();
        }
    }

    /// The first SIGINT, SIGTERM or SIGHUP stops the run gracefully; a
    /// second one makes the shutdown kill at once.
    fn on_stop_signal(&mut self, sig: Signal) {
        if self.stop.is_none() {
            self.stop = Some(Ending::Interrupted(sig));
            self.log.emit(Event::Shutdown {
                reason: format!("{} received: stopping workers", sig.as_str()),
            });
        } else if !self.kill_now {
            self.kill_now = true;
            self.log.emit(Event::Shutdown {
                reason: format!("second {}: killing workers now", sig.as_str()),
            });
        }
    }

    /// Ctrl-Z: stops every local worker, then the supervisor itself (as the
    /// shell expects of a job); once continued, continues them, and the
    /// time paused never counts as their silence.
    fn pause(&mut self) {
        let mut stopped = 0;
        for slot in &self.slots {
            if let Some(w) = slot.worker()
                && !w.remote
            {
                w.handle.pause();
                stopped += 1;
            }
        }
        self.log.emit(Event::Paused { workers: stopped });
        if self.next_draw.is_some() {
            self.log.clear_view();
        }
        let paused_at = Instant::now();
        // SIGSTOP, not SIGTSTP: it cannot be blocked or discarded, even in
        // an orphaned process group. Execution goes on here at SIGCONT.
        let _ = raise(Signal::SIGSTOP);
        let paused = paused_at.elapsed();
        for slot in &self.slots {
            if let Some(w) = slot.worker()
                && !w.remote
            {
                w.handle.resume();
            }
        }
        self.just_continued = true;
        self.restart_silence(None);
        self.log.emit(Event::Continued {
            paused_s: Some(paused.as_secs_f64()),
            why: format!("{stopped} workers continued"),
        });
    }

    /// The loop was not watching for `gap` (`None`: for an unknown time):
    /// every silence clock is moved on by it (or starts again), and any CPU
    /// probe starts over.
    fn restart_silence(&mut self, gap: Option<Duration>) {
        let now = Instant::now();
        for slot in &mut self.slots {
            let Some(w) = slot.worker_mut() else { continue };
            let moved = |t: Instant| gap.map_or(now, |g| (t + g).min(now));
            let heard = moved(w.heard);
            w.hear(heard);
            w.outbox_since = w.outbox_since.map(moved);
        }
    }

    /// Finds every worker that has exited (reaping it) and retires it.
    fn reap_exited(&mut self) {
        for slot in 0..self.slots.len() {
            let exited = self.slots[slot]
                .worker_mut()
                .is_some_and(|w| w.handle.try_wait().is_some());
            if exited {
                self.end(slot, Cause::Exited);
            }
        }
    }

    /// Reads what a worker sent (up to [`READ_BUDGET`] bytes this turn)
    /// and handles each whole frame; the cause, if the worker is to be
    /// retired.
    fn read_frames(&mut self, slot: usize) -> Option<Cause> {
        let mut buf = [0u8; 16 * 1024];
        let mut budget = READ_BUDGET;
        while budget > 0 {
            let w = self.slots[slot].worker_mut()?;
            match w.from_worker.read(&mut buf) {
                Ok(0) => {
                    return Some(Cause::Eof {
                        inside_frame: w.frames.pending() > 0,
                    });
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    w.frames.extend(&buf[..n]);
                    loop {
                        let w = self.slots[slot].worker_mut()?;
                        match w.frames.next_frame::<FromWorker>() {
                            Ok(None) => break,
                            Ok(Some(msg)) => {
                                if let Some(cause) = self.handle_message(slot, msg) {
                                    return Some(cause);
                                }
                            }
                            Err(e) => return Some(Cause::BadFrame(e.to_string())),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Cause::BadFrame(e.to_string())),
            }
        }
        None
    }

    /// Handles one message; the cause, if it means the worker must go.
    fn handle_message(&mut self, slot: usize, msg: FromWorker) -> Option<Cause> {
        let now = Instant::now();
        let s = &mut self.slots[slot];
        let host = s.host;
        let w = s.worker_mut()?;
        match msg {
            FromWorker::Hello {
                protocol,
                version,
                pid,
            } => {
                if w.ready() {
                    return Some(Cause::BadFrame("a second Hello".into()));
                }
                if let Err(why) = check_hello(protocol, &version) {
                    let why = format!("worker {slot} on {}: {why}", self.hosts[host].host);
                    if w.remote {
                        return Some(Cause::Refused(why));
                    }
                    self.fail_run(why);
                    return None;
                }
                if let Err(e) = w.accept_hello() {
                    return Some(Cause::WriteFailed(e));
                }
                w.hear(now);
                if w.remote {
                    s.stats.remote_pid = Some(pid);
                    self.log.emit(Event::Connected {
                        slot,
                        host: s.stats.host.clone(),
                        remote_pid: pid,
                    });
                }
                None
            }
            _ if !w.ready() => Some(Cause::BadFrame("a frame before its Hello".into())),
            FromWorker::Progress { done, .. } => {
                let Phase::Busy(c) = w.phase else {
                    return None;
                };
                if done > c.len() {
                    return Some(Cause::BadFrame(format!(
                        "progress of {done} numbers in a chunk of {}",
                        c.len()
                    )));
                }
                // Only progress that advances counts as being heard from.
                let advances = done > w.progress;
                if advances {
                    w.progress = done;
                    w.hear(now);
                }
                // A remote worker cannot be looked at: one that creeps
                // forward and never finishes is judged by its pace.
                let busy = now.saturating_duration_since(w.busy_since);
                let creeping = w
                    .remote
                    .then(|| self.stall.creeping(busy, w.progress, c.len()));
                if let Some(Some(why)) = creeping {
                    return Some(self.note_stalled(slot, busy, why));
                }
                if advances {
                    self.note_recovery(slot);
                }
                None
            }
            FromWorker::Done { chunk, result } => {
                // Every answer is checked before it is believed: counts,
                // perfect numbers (each confirmed by factoring), Σσ bounds.
                if let Phase::Busy(c) = w.phase
                    && c.id == chunk
                    && let Err(why) = verify::check_result(c.lo, c.hi, &result)
                {
                    return Some(Cause::BadResult(format!("chunk {chunk}: {why}")));
                }
                match self.schedule.complete(slot, chunk, &result) {
                    Completion::Returned { chunk, task } => {
                        let took = now.saturating_duration_since(w.busy_since);
                        w.finish();
                        w.hear(now);
                        s.busy += took;
                        self.log.emit(Event::Finished {
                            slot,
                            chunk: chunk.into(),
                        });
                        let replica = matches!(task, Task::Replica { .. });
                        s.stats.replicas += replica as u64;
                        let answer = Opinion {
                            host,
                            slot,
                            pid: s.stats.pid,
                            result,
                        };
                        let host = &mut self.hosts[host];
                        host.replicas += replica as u64;
                        host.streak = 0;
                        self.note_recovery(slot);
                        self.take_answer(chunk, task, answer);
                        None
                    }
                    Completion::Stale => None,
                    Completion::Miscounted { chunk, checked } => Some(Cause::BadFrame(format!(
                        "result covers {checked} numbers, chunk {} has {}",
                        chunk.id,
                        chunk.len()
                    ))),
                }
            }
        }
    }

    /// A replacement's first progress: the slot has recovered.
    fn note_recovery(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        if let Some(since) = s.failed_at.take() {
            self.log.emit(Event::Recovered {
                slot,
                pid: s.stats.pid,
                after_ms: since.elapsed().as_secs_f64() * 1e3,
            });
        }
    }

    /// Retires a worker and does what follows.
    fn end(&mut self, slot: usize, cause: Cause) {
        if let Follow::MarkDown(h, why) = self.retire(slot, cause) {
            self.mark_down(h, why);
        }
    }

    /// Ends a worker's life: makes sure it is dead and reaped, reports how it
    /// ended, decides its chunk's fate and the slot's next state (a new
    /// worker at once, after a backoff, or none). What concerns other slots
    /// is returned, not done.
    fn retire(&mut self, slot: usize, cause: Cause) -> Follow {
        if matches!(cause, Cause::Exited) {
            // A Done already in its pipe still counts.
            let _ = self.read_frames(slot);
        }
        let now = Instant::now();
        let chunk = self.slots[slot].chunk();
        let s = &mut self.slots[slot];
        let Some(mut w) = s.take_worker(State::Waiting { at: now }) else {
            return Follow::Nothing;
        };
        s.failed_at.get_or_insert(now);
        let pid = w.handle.pid();
        let code = match cause {
            // It is exiting (or has): give it a moment for its status.
            Cause::Exited | Cause::Eof { .. } => w.handle.join_timeout(EXIT_GRACE),
            _ => None,
        };
        let code = match code {
            Some(code) => Some(code),
            None => {
                if w.handle.killable() {
                    self.log.emit(Event::Killed {
                        slot,
                        pid,
                        why: cause.describe(),
                    });
                }
                w.handle.kill()
            }
        };
        if code.is_none() {
            self.abandoned += 1;
        }
        let status = w.handle.describe(code);
        // It has ended: whatever it said last is in its stderr pipe now.
        if let Some(err) = &mut w.stderr {
            log_lines(self.log, slot, &s.stats.host, err.finish());
        }
        let mut why = cause.describe();
        if w.remote && !w.ready() {
            why.push_str(" before its Hello");
            if let Some(hint) = code.and_then(launch_failure) {
                why.push_str(&format!(" ({hint})"));
            }
        }
        if let Some(last) = w.stderr.as_ref().and_then(StderrLines::last) {
            why.push_str(&format!("; its last words: {last}"));
        }
        let remote = w.remote;
        drop(w); // closes its pipes; an abandoned thread is detached
        self.log.emit(Event::Died {
            slot,
            pid,
            host: s.stats.host.clone(),
            status: status.clone(),
            cause: why.clone(),
            chunk: chunk.map(ChunkRef::from),
        });
        let h = s.host;
        if self.stop.is_some() || stop_signal_pending() {
            // The run is stopping: a worker that ends now (killed along with
            // the supervisor, by `killall` say) costs its chunk nothing.
            self.schedule.release(slot);
            return Follow::Nothing;
        }
        match cause {
            Cause::HostDown => {
                // Not the chunk's fault: it goes back without a failure.
                self.schedule.release(slot);
                return Follow::Nothing;
            }
            Cause::Refused(why) => {
                // Trying again would meet the same program: the host is
                // refused at once (one failure, the refusal).
                self.schedule.release(slot);
                self.hosts[h].failures += 1;
                return Follow::MarkDown(h, why);
            }
            _ => {}
        }
        let known_poison = self.schedule.is_suspect(slot);
        match self.schedule.fail(slot) {
            // No worker got through this replica: the supervisor settles
            // its double-check.
            Some(Fate::ReplicaGivenUp { check, .. }) => self.arbitrate(check),
            Some(fate) => {
                if let Some(event) = fate_event(fate) {
                    self.log.emit(event);
                }
            }
            None => {}
        }
        if self.stop.is_some() || self.schedule.is_finished() {
            return Follow::Nothing;
        }
        let host = &mut self.hosts[h];
        host.failures += 1;
        self.restarts += 1;
        self.slots[slot].stats.restarts += 1;
        if remote {
            // A remote failure is its host's to count, not the restart
            // intensity's.
            host.streak += 1;
            if host.streak >= self.host_retries {
                let why = format!(
                    "{} failures in a row (--host-retries {}), the last: worker {slot} \
                     ({status}) {why}",
                    host.streak, self.host_retries,
                );
                return Follow::MarkDown(h, why);
            }
            self.slots[slot].state = State::Waiting {
                at: now + backoff(host.streak),
            };
            return Follow::Nothing;
        }
        // A death on a chunk already known to kill workers has a known
        // cause; its bisection is bounded by itself.
        if !known_poison {
            self.count_restart();
        }
        Follow::Nothing
    }

    /// Marks host `h` down: its workers are stopped and their chunks given
    /// back (idle workers elsewhere take them next turn), and if no host is
    /// left the run stops.
    fn mark_down(&mut self, h: usize, why: String) {
        if self.hosts[h].down.is_some() {
            return;
        }
        self.hosts[h].down = Some(why.clone());
        self.log.emit(Event::HostDown {
            host: self.hosts[h].host.name.clone(),
            failures: self.hosts[h].failures,
            reason: why,
        });
        for slot in 0..self.slots.len() {
            if self.slots[slot].host == h {
                let Follow::Nothing = self.retire(slot, Cause::HostDown) else {
                    unreachable!("retiring for a host that is down asks nothing more");
                };
                self.slots[slot].state = State::Down;
            }
        }
        self.stop_if_no_host_left();
    }

    /// Stops the run if work is left and every host is down.
    fn stop_if_no_host_left(&mut self) {
        if self.hosts.iter().all(|host| host.down.is_some())
            && self.stop.is_none()
            && !self.schedule.is_finished()
        {
            self.stop = Some(Ending::HostsDown);
            self.log.emit(Event::Shutdown {
                reason: "every host is down: stopping the run".into(),
            });
        }
    }

    /// During shutdown: reads and discards what workers still send, so a
    /// pipe that only has data in it (not end of file) stops waking `poll`;
    /// what they say on stderr is logged as usual.
    fn drain_before_exit(&mut self) {
        let mut buf = [0u8; 4096];
        for slot in &mut self.slots {
            let (index, host) = (slot.index, slot.stats.host.clone());
            let Some(w) = slot.worker_mut() else {
                continue;
            };
            let _ = w.flush();
            while matches!(w.from_worker.read(&mut buf), Ok(n) if n > 0) {}
            if let Some(err) = &mut w.stderr {
                log_lines(self.log, index, &host, err.read());
            }
        }
    }

    /// During shutdown: forgets a worker that has ended, after logging the
    /// last of its stderr.
    fn forget(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        let next = match s.state {
            State::Down => State::Down,
            _ => State::Waiting { at: Instant::now() },
        };
        if let Some(mut err) = s.take_worker(next).and_then(|w| w.stderr) {
            log_lines(self.log, slot, &s.stats.host, err.finish());
        }
    }

    /// Stops every worker: Shutdown to all, and SIGTERM too when the run
    /// was interrupted; SIGKILL for whatever is left after the grace period
    /// or at a second SIGINT/SIGTERM/SIGHUP. Every child is reaped. No
    /// worker stopped here is reported as dead, and no chunk is charged.
    fn shut_down(&mut self) {
        let early = self.stop.is_some();
        for slot in 0..self.slots.len() {
            if early {
                self.schedule.release(slot);
            }
            let stop = self.stop.clone();
            if let Some(w) = self.slots[slot].worker_mut() {
                let _ = w.send(&crate::protocol::ToWorker::Shutdown);
                w.handle.resume(); // a worker stopped by a pause
                match stop {
                    Some(Ending::Interrupted(_)) => w.handle.terminate(),
                    Some(_) => drop(w.handle.kill()),
                    None => {}
                }
            }
        }
        let deadline = Instant::now() + self.grace;
        loop {
            for slot in 0..self.slots.len() {
                if self.slots[slot]
                    .worker_mut()
                    .is_some_and(|w| w.handle.try_wait().is_some())
                {
                    self.forget(slot);
                }
            }
            if self.slots.iter().all(|s| s.worker().is_none()) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.kill_now {
                for slot in 0..self.slots.len() {
                    if let Some(w) = self.slots[slot].worker_mut() {
                        if w.handle.kill().is_none() {
                            self.abandoned += 1;
                        }
                        self.forget(slot);
                    }
                }
                return;
            }
            // Sleep until a worker closes its pipe (a thread ends, a process
            // exits), a signal comes (SIGCHLD, a second SIGINT), or the
            // grace period ends.
            let (mut fds, _) = self.poll_set();
            let _ = poll(
                &mut fds,
                poll_timeout(Some(left.min(Duration::from_secs(1)))),
            );
            drop(fds);
            self.drain_before_exit();
            while let Ok(Some(info)) = self.signals.read_signal() {
                if let Ok(Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP) =
                    Signal::try_from(info.ssi_signo as i32)
                {
                    self.kill_now = true;
                }
            }
        }
    }
}

impl Drop for Supervisor<'_> {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            if let Some(w) = slot.worker_mut() {
                w.handle.kill();
            }
        }
        // Consume what is pending, so restoring the mask does not deliver a
        // late SIGCHLD, SIGINT or SIGTSTP with its default action.
        while let Ok(Some(_)) = self.signals.read_signal() {}
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old_mask), None);
    }
}

/// Makes a started worker's pipes non-blocking and wraps it up; on failure
/// the process is killed and reaped.
fn prepare(
    mut handle: crate::launch::Handle,
    pipes: Pipes,
    setup: Setup,
    remote: bool,
) -> io::Result<Worker> {
    let nonblocking = |f: &std::fs::File| {
        fcntl(f, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map(drop)
            .map_err(io::Error::from)
    };
    let ready = nonblocking(&pipes.from_child)
        .and_then(|()| nonblocking(&pipes.to_child))
        .and_then(|()| pipes.stderr.map(StderrLines::new).transpose());
    match ready {
        Ok(stderr) => Ok(Worker::new(
            handle,
            pipes.to_child,
            pipes.from_child,
            setup,
            remote,
            stderr,
        )),
        Err(e) => {
            handle.kill();
            Err(e)
        }
    }
}

/// The event that reports a chunk's fate (none for a replica given up on:
/// the supervisor settles its check, and `verified` says so).
fn fate_event(fate: Fate) -> Option<Event> {
    Some(match fate {
        Fate::Requeued { chunk, failures } => Event::Requeued {
            chunk: chunk.into(),
            failures,
        },
        Fate::Split { chunk, halves } => Event::Split {
            chunk: chunk.into(),
            halves: [halves.0.into(), halves.1.into()],
        },
        Fate::Quarantined { chunk } => Event::Quarantined {
            chunk: chunk.into(),
        },
        Fate::ReplicaGivenUp { .. } => return None,
    })
}

/// Logs lines a worker wrote on stderr.
fn log_lines(log: &mut EventLog, slot: usize, host: &str, lines: Vec<String>) {
    for line in lines {
        log.emit(Event::WorkerStderr {
            slot,
            host: host.to_string(),
            line,
        });
    }
}
