//! The worker's side of the protocol: say Hello, take the run's Setup, then
//! for every Assign run the σ kernel over the chunk (a Setup or Assign out
//! of the kernel's range ends the worker, never a panic), sending Progress
//! heartbeats from inside the kernel's segment loop and one Done with the
//! result. The same loop serves every way of starting a worker: a forked
//! child, the re-executed program and a remote `supervisor-worker` all talk
//! over their stdin (commands) and stdout (frames). At every heartbeat the
//! worker also looks at its input: the supervisor's end of file or a
//! Shutdown stops it mid-chunk, and a remote worker's watchdog ends it when
//! the supervisor has been silent too long (pings keep it quiet).

use crate::fault::{Fault, Tally};
use crate::protocol::frame::{self, FrameBuffer, FrameError};
use crate::protocol::{FromWorker, PROGRAM_VERSION, PROTOCOL_VERSION, Setup, ToWorker};
use crate::sigma::{Kernel, MAX_SUPPORTED};
use crate::stdio::say;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, FromRawFd};
use std::time::{Duration, Instant};

/// What a worker has from where it runs, before any frame: the rest comes
/// in its Setup.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The supervisor's result tally, as this worker can reach it (a thread
    /// shares the real one, a forked process has a copy-on-write copy).
    pub tally: Tally,
    /// Whether it is a process of its own, which may limit its own memory
    /// (a thread must not: the limit would be the whole supervisor's).
    pub own_process: bool,
}

/// How long a worker waits for its Setup after saying Hello. The supervisor
/// answers a Hello at once; this only ends a worker whose supervisor is
/// unreachable (a remote worker cut off while connecting).
pub const SETUP_WAIT: Duration = Duration::from_secs(60);

/// Exit statuses of a worker that gives up on its own.
pub mod exit {
    /// The supervisor's end went away or sent something unreadable.
    pub const PROTOCOL: i32 = 2;
    /// No frame from the supervisor within the watchdog period.
    pub const WATCHDOG: i32 = 3;
    /// Started by hand on a terminal: a usage error.
    pub const BY_HAND: i32 = 2;
}

/// What the worker program says when someone starts it on a terminal.
pub const BY_HAND: &str = "this is supervisor's worker program: supervisor starts it \
     itself, here or on another host (--hosts), and talks to it in binary frames \
     over its stdin and stdout; it is not run by hand";

/// The worker role of an executed program (`supervisor worker`,
/// `supervisor-worker`): die with the parent, make sure the parent is the
/// one that started us (or, started by ssh, that it is still there), then
/// serve.
pub fn run_role(args: &crate::cli::WorkerArgs) -> i32 {
    // A person at a terminal would see binary frames and get nonsense back
    // for what they type; a launcher's pipes are never terminals, with one
    // exception: `srun -u` gives a job step's stdout a pseudo-terminal (in
    // raw mode), so inside a Slurm step only stdin counts.
    let in_slurm_step = std::env::var_os("SLURM_STEP_ID").is_some();
    if io::stdin().is_terminal() || (io::stdout().is_terminal() && !in_slurm_step) {
        // args_os: a name that is not UTF-8 must not panic (args() would).
        let name = std::env::args_os().next().unwrap_or_default();
        let name = name.to_string_lossy();
        let name = name.rsplit('/').next().unwrap_or("supervisor-worker");
        say(&format!("{name}: {BY_HAND}"));
        return exit::BY_HAND;
    }
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and no pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let parent = nix::unistd::getppid().as_raw();
    let orphaned = match args.parent {
        Some(expected) => parent != expected,
        // Started by a launcher (ssh, srun): adopted by init means it died.
        None => parent == 1,
    };
    if orphaned {
        say("worker: the process that started it is gone");
        return exit::PROTOCOL;
    }
    serve_stdio(&Context {
        tally: Tally::default(),
        own_process: true,
    })
}

