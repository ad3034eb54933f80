//! The supervisor's event loop: one thread, one `poll(2)` over the workers'
//! pipes and a signalfd. Each turn it waits for something to happen (a frame,
//! an end of file, a child's exit, a signal, a deadline), lets the schedule
//! and the slots react, and starts a new worker wherever one died.
//!
//! Single-threaded on purpose: `fork()` is only safe in a process with one
//! thread, so there is no ticker, logging or reaper thread here.
//!
//! Slots belong to hosts. A remote worker is supervised like a local one
//! (its handle is its launcher, ssh); on top of that, its host keeps a count
//! of failures in a row, and a host that reaches `--host-retries` is marked
//! down: its workers are stopped, their chunks given back, and the run goes
//! on with the other hosts.

use crate::checkpoint::{self, Journal};
use crate::cli::{Config, Mode};
use crate::events::{ChunkRef, Event, EventLog};
use crate::fault::Fault;
use crate::health::{RestartPolicy, StallTimeout};
use crate::hosts::Host;
use crate::launch::{Handle, Launcher, Remote, Start, StderrLines, launch_failure};
use crate::mp::poll_timeout;
use crate::progress::{self, SlotLine, SlotState, Snapshot};
use crate::protocol::frame::{self, FrameBuffer, FrameError};
use crate::protocol::{FromWorker, Setup, ToWorker, check_hello};
use crate::schedule::{Completion, Fate, RetryPolicy, Schedule};
use crate::sigma::ChunkResult;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What one worker slot did over the run.
#[derive(Clone, Debug, Default)]
pub struct SlotStats {
    pub slot: usize,
    /// The host the slot is on.
    pub host: String,
    /// The pid of the slot's latest process (for a remote host, its
    /// launcher's).
    pub pid: i32,
    /// For a remote host, the latest worker's pid there (from its Hello).
    pub remote_pid: Option<u32>,
    pub chunks: u64,
    pub numbers: u64,
    pub restarts: u64,
}

/// What one host did over the run.
#[derive(Clone, Debug)]
pub struct HostStats {
    pub host: Host,
    pub chunks: u64,
    pub numbers: u64,
    /// Its workers that died (not counting those stopped because the host
    /// was marked down, or while the run was ending).
    pub failures: u64,
    /// Failures since its last finished chunk.
    streak: u32,
    /// Why it was marked down, if it was.
    pub down: Option<String>,
}

/// How the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every chunk counted or quarantined.
    Finished,
    /// Stopped by SIGINT or SIGTERM.
    Interrupted(Signal),
    /// Stopped because workers died faster than the restart intensity allows.
    RestartIntensity,
    /// Stopped because every host was marked down.
    HostsDown,
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
}

/// A failure that ends the run (exit 1): not any one worker's fault.
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A live worker in a slot.
struct Worker {
    handle: Handle,
    to_worker: File,
    from_worker: File,
    frames: FrameBuffer,
    /// Its settings, until its Hello is accepted and they are sent; `None`
    /// once it is ready.
    setup: Option<Setup>,
    /// When it last sent a frame (or was started).
    heard: Instant,
    /// When its predecessor's failure was detected, until it makes progress.
    replacing_since: Option<Instant>,
    /// Numbers of its chunk done, from its last Progress.
    progress: u64,
    /// Whether it runs on a remote host.
    remote: bool,
    /// A remote worker's stderr (its launcher's), read line by line.
    stderr: Option<StderrLines>,
}

impl Worker {
    /// Whether its Hello has been accepted (and its Setup sent).
    fn ready(&self) -> bool {
        self.setup.is_none()
    }
}

/// What a descriptor the event loop polls is.
#[derive(Clone, Copy)]
enum Source {
    Frames,
    Stderr,
}

