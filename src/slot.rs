//! A worker slot's life, as one state machine. A slot is a place for one
//! worker on one host; over a run it holds one worker process after another.
//!
//! ```text
//!   Waiting{at} ──start──▶ Live: Connecting ──Hello──▶ Idle ⇄ Busy(chunk)
//!        ▲                        │                      │        │
//!        └──── retired: a replacement now, or after a backoff ◀───┘
//!   any state ──its host is marked down──▶ Down
//! ```
//!
//! The slot owns its worker: the handle, both pipes (writes go through a
//! small bounded outbox, so a worker that stops reading never blocks the
//! loop), the frame buffer, and the silence clock the health check reads.
//! The event loop (`supervisor`) decides when a transition happens; the
//! transitions themselves, and what each state means, are here.

use crate::fault::Fault;
use crate::health::Probe;
use crate::launch::{Handle, StderrLines};
use crate::progress::SlotState;
use crate::protocol::frame::{self, FrameBuffer};
use crate::protocol::{Setup, ToWorker};
use crate::schedule::Chunk;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// What one worker slot did over the run; its fields are the JSON
/// summary's `workers[]` keys (a contract).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SlotStats {
    pub slot: usize,
    /// The host the slot is on.
    pub host: String,
    /// The pid of the slot's latest process (for a remote host, its
    /// launcher's).
    pub pid: i32,
    /// For a remote host, the latest worker's pid there (from its Hello).
    pub remote_pid: Option<u32>,
    /// Chunks counted on its answer, and their numbers (a chunk later
    /// revoked is taken off again).
    pub chunks: u64,
    pub numbers: u64,
    /// Chunks it computed again for double-checks (compared, not counted).
    pub replicas: u64,
    pub restarts: u64,
}

/// A worker slot: where it is, what it holds now, what it did.
pub struct Slot {
    pub index: usize,
    /// Its host, an index into the run's hosts.
    pub host: usize,
    pub state: State,
    pub stats: SlotStats,
    /// Faults its next workers inject, in order (`--inject KIND:SLOT`).
    pub faults: VecDeque<Fault>,
    /// When the failure it is recovering from was detected; kept across a
    /// replacement that fails before making progress, so recovery is
    /// measured from the first failure.
    pub failed_at: Option<Instant>,
    /// Starts that failed in a row (fork or spawn errors), for the backoff.
    pub failed_starts: u32,
    /// Time its workers spent on chunks they finished, for its rate.
    pub busy: Duration,
}

/// What a slot holds.
pub enum State {
    /// No worker: the next one starts at `at` (at once, or after a backoff).
    Waiting { at: Instant },
    /// A worker runs.
    Live(Box<Worker>),
    /// Its host was marked down: no worker starts here again.
    Down,
}

/// Where a live worker is in its conversation.
pub enum Phase {
    /// Started; waiting for its Hello. Its settings go out once the Hello
    /// is accepted.
    Connecting(Setup),
    /// Set up, with no chunk.
    Idle,
    /// Checking a chunk.
    Busy(Chunk),
}

/// A live worker in a slot.
pub struct Worker {
    pub handle: Handle,
    to_worker: File,
    pub from_worker: File,
    pub frames: FrameBuffer,
    pub phase: Phase,
    /// When it last sent a whole frame that counts (or was started, or was
    /// given a chunk): its silence clock.
    pub heard: Instant,
    /// The health check's CPU probe, while it is silent and runnable.
    pub probe: Option<Probe>,
    /// When the health check looks at it next, while it is being probed.
    pub next_look: Option<Instant>,
    /// Numbers of its chunk done, from its last Progress.
    pub progress: u64,
    /// When it was given its chunk.
    pub busy_since: Instant,
    /// Whether it runs on a remote host.
    pub remote: bool,
    /// A remote worker's stderr (its launcher's), read line by line.
    pub stderr: Option<StderrLines>,
    /// Frame bytes not yet taken by its pipe.
    outbox: Vec<u8>,
    /// Since when the outbox has been waiting on the worker.
    pub outbox_since: Option<Instant>,
}

/// The most frame bytes that may wait for a worker to read its input; a
/// worker that falls this far behind is not reading.
pub const OUTBOX_LIMIT: usize = 64 * 1024;

impl Slot {
    /// A slot whose first worker starts at once.
    pub fn new(index: usize, host: usize, host_name: &str, faults: Vec<Fault>) -> Slot {
        Slot {
            index,
            host,
            state: State::Waiting { at: Instant::now() },
            stats: SlotStats {
                slot: index,
                host: host_name.to_string(),
                ..Default::default()
            },
            faults: faults.into(),
            failed_at: None,
            failed_starts: 0,
            busy: Duration::ZERO,
        }
    }

    pub fn worker(&self) -> Option<&Worker> {
        match &self.state {
            State::Live(w) => Some(w),
            _ => None,
        }
    }

    pub fn worker_mut(&mut self) -> Option<&mut Worker> {
        match &mut self.state {
            State::Live(w) => Some(w),
            _ => None,
        }
    }

    /// Whether a new worker is due here at `now`.
    pub fn due(&self, now: Instant) -> bool {
        matches!(self.state, State::Waiting { at } if at <= now)
    }