/// Limits this worker process's address space (`--worker-mem`), so a leak
/// kills only this worker: `bytes` beyond what it has mapped already. A
/// worker started by fork has mapped the supervisor's address space (its
/// ledger alone grows to 134 MB in a long run at 10^13), untouched and
/// shared, but counted by RLIMIT_AS all the same.
pub fn limit_memory(bytes: u64) -> io::Result<()> {
    use nix::sys::resource::{Resource, setrlimit};
    // statm's first field: the pages mapped.
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other(format!("/proc/self/statm: {statm:?}")))?;
    // SAFETY: sysconf only reads a system value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let limit = pages.saturating_mul(page).saturating_add(bytes);
    setrlimit(Resource::RLIMIT_AS, limit, limit).map_err(io::Error::from)
}

/// Serves the protocol on this process's stdin and stdout until Shutdown or
/// end of input; returns the process exit status.
///
/// Reads and writes the raw descriptors 0 and 1, bypassing std's buffered
/// `stdout`: a forked child inherits a copy of the parent's stdout buffer,
/// and flushing that into the pipe would corrupt the first frame.
pub fn serve_stdio(ctx: &Context) -> i32 {
    // SAFETY: descriptors 0 and 1 are open (the start method set them up)
    // and are never closed by these wrappers (ManuallyDrop).
    let input = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    let mut output = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    serve(&input, &mut *output, ctx)
}

/// The worker loop: commands from `input` (a pipe), frames to `output`.
pub fn serve(input: &File, output: &mut impl Write, ctx: &Context) -> i32 {
    let hello = FromWorker::Hello {
        protocol: PROTOCOL_VERSION,
        version: PROGRAM_VERSION.to_string(),
        pid: std::process::id(),
    };
    if send(output, &hello).is_err() {
        return exit::PROTOCOL;
    }
    let mut inbox = Inbox::new(input, Some(SETUP_WAIT));
    let setup = match inbox.next() {
        Ok(ToWorker::Setup(setup)) => setup,
        Ok(ToWorker::Shutdown | ToWorker::Ping) => return 0,
        Ok(ToWorker::Assign { .. }) => {
            return End::Broken("an Assign before the Setup".into()).status();
        }
        Err(end) => return end.status(),
    };
    // Checked like an Assign: the kernel refuses (panics on) a max past
    // its bound.
    if !(1 <= setup.max && setup.max <= MAX_SUPPORTED) {
        return End::Broken(format!(
            "bad Setup: max {} outside [1, {MAX_SUPPORTED}]",
            setup.max
        ))
        .status();
    }
    if let Some(bytes) = setup.mem_limit {
        if !ctx.own_process {
            return End::Broken("a thread cannot limit its memory".into()).status();
        }
        if let Err(e) = limit_memory(bytes) {
            return End::Broken(format!("cannot limit memory: {e}")).status();
        }
    }
    inbox.watchdog = setup.watchdog();
    let mut kernel: Option<Kernel> = None;
    let mut fault = setup.fault;
    loop {
        let (chunk, lo, hi) = match inbox.next() {
            Ok(ToWorker::Assign { chunk, lo, hi }) => (chunk, lo, hi),
            Ok(ToWorker::Shutdown | ToWorker::Ping) => return 0, // (Pings are not queued)
            Ok(ToWorker::Setup(_)) => return End::Broken("a second Setup".into()).status(),
            Err(end) => return end.status(),
        };
        if !(1 <= lo && lo <= hi && hi <= MAX_SUPPORTED) {
            return End::Broken(format!("bad assignment [{lo}, {hi}]")).status();
        }
        let kernel = match &mut kernel {
            Some(k) if k.max() >= hi => k,
            slot => slot.insert(Kernel::new(setup.max.max(hi))),
        };
        if let Err(end) = work(
            kernel,
            Chunk { id: chunk, lo, hi },
            &mut inbox,
            output,
            &setup,
            &ctx.tally,
            fault.take(),
        ) {
            return end.status();
        }
    }
}

/// Why a worker stops.
#[derive(Debug)]
enum End {
    /// Told to (Shutdown), or its input ended: the supervisor is done with it.
    Dismissed,
    /// Nothing from the supervisor within the watchdog period.
    Watchdog(Duration),
    /// A broken conversation: unreadable input, or output that cannot be
    /// written.
    Broken(String),
}