/// Why a worker is being retired.
enum Cause {
    /// End of file on its pipe.
    Eof { inside_frame: bool },
    /// Its exit was seen by `waitpid`.
    Exited,
    /// It sent bytes that are not a valid frame, or a wrong message.
    BadFrame(String),
    /// Writing to it failed.
    WriteFailed(io::Error),
    /// It sent nothing for the stall timeout.
    Stalled(Duration),
    /// Its host was marked down.
    HostDown,
}

impl Cause {
    fn describe(&self) -> String {
        match self {
            Cause::Eof {
                inside_frame: false,
            } => "closed its pipe".into(),
            Cause::Eof { inside_frame: true } => "its pipe ended inside a frame".into(),
            Cause::Exited => "exited".into(),
            Cause::BadFrame(why) => format!("bad frame: {why}"),
            Cause::WriteFailed(e) => format!("could not be written to: {e}"),
            Cause::Stalled(d) => format!("stalled {:.1}s", d.as_secs_f64()),
            Cause::HostDown => "its host was marked down".into(),
        }
    }
}

/// The run's state, driven by [`Supervisor::run`].
pub struct Supervisor<'a> {
    launcher: Launcher,
    log: &'a mut EventLog,
    /// The run's range, `[min, max]`.
    range: (u64, u64),
    schedule: Schedule,
    workers: Vec<Option<Worker>>,
    stats: Vec<SlotStats>,
    signals: SignalFd,
    old_mask: SigSet,
    faults: Vec<Vec<Fault>>,
    /// Per slot, when its last worker's failure was detected.
    failed_at: Vec<Option<Instant>>,
    stall: StallTimeout,
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
    /// The host of every slot (an index into `hosts`).
    slot_host: Vec<usize>,
    hosts: Vec<HostStats>,
    host_retries: u32,
    connect_timeout: Duration,
    /// When remote workers are next pinged; `None` without remote hosts.
    next_ping: Option<Instant>,
    /// Per slot, when its next remote worker is due (backing off after a
    /// failure).
    restart_at: Vec<Option<Instant>>,
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
/// host that refuses a burst of connections gets a moment.
const BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl<'a> Supervisor<'a> {
    /// Prepares a run: blocks SIGCHLD, SIGINT and SIGTERM so they arrive on
    /// a signalfd the event loop polls (the mask is restored on drop).
    pub fn new(
        cfg: &'a Config,
        log: &'a mut EventLog,
        journal: Option<Journal>,
    ) -> Result<Supervisor<'a>, Fatal> {
        let mut mask = SigSet::empty();
        for sig in [Signal::SIGCHLD, Signal::SIGINT, Signal::SIGTERM] {
            mask.add(sig);
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
        let watchdog = (cfg.stall_timeout * WATCHDOG_STALLS).max(MIN_WATCHDOG);
        let slot_host: Vec<usize> = cfg
            .hosts
            .iter()
            .enumerate()
            .flat_map(|(i, h)| std::iter::repeat_n(i, h.slots))
            .collect();
        let checkpoint = cfg.checkpoint.clone().map(|path| Checkpoint {
            path,
            every: cfg.checkpoint_every,
            next: Instant::now() + cfg.checkpoint_every,
            failures: Default::default(),
        });
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
            workers: (0..cfg.procs).map(|_| None).collect(),
            stats: (0..cfg.procs)
                .map(|slot| SlotStats {
                    slot,
                    host: cfg.hosts[slot_host[slot]].name.clone(),
                    ..Default::default()
                })
                .collect(),
            signals,
            old_mask,
            faults: cfg.faults.clone(),
            failed_at: vec![None; cfg.procs],
            stall: StallTimeout(cfg.stall_timeout),
            intensity: RestartPolicy::new(cfg.max_restarts, cfg.restart_window),
            grace: cfg.grace,
            stop: None,
            kill_now: false,
            restarts: 0,
            stalls: 0,
            abandoned: 0,
            resumed,
            checkpoint,
            next_draw: cfg.progress.then(Instant::now),
            heartbeat: cfg.heartbeat,
            started: Instant::now(),
            slot_host,
            hosts: cfg
                .hosts
                .iter()
                .map(|h| HostStats {
                    host: h.clone(),
                    chunks: 0,
                    numbers: 0,
                    failures: 0,
                    streak: 0,
                    down: None,
                })
                .collect(),
            host_retries: cfg.host_retries,
            connect_timeout: cfg.connect_timeout,
            next_ping: cfg
                .hosts
                .iter()
                .any(|h| !h.is_local())
                .then(|| Instant::now() + watchdog / 4),
            restart_at: vec![None; cfg.procs],
        })
    }

    /// Runs until every chunk is counted (or quarantined), or a signal stops
    /// the run; every worker is reaped before this returns.
    pub fn run(mut self) -> Result<Outcome, Fatal> {
        let ran = self.run_loop();
        self.shut_down();
        ran?;
        self.write_checkpoint(true);
        Ok(Outcome {
            ending: self.stop.unwrap_or(Ending::Finished),
            result: self.schedule.result().clone(),
            quarantined: self.schedule.quarantined().to_vec(),
            chunk_size: self.schedule.chunk_size(),
            restarts: self.restarts,
            stalls: self.stalls,
            abandoned: self.abandoned,
            resumed: self.resumed,
            slots: self.stats.clone(),
            hosts: self.hosts.clone(),
            elapsed: self.started.elapsed(),
        })
    }

    fn run_loop(&mut self) -> Result<(), Fatal> {
        for slot in 0..self.workers.len() {
            self.start(slot)?;
        }
        while self.stop.is_none() && !self.schedule.is_finished() {
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            self.wait_and_dispatch(timeout)?;
            self.kill_stalled()?;
            if self
                .checkpoint
                .as_ref()
                .is_some_and(|c| Instant::now() >= c.next)
            {
                self.write_checkpoint(false);
            }
            if self.next_draw.is_some_and(|t| Instant::now() >= t) {
                self.draw_view();
            }
            if self.next_ping.is_some_and(|t| Instant::now() >= t) {
                self.ping_remote()?;
            }
            self.start_due()?;
        }
        if self.next_draw.is_some() {
            self.log.clear_view();
        }
        Ok(())
    }

    /// Redraws the live view from the run's state.
    fn draw_view(&mut self) {
        self.next_draw = Some(Instant::now() + progress::REDRAW);
        let result = self.schedule.result();
        let mut done = result.checked();
        let slots = (0..self.workers.len())
            .map(|slot| {
                let chunk = self.schedule.in_flight(slot);
                let host = &self.hosts[self.slot_host[slot]];
                let (state, progress) = match &self.workers[slot] {
                    None if host.down.is_some() => (SlotState::HostDown, 0),
                    None if self.restart_at[slot].is_some() => (SlotState::Restarting, 0),
                    None => (SlotState::Empty, 0),
                    Some(w) if !w.ready() && self.stats[slot].restarts > 0 => {
                        (SlotState::Restarting, 0)
                    }
                    Some(w) if !w.ready() => (SlotState::Starting, 0),
                    Some(_) if chunk.is_none() => (SlotState::Idle, 0),
                    Some(w) if w.heard.elapsed() > 3 * self.heartbeat + progress::REDRAW => {
                        (SlotState::Stalled, w.progress)
                    }
                    Some(w) => (SlotState::Working, w.progress),
                };
                done += progress;
                SlotLine {
                    slot,
                    pid: self.stats[slot].pid,
                    state,
                    chunk: chunk.map(|c| (c.lo, c.hi, progress)),
                    restarts: self.stats[slot].restarts,
                    host: (!host.host.is_local()).then(|| host.host.name.clone()),
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
        let lines = progress::render(&snapshot, progress::width());
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

    /// Whether a worker is being waited on: busy, or not yet said Hello.
    fn owes_frames(&self, slot: usize) -> bool {
        self.workers[slot]
            .as_ref()
            .is_some_and(|w| !w.ready() || self.schedule.in_flight(slot).is_some())
    }

    /// How long a worker may stay silent: the stall timeout, or for a
    /// remote worker still connecting, at least `--connect-timeout`
    /// (connecting and logging in can take longer than a stall timeout).
    fn silence_limit(&self, w: &Worker) -> StallTimeout {
        if w.remote && !w.ready() {
            StallTimeout(self.stall.0.max(self.connect_timeout))
        } else {
            self.stall
        }
    }

    /// The earliest moment something is due: a worker we wait on becomes
    /// stalled, the journal is to be written, the view redrawn, or remote
    /// workers pinged.
    fn next_deadline(&self) -> Option<Instant> {
        (0..self.workers.len())
            .filter(|&s| self.owes_frames(s))
            .filter_map(|s| self.workers[s].as_ref())
            .map(|w| self.silence_limit(w).deadline(w.heard))
            .chain(self.checkpoint.as_ref().map(|c| c.next))
            .chain(self.next_draw)
            .chain(self.next_ping)
            .chain(self.restart_at.iter().flatten().copied())
            .min()
    }

    /// Starts the remote workers whose backoff is over.
    fn start_due(&mut self) -> Result<(), Fatal> {
        let now = Instant::now();
        for slot in 0..self.workers.len() {
            if self.restart_at[slot].is_some_and(|t| now >= t) && self.stop.is_none() {
                self.restart_at[slot] = None;
                self.start(slot)?;
            }
        }
        Ok(())
    }

    /// Sends every ready remote worker a Ping, so its watchdog knows the
    /// supervisor is still there.
    fn ping_remote(&mut self) -> Result<(), Fatal> {
        self.next_ping = Some(Instant::now() + self.launcher.remote.watchdog / 4);
        for slot in 0..self.workers.len() {
            let Some(w) = self.workers[slot].as_mut() else {
                continue;
            };
            if w.remote
                && w.ready()
                && let Err(e) = send(&mut w.to_worker, &ToWorker::Ping)
            {
                self.retire(slot, Cause::WriteFailed(e))?;
            }
        }
        Ok(())
    }

    /// Kills and replaces every worker that has been silent too long.
    fn kill_stalled(&mut self) -> Result<(), Fatal> {
        let now = Instant::now();
        for slot in 0..self.workers.len() {
            if !self.owes_frames(slot) {
                continue;
            }
            let w = self.workers[slot].as_ref().expect("owes frames");
            if !self.silence_limit(w).expired(w.heard, now) {
                continue;
            }
            let silent = now - w.heard;
            self.stalls += 1;
            self.log.emit(Event::Stalled {
                slot,
                pid: w.handle.pid(),
                silent_s: silent.as_secs_f64(),
                chunk: self.schedule.in_flight(slot).map(ChunkRef::from),
            });
            self.retire(slot, Cause::Stalled(silent))?;
        }
        Ok(())
    }

    /// Starts a process in `slot`.
    fn start(&mut self, slot: usize) -> Result<(), Fatal> {
        let fault = (!self.faults[slot].is_empty()).then(|| self.faults[slot].remove(0));
        let host = &self.hosts[self.slot_host[slot]].host;
        let remote = !host.is_local();
        let setup = self.launcher.setup(host, fault);
        let (handle, pipes) = self
            .launcher
            .start(host)
            .map_err(|e| Fatal(format!("cannot start worker {slot} on {host}: {e}")))?;
        fcntl(&pipes.from_child, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(|e| Fatal(format!("cannot set up worker {slot}'s pipe: {e}")))?;
        let stderr = pipes
            .stderr
            .map(StderrLines::new)
            .transpose()
            .map_err(|e| Fatal(format!("cannot set up worker {slot}'s stderr: {e}")))?;
        let pid = handle.pid();
        let old_pid = std::mem::replace(&mut self.stats[slot].pid, pid);
        self.log.emit(Event::Started {
            slot,
            pid,
            host: self.stats[slot].host.clone(),
        });
        if old_pid != 0 {
            self.log.emit(Event::Replaced {
                slot,
                old_pid,
                new_pid: pid,
            });
        }
        self.workers[slot] = Some(Worker {
            handle,
            to_worker: pipes.to_child,
            from_worker: pipes.from_child,
            frames: FrameBuffer::default(),
            setup: Some(setup),
            heard: Instant::now(),
            replacing_since: self.failed_at[slot].take(),
            progress: 0,
            remote,
            stderr,
        });
        Ok(())
    }

    /// Waits up to `timeout` (forever if `None`) for events and handles them.
    fn wait_and_dispatch(&mut self, timeout: Option<Duration>) -> Result<(), Fatal> {
        let (ready, sources) = {
            let (mut fds, sources) = self.poll_set();
            match poll(&mut fds, poll_timeout(timeout)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Fatal(format!("poll failed: {e}"))),
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            (ready, sources)
        };
        if ready[0] {
            self.handle_signals()?;
        }
        for (i, &(slot, source)) in sources.iter().enumerate() {
            if ready[i + 1] {
                match source {
                    Source::Frames => self.handle_readable(slot)?,
                    Source::Stderr => self.read_stderr(slot),
                }
            }
        }
        Ok(())
    }

    /// What the event loop polls: the signalfd first, then each live
    /// worker's frames and, until it ends, its stderr; and which worker and
    /// which of the two each descriptor after the first is.
    fn poll_set(&self) -> (Vec<PollFd<'_>>, Vec<(usize, Source)>) {
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        let mut sources = Vec::new();
        for (slot, w) in self.workers.iter().enumerate() {
            let Some(w) = w else { continue };
            fds.push(PollFd::new(w.from_worker.as_fd(), PollFlags::POLLIN));
            sources.push((slot, Source::Frames));
            if let Some(err) = w.stderr.as_ref().and_then(StderrLines::file) {
                fds.push(PollFd::new(err.as_fd(), PollFlags::POLLIN));
                sources.push((slot, Source::Stderr));
            }
        }
        (fds, sources)
    }

    /// Logs the lines a worker wrote on stderr.
    fn read_stderr(&mut self, slot: usize) {
        if let Some(err) = self.workers[slot].as_mut().and_then(|w| w.stderr.as_mut()) {
            log_lines(self.log, slot, &self.stats[slot].host, err.read());
        }
    }

    /// Drains the signalfd: SIGCHLD reaps, SIGINT/SIGTERM stop the run.
    fn handle_signals(&mut self) -> Result<(), Fatal> {
        let mut child_exited = false;
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => child_exited = true,
                Ok(sig @ (Signal::SIGINT | Signal::SIGTERM)) => self.on_stop_signal(sig),
                _ => {}
            }
        }
        if child_exited {
            self.reap_exited()?;
        }
        Ok(())
    }

    /// The first SIGINT/SIGTERM stops the run gracefully; a second one
    /// makes the shutdown kill at once.
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

    /// Finds every worker that has exited (reaping it) and retires it.
    fn reap_exited(&mut self) -> Result<(), Fatal> {
        for slot in 0..self.workers.len() {
            let exited = match &mut self.workers[slot] {
                Some(w) => w.handle.try_wait().is_some(),
                None => false,
            };
            if exited {
                self.retire(slot, Cause::Exited)?;
            }
        }
        Ok(())
    }

    /// Reads what a worker sent and handles each whole frame.
    fn handle_readable(&mut self, slot: usize) -> Result<(), Fatal> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let Some(w) = self.workers[slot].as_mut() else {
                return Ok(()); // retired while handling an earlier frame
            };
            match w.from_worker.read(&mut buf) {
                Ok(0) => {
                    let inside_frame = w.frames.pending() > 0;
                    return self.retire(slot, Cause::Eof { inside_frame });
                }
                Ok(n) => {
                    w.frames.extend(&buf[..n]);
                    w.heard = Instant::now();
                    self.handle_frames(slot)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.retire(slot, Cause::BadFrame(e.to_string())),
            }
        }
    }

    /// Handles every whole frame in a worker's buffer.
    fn handle_frames(&mut self, slot: usize) -> Result<(), Fatal> {
        loop {
            let Some(w) = self.workers[slot].as_mut() else {
                return Ok(());
            };
            match w.frames.next_frame::<FromWorker>() {
                Ok(None) => return Ok(()),
                Ok(Some(msg)) => self.handle_message(slot, msg)?,
                Err(e) => return self.retire(slot, Cause::BadFrame(e.to_string())),
            }
        }
    }

    fn handle_message(&mut self, slot: usize, msg: FromWorker) -> Result<(), Fatal> {
        let w = self.workers[slot].as_mut().expect("live worker");
        match msg {
            FromWorker::Hello {
                protocol,
                version,
                pid,
            } => {
                if w.ready() {
                    return self.retire(slot, Cause::BadFrame("a second Hello".into()));
                }
                let host = self.slot_host[slot];
                if let Err(why) = check_hello(protocol, &version) {
                    let why = format!("worker {slot} on {}: {why}", self.hosts[host].host);
                    if !w.remote {
                        return Err(Fatal(why));
                    }
                    // Trying again would meet the same program: refuse the
                    // host at once (one failure, the refusal).
                    self.hosts[host].failures += 1;
                    return self.mark_down(host, why);
                }
                let setup = ToWorker::Setup(w.setup.take().expect("checked above"));
                if let Err(e) = send(&mut w.to_worker, &setup) {
                    return self.retire(slot, Cause::WriteFailed(e));
                }
                if w.remote {
                    self.stats[slot].remote_pid = Some(pid);
                    self.log.emit(Event::Connected {
                        slot,
                        host: self.stats[slot].host.clone(),
                        remote_pid: pid,
                    });
                }
                self.assign(slot)
            }
            FromWorker::Progress { done, .. } => {
                w.progress = done;
                self.note_recovery(slot);
                Ok(())
            }
            FromWorker::Done { chunk, result } => {
                self.note_recovery(slot);
                match self.schedule.complete(slot, chunk, &result) {
                    Completion::Accepted { chunk } => {
                        self.stats[slot].chunks += 1;
                        self.stats[slot].numbers += chunk.len();
                        let host = &mut self.hosts[self.slot_host[slot]];
                        host.chunks += 1;
                        host.numbers += chunk.len();
                        host.streak = 0;
                        self.assign(slot)
                    }
                    Completion::Stale => Ok(()),
                    Completion::Miscounted { chunk, checked } => self.retire(
                        slot,
                        Cause::BadFrame(format!(
                            "result covers {checked} numbers, chunk {} has {}",
                            chunk.id,
                            chunk.len()
                        )),
                    ),
                }
            }
        }
    }

    /// A replacement's first progress: the slot has recovered.
    fn note_recovery(&mut self, slot: usize) {
        let w = self.workers[slot].as_mut().expect("live worker");
        if let Some(since) = w.replacing_since.take() {
            self.log.emit(Event::Recovered {
                slot,
                pid: w.handle.pid(),
                after_ms: since.elapsed().as_secs_f64() * 1e3,
            });
        }
    }

    /// Hands `slot` its next chunk, if any and if the run goes on.
    fn assign(&mut self, slot: usize) -> Result<(), Fatal> {
        if self.stop.is_some() {
            return Ok(());
        }
        let Some(chunk) = self.schedule.take(slot) else {
            return Ok(());
        };
        let msg = ToWorker::Assign {
            chunk: chunk.id,
            lo: chunk.lo,
            hi: chunk.hi,
        };
        let w = self.workers[slot].as_mut().expect("live worker");
        w.heard = Instant::now();
        w.progress = 0;
        match send(&mut w.to_worker, &msg) {
            Ok(()) => Ok(()),
            Err(e) => self.retire(slot, Cause::WriteFailed(e)),
        }
    }

    /// Ends a worker's life: makes sure it is dead and reaped, reports how it
    /// ended, decides its chunk's fate and starts a replacement.
    fn retire(&mut self, slot: usize, cause: Cause) -> Result<(), Fatal> {
        let Some(mut w) = self.workers[slot].take() else {
            return Ok(());
        };
        // A replacement that died before recovering keeps the first failure's
        // time, so recovery is measured from the first failure.
        self.failed_at[slot] = Some(w.replacing_since.unwrap_or_else(Instant::now));
        let pid = w.handle.pid();
        let w_remote = w.remote;
        let code = match cause {
            Cause::Exited | Cause::Eof { .. } => {
                // It is exiting (or has): give it a moment for its status.
                w.handle.join_timeout(EXIT_GRACE)
            }
            Cause::BadFrame(_) | Cause::WriteFailed(_) | Cause::Stalled(_) | Cause::HostDown => {
                None
            }
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
            log_lines(self.log, slot, &self.stats[slot].host, err.finish());
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
        drop(w); // closes its pipes; an abandoned thread is detached
        let chunk = self.schedule.in_flight(slot);
        self.log.emit(Event::Died {
            slot,
            pid,
            host: self.stats[slot].host.clone(),
            status: status.clone(),
            cause: why.clone(),
            chunk: chunk.map(ChunkRef::from),
        });
        if let Cause::HostDown = cause {
            // Not the chunk's fault: it goes back without counting a failure.
            self.schedule.release(slot);
            return Ok(());
        }
        if let Some(fate) = self.schedule.fail(slot) {
            self.log.emit(fate_event(fate));
        }
        if self.stop.is_some() || self.schedule.is_finished() {
            return Ok(());
        }
        // An idle worker elsewhere takes the chunk at once, rather than
        // leave it for a replacement that may take a while (or never come).
        self.offer_work()?;
        self.hosts[self.slot_host[slot]].failures += 1;
        if w_remote {
            return self.after_remote_failure(slot, &format!("({status}) {why}"));
        }
        if !self.intensity.allow(Instant::now()) {
            self.stop = Some(Ending::RestartIntensity);
            self.log.emit(Event::Shutdown {
                reason: format!(
                    "restart intensity exceeded ({}): stopping the run",
                    self.intensity.describe()
                ),
            });
            return Ok(());
        }
        self.restarts += 1;
        self.stats[slot].restarts += 1;
        self.start(slot)
    }

    /// A remote worker died (counted in its host's failures). A host that
    /// fails `--host-retries` times in a row is marked down; otherwise the slot
    /// gets a new worker after a backoff (remote failures are the host's to
    /// count, not the restart intensity's).
    fn after_remote_failure(&mut self, slot: usize, why: &str) -> Result<(), Fatal> {
        let h = self.slot_host[slot];
        let host = &mut self.hosts[h];
        host.streak += 1;
        if host.streak >= self.host_retries {
            let why = format!(
                "{} failures in a row (--host-retries {}), the last: worker {slot} {why}",
                host.streak, self.host_retries,
            );
            return self.mark_down(h, why);
        }
        let backoff = BACKOFF
            .saturating_mul(1 << (host.streak - 1).min(16))
            .min(MAX_BACKOFF);
        self.restarts += 1;
        self.stats[slot].restarts += 1;
        self.restart_at[slot] = Some(Instant::now() + backoff);
        Ok(())
    }

    /// Marks host `h` down: its workers are stopped and their chunks given
    /// back, idle workers elsewhere take them, and if no host is left the
    /// run stops.
    fn mark_down(&mut self, h: usize, why: String) -> Result<(), Fatal> {
        if self.hosts[h].down.is_some() {
            return Ok(());
        }
        self.hosts[h].down = Some(why.clone());
        self.log.emit(Event::HostDown {
            host: self.hosts[h].host.name.clone(),
            failures: self.hosts[h].failures,
            reason: why,
        });
        for slot in 0..self.workers.len() {
            if self.slot_host[slot] == h {
                self.restart_at[slot] = None;
                self.retire(slot, Cause::HostDown)?;
            }
        }
        if self.hosts.iter().all(|host| host.down.is_some()) {
            if self.stop.is_none() && !self.schedule.is_finished() {
                self.stop = Some(Ending::HostsDown);
                self.log.emit(Event::Shutdown {
                    reason: "every host is down: stopping the run".into(),
                });
            }
            return Ok(());
        }
        self.offer_work()
    }

    /// Hands chunks to ready workers that have none (after chunks were
    /// given back).
    fn offer_work(&mut self) -> Result<(), Fatal> {
        for slot in 0..self.workers.len() {
            if self.workers[slot].as_ref().is_some_and(|w| w.ready())
                && self.schedule.in_flight(slot).is_none()
            {
                self.assign(slot)?;
            }
        }
        Ok(())
    }

    /// During shutdown: reads and discards what workers still send, so a
    /// pipe that only has data in it (not end of file) stops waking `poll`;
    /// what they say on stderr is logged as usual.
    fn drain_before_exit(&mut self) {
        let mut buf = [0u8; 4096];
        for slot in 0..self.workers.len() {
            let Some(w) = &mut self.workers[slot] else {
                continue;
            };
            while matches!(w.from_worker.read(&mut buf), Ok(n) if n > 0) {}
            if let Some(err) = &mut w.stderr {
                log_lines(self.log, slot, &self.stats[slot].host, err.read());
            }
        }
    }

    /// During shutdown: forgets a worker that has ended, after logging the
    /// last of its stderr.
    fn forget(&mut self, slot: usize) {
        if let Some(mut err) = self.workers[slot].take().and_then(|w| w.stderr) {
            log_lines(self.log, slot, &self.stats[slot].host, err.finish());
        }
    }

    /// Stops every worker: Shutdown to all, and SIGTERM too when the run
    /// was interrupted; SIGKILL for whatever is left after the grace period
    /// or at a second SIGINT/SIGTERM. Every child is reaped.
    fn shut_down(&mut self) {
        let early = self.stop.is_some();
        for slot in 0..self.workers.len() {
            if early {
                self.schedule.release(slot);
            }
            if let Some(w) = &mut self.workers[slot] {
                let _ = send(&mut w.to_worker, &ToWorker::Shutdown);
                match self.stop {
                    Some(Ending::Interrupted(_)) => w.handle.terminate(),
                    Some(Ending::RestartIntensity | Ending::HostsDown) => drop(w.handle.kill()),
                    _ => {}
                }
            }
        }
        let deadline = Instant::now() + self.grace;
        loop {
            for slot in 0..self.workers.len() {
                if self.workers[slot]
                    .as_mut()
                    .is_some_and(|w| w.handle.try_wait().is_some())
                {
                    self.forget(slot);
                }
            }
            if self.workers.iter().all(Option::is_none) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.kill_now {
                for slot in 0..self.workers.len() {
                    if let Some(w) = &mut self.workers[slot] {
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
                if let Ok(Signal::SIGINT | Signal::SIGTERM) =
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
        for w in self.workers.iter_mut().flatten() {
            w.handle.kill();
        }
        // Consume what is pending, so restoring the mask does not deliver a
        // late SIGCHLD or SIGINT with its default action.
        while let Ok(Some(_)) = self.signals.read_signal() {}
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old_mask), None);
    }
}

/// Writes one frame to a worker.
fn send(to: &mut File, msg: &ToWorker) -> io::Result<()> {
    match frame::write_frame(to, msg) {
        Ok(()) => Ok(()),
        Err(FrameError::Io(e)) => Err(e),
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

fn fate_event(fate: Fate) -> Event {
    match fate {
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
    }
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