    /// Waiting → Live: a worker was started here.
    pub fn install(&mut self, worker: Worker) {
        debug_assert!(matches!(self.state, State::Waiting { .. }));
        self.failed_starts = 0;
        self.state = State::Live(Box::new(worker));
    }

    /// Live → `next` (Waiting or Down): takes the worker out to retire it.
    /// A Down slot stays down.
    pub fn take_worker(&mut self, next: State) -> Option<Box<Worker>> {
        if matches!(self.state, State::Down) {
            return None;
        }
        match std::mem::replace(&mut self.state, next) {
            State::Live(w) => Some(w),
            _ => None,
        }
    }

    /// The chunk its worker is checking.
    pub fn chunk(&self) -> Option<Chunk> {
        match self.worker()?.phase {
            Phase::Busy(c) => Some(c),
            _ => None,
        }
    }

    /// Whether its worker owes a frame: connecting, or busy.
    pub fn owes_frames(&self) -> bool {
        self.worker()
            .is_some_and(|w| !matches!(w.phase, Phase::Idle) || w.outbox_since.is_some())
    }

    /// Whether its worker can take a chunk.
    pub fn is_idle(&self) -> bool {
        self.worker()
            .is_some_and(|w| matches!(w.phase, Phase::Idle))
    }

    /// What the live view shows: the state, and numbers of its chunk done.
    pub fn view(&self, now: Instant, quiet_for: Duration) -> (SlotState, u64) {
        match &self.state {
            State::Down => (SlotState::HostDown, 0),
            State::Waiting { .. } if self.stats.restarts > 0 => (SlotState::Restarting, 0),
            State::Waiting { .. } => (SlotState::Empty, 0),
            State::Live(w) => match w.phase {
                Phase::Connecting(_) if self.stats.restarts > 0 => (SlotState::Restarting, 0),
                Phase::Connecting(_) => (SlotState::Starting, 0),
                Phase::Idle => (SlotState::Idle, 0),
                Phase::Busy(_) if now.saturating_duration_since(w.heard) > quiet_for => {
                    (SlotState::Stalled, w.progress)
                }
                Phase::Busy(_) => (SlotState::Working, w.progress),
            },
        }
    }
}

impl Worker {
    /// A worker just started, waiting for its Hello; `to_worker` must be
    /// non-blocking.
    pub fn new(
        handle: Handle,
        to_worker: File,
        from_worker: File,
        setup: Setup,
        remote: bool,
        stderr: Option<StderrLines>,
    ) -> Worker {
        Worker {
            handle,
            to_worker,
            from_worker,
            frames: FrameBuffer::default(),
            phase: Phase::Connecting(setup),
            heard: Instant::now(),
            probe: None,
            next_look: None,
            progress: 0,
            busy_since: Instant::now(),
            remote,
            stderr,
            outbox: Vec::new(),
            outbox_since: None,
        }
    }

    /// Whether its Hello has been accepted.
    pub fn ready(&self) -> bool {
        !matches!(self.phase, Phase::Connecting(_))
    }

    /// It said something that counts: its silence clock starts again.
    pub fn hear(&mut self, now: Instant) {
        self.heard = now;
        self.probe = None;
        self.next_look = None;
    }

    /// Connecting → Idle: its Hello was accepted; its settings go out.
    pub fn accept_hello(&mut self) -> io::Result<()> {
        let Phase::Connecting(setup) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return Err(io::Error::other("a second Hello"));
        };
        self.send(&ToWorker::Setup(setup))
    }

    /// Idle → Busy: it is given `chunk`.
    pub fn assign(&mut self, chunk: Chunk, now: Instant) -> io::Result<()> {
        debug_assert!(matches!(self.phase, Phase::Idle));
        self.phase = Phase::Busy(chunk);
        self.progress = 0;
        self.busy_since = now;
        self.hear(now);
        self.send(&ToWorker::Assign {
            chunk: chunk.id,
            lo: chunk.lo,
            hi: chunk.hi,
        })
    }

    /// Busy → Idle: its chunk is answered.
    pub fn finish(&mut self) {
        self.phase = Phase::Idle;
        self.progress = 0;
    }

    /// Queues one frame and writes what the pipe takes, without blocking.
    /// An error: it cannot be written to (it is gone), or it has left
    /// [`OUTBOX_LIMIT`] bytes unread.
    pub fn send(&mut self, msg: &ToWorker) -> io::Result<()> {
        let bytes = frame::encode(msg).map_err(|e| io::Error::other(e.to_string()))?;
        if self.outbox.len() + bytes.len() > OUTBOX_LIMIT {
            return Err(io::Error::other(format!(
                "it left {} bytes of frames unread: it does not read its input",
                self.outbox.len()
            )));
        }
        self.outbox.extend_from_slice(&bytes);
        self.flush()
    }

    /// Writes what the pipe takes of the outbox, without blocking.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.outbox.is_empty() {
            match self.to_worker.write(&self.outbox) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.outbox.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.outbox.is_empty() {
            self.outbox_since = None;
        } else if self.outbox_since.is_none() {
            self.outbox_since = Some(Instant::now());
        }
        Ok(())
    }

    /// Its input pipe, while frames wait to be written to it.
    pub fn blocked_input(&self) -> Option<&File> {
        (!self.outbox.is_empty()).then_some(&self.to_worker)
    }
}