impl End {
    fn status(&self) -> i32 {
        let pid = std::process::id();
        match self {
            End::Dismissed => 0,
            End::Watchdog(d) => {
                say(&format!(
                    "worker {pid}: no word from the supervisor for {:.1}s: exiting",
                    d.as_secs_f64()
                ));
                exit::WATCHDOG
            }
            End::Broken(why) => {
                say(&format!("worker {pid}: {why}"));
                exit::PROTOCOL
            }
        }
    }
}

/// The worker's input: frames from the supervisor, read as they come and
/// handled in order, and the watchdog on them.
struct Inbox<'a> {
    input: &'a File,
    frames: FrameBuffer,
    /// Commands read but not yet handled (never Pings).
    queue: VecDeque<ToWorker>,
    /// Whether the input has ended (after the queued commands).
    ended: bool,
    /// When the last bytes came.
    heard: Instant,
    watchdog: Option<Duration>,
}

impl<'a> Inbox<'a> {
    fn new(input: &'a File, watchdog: Option<Duration>) -> Inbox<'a> {
        Inbox {
            input,
            frames: FrameBuffer::default(),
            queue: VecDeque::new(),
            ended: false,
            heard: Instant::now(),
            watchdog,
        }
    }

    /// The next command: waits until one comes, the input ends, or the
    /// watchdog runs out.
    fn next(&mut self) -> Result<ToWorker, End> {
        loop {
            if let Some(msg) = self.queue.pop_front() {
                return Ok(msg);
            }
            if self.ended {
                return Err(End::Dismissed);
            }
            let wait = match self.watchdog {
                Some(limit) => Some(self.watchdog_left(limit)?),
                None => None,
            };
            self.read(wait)?;
        }
    }

    /// Between two segments of a chunk: takes in whatever has come, without
    /// waiting. The chunk ends early if the next thing to handle is a
    /// Shutdown or the end of the input, or if the watchdog runs out.
    fn check(&mut self) -> Result<(), End> {
        if !self.ended {
            self.read(Some(Duration::ZERO))?;
        }
        match self.queue.front() {
            Some(ToWorker::Shutdown) => return Err(End::Dismissed),
            None if self.ended => return Err(End::Dismissed),
            _ => {}
        }
        match self.watchdog {
            Some(limit) => self.watchdog_left(limit).map(drop),
            None => Ok(()),
        }
    }

    /// How long the watchdog gives, or the end if it has run out.
    fn watchdog_left(&self, limit: Duration) -> Result<Duration, End> {
        let silent = self.heard.elapsed();
        if silent >= limit {
            Err(End::Watchdog(silent))
        } else {
            Ok(limit - silent)
        }
    }

    /// Waits up to `wait` (forever if `None`) for input, reads what is
    /// there and queues the commands in it.
    fn read(&mut self, wait: Option<Duration>) -> Result<(), End> {
        let mut fds = [PollFd::new(self.input.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, crate::mp::poll_timeout(wait)) {
            Ok(0) | Err(Errno::EINTR) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(End::Broken(format!("poll: {e}"))),
        }
        let mut buf = [0u8; 4096];
        match (&mut &*self.input).read(&mut buf) {
            Ok(0) if self.frames.pending() > 0 => {
                return Err(End::Broken("input ended inside a frame".into()));
            }
            Ok(0) => self.ended = true,
            Ok(n) => {
                self.frames.extend(&buf[..n]);
                self.heard = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(End::Broken(format!("reading input: {e}"))),
        }
        loop {
            match self.frames.next_frame::<ToWorker>() {
                Ok(Some(ToWorker::Ping)) => {}
                Ok(Some(msg)) => self.queue.push_back(msg),
                Ok(None) => return Ok(()),
                Err(e) => return Err(End::Broken(e.to_string())),
            }
        }
    }
}

/// An assignment.
struct Chunk {
    id: u64,
    lo: u64,
    hi: u64,
}

/// Runs one chunk, with heartbeats, and reports it. At every heartbeat it
/// also looks at its input, so a Shutdown, the supervisor's end of file or
/// the watchdog stops it in the middle of a chunk.
fn work(
    kernel: &mut Kernel,
    Chunk { id, lo, hi }: Chunk,
    inbox: &mut Inbox<'_>,
    output: &mut impl Write,
    setup: &Setup,
    tally: &Tally,
    mut fault: Option<Fault>,
) -> Result<(), End> {
    // The first heartbeat goes out after the first segment, so the
    // supervisor soon knows the chunk is under way; then one per interval.
    let heartbeat = setup.heartbeat();
    let mut last_beat: Option<Instant> = None;
    let mut stopped = None;
    let result = kernel.run_while(lo, hi, |done| {
        if let Some(f) = fault.take() {
            f.fire(output, tally);
        }
        if setup.crash_at.is_some_and(|n| lo <= n && n < lo + done) {
            std::process::abort();
        }
        if last_beat.is_none_or(|t| t.elapsed() >= heartbeat) {
            last_beat = Some(Instant::now());
            let beat = send(output, &FromWorker::Progress { chunk: id, done });
            if let Err(end) = beat.and_then(|()| inbox.check()) {
                stopped = Some(end);
                return false;
            }
        }
        true
    });
    match (result, stopped) {
        (Some(result), _) => send(output, &FromWorker::Done { chunk: id, result }),
        (None, Some(end)) => Err(end),
        (None, None) => unreachable!("the kernel stops only when asked"),
    }
}

fn send(output: &mut impl Write, msg: &FromWorker) -> Result<(), End> {
    frame::write_frame(output, msg).map_err(|e| match e {
        FrameError::Io(e) => End::Broken(format!("writing output: {e}")),
        e => End::Broken(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe holding `bytes`, its write end closed.
    fn piped(bytes: &[u8]) -> File {
        let (read, write) = crate::mp::pipe().unwrap();
        File::from(write).write_all(bytes).unwrap();
        File::from(read)
    }

    fn setup(max: u64, heartbeat_ms: u64) -> ToWorker {
        ToWorker::Setup(Setup {
            max,
            heartbeat_ms,
            ..Default::default()
        })
    }

    #[test]
    fn serves_a_conversation() {
        // The supervisor's side of the pipes, the worker on a thread.
        let (worker_in, to_worker) = crate::mp::pipe().unwrap();
        let (from_worker, worker_out) = crate::mp::pipe().unwrap();
        let worker = std::thread::spawn(move || {
            let ctx = Context::default();
            serve(&File::from(worker_in), &mut File::from(worker_out), &ctx)
        });
        let mut to_worker = File::from(to_worker);
        let mut from_worker = File::from(from_worker);
        let mut next = || frame::read_frame::<FromWorker>(&mut from_worker).unwrap();
        assert!(
            matches!(next(), Some(FromWorker::Hello { protocol, .. }) if protocol == PROTOCOL_VERSION)
        );
        frame::write_frame(&mut to_worker, &setup(10_001, 0)).unwrap();
        let mut done = Vec::new();
        let mut progress = 0;
        for (chunk, lo, hi) in [(1, 1, 10_000), (2, 10_001, 10_001)] {
            frame::write_frame(&mut to_worker, &ToWorker::Assign { chunk, lo, hi }).unwrap();
            frame::write_frame(&mut to_worker, &ToWorker::Ping).unwrap();
            loop {
                match next() {
                    Some(FromWorker::Progress { .. }) => progress += 1,
                    Some(FromWorker::Done { chunk, result }) => {
                        done.push((chunk, result));
                        break;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        frame::write_frame(&mut to_worker, &ToWorker::Shutdown).unwrap();
        assert_eq!(worker.join().unwrap(), 0);
        assert_eq!(next(), None, "nothing after the Shutdown");
        assert!(progress >= 1, "a zero heartbeat beats every segment");
        assert_eq!(done[0].1.perfect, vec![6, 28, 496, 8128]);
        assert_eq!(done[0].1.checked(), 10_000);
        assert_eq!(done[1].1.checked(), 1);
    }

    fn frames(msgs: &[ToWorker]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for m in msgs {
            frame::write_frame(&mut bytes, m).unwrap();
        }
        bytes
    }

    #[test]
    fn bad_input_ends_the_worker_without_panic() {
        let ctx = Context::default();
        let garbage = [3u8, 0, 0, 0, 0xff, 0xff, 0xff];
        let bad_range = ToWorker::Assign {
            chunk: 0,
            lo: 9,
            hi: 3,
        };
        let one = ToWorker::Assign {
            chunk: 0,
            lo: 1,
            hi: 1,
        };
        for script in [
            garbage.to_vec(),
            [frames(&[setup(100, 1000)]), garbage.to_vec()].concat(),
            frames(&[setup(100, 1000), bad_range]),
            frames(std::slice::from_ref(&one)),
            frames(&[setup(100, 1000), setup(100, 1000)]),
            frames(&[setup(100, 1000), one.clone(), setup(100, 1000)]),
            // A Setup's max out of the kernel's range.
            frames(&[setup(0, 1000), one.clone()]),
            frames(&[setup(MAX_SUPPORTED + 1, 1000), one.clone()]),
            frames(&[setup(u64::MAX, 1000), one.clone()]),
        ] {
            let mut out = Vec::new();
            assert_eq!(serve(&piped(&script), &mut out, &ctx), exit::PROTOCOL);
        }
        // A thread is not allowed to limit the memory of the whole process.
        let limited = ToWorker::Setup(Setup {
            max: 100,
            mem_limit: Some(1 << 40),
            ..Default::default()
        });
        let mut out = Vec::new();
        assert_eq!(
            serve(&piped(&frames(&[limited])), &mut out, &ctx),
            exit::PROTOCOL
        );
    }

    /// The messages a worker wrote.
    fn said(out: &[u8]) -> Vec<FromWorker> {
        let mut r = out;
        std::iter::from_fn(|| frame::read_frame::<FromWorker>(&mut r).unwrap()).collect()
    }

    fn big_chunk() -> ToWorker {
        ToWorker::Assign {
            chunk: 7,
            lo: 1,
            hi: 200_000_000,
        }
    }

    #[test]
    fn shutdown_or_end_of_input_stops_a_chunk_early() {
        let ctx = Context::default();
        let first = setup(200_000_000, 0);
        for script in [
            frames(&[
                first.clone(),
                big_chunk(),
                ToWorker::Ping,
                ToWorker::Shutdown,
            ]),
            frames(&[first.clone(), big_chunk()]),
        ] {
            let mut out = Vec::new();
            let started = Instant::now();
            assert_eq!(serve(&piped(&script), &mut out, &ctx), 0);
            let said = said(&out);
            assert!(
                !said.iter().any(|m| matches!(m, FromWorker::Done { .. })),
                "stopped before the end of the chunk: {said:?}"
            );
            // Not a timing assertion on speed: the whole chunk takes
            // seconds, the early stop one segment.
            assert!(started.elapsed() < Duration::from_secs(30));
        }
    }

    #[test]
    fn the_watchdog_ends_a_worker_nobody_talks_to() {
        let ctx = Context::default();
        let watched = ToWorker::Setup(Setup {
            max: 200_000_000,
            heartbeat_ms: 0,
            watchdog_ms: Some(50),
            ..Default::default()
        });
        for script in [
            // Idle: no Assign ever comes.
            frames(std::slice::from_ref(&watched)),
            // Busy: the chunk is far longer than the watchdog.
            frames(&[watched, big_chunk()]),
        ] {
            // The write end stays open: a cut network, not an end of file.
            let (read, write) = crate::mp::pipe().unwrap();
            let mut writer = File::from(write);
            writer.write_all(&script).unwrap();
            let mut out = Vec::new();
            assert_eq!(serve(&File::from(read), &mut out, &ctx), exit::WATCHDOG);
            assert!(
                !said(&out)
                    .iter()
                    .any(|m| matches!(m, FromWorker::Done { .. }))
            );
            drop(writer);
        }
    }
}
