//! `supervisor-hostile`: a worker that misbehaves on purpose, to test what
//! the supervisor believes. It stands behind `--launcher` like ssh would:
//!
//! ```text
//! supervisor --hosts localhost:1,hide-perfect:1 \
//!     --launcher '/path/to/supervisor-hostile {host} {worker}' \
//!     --remote-worker /path/to/supervisor-worker
//! ```
//!
//! The host name is the misbehaviour (see [`Mode`]); `{worker}` is run as a
//! child (a real `supervisor-worker`), and every frame between it and the
//! supervisor passes through here, edited as the mode says. One
//! misbehaviour per mode. The child dies with this process (the worker
//! sets PDEATHSIG), and ends when the supervisor closes its input.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;
use supervisor::protocol::frame;
use supervisor::protocol::{FromWorker, ToWorker};

/// One misbehaviour, named like the host it plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Every Done moves 1000 numbers from deficient to abundant.
    ShiftCounts,
    /// Every Done hides its perfect numbers (counted as deficient).
    HidePerfect,
    /// Every Done claims the chunk's first number is perfect (one deficient
    /// fewer, so the counts still add up).
    ClaimFirstPerfect,
    /// Every Done says abundant = 2^64 − 1, with deficient raised so the
    /// counts add up to the chunk's length in wrapping u64 arithmetic.
    WrapAbundant,
    /// 10^12 of Σσ moved from one Done to the next (+, −, +, …): the
    /// run's total is right after an even number of Dones.
    ShiftSigma,
    /// 10^12 more Σσ in its third Done only, the counts untouched: past
    /// the first two (which remote hosts have double-checked by default),
    /// so only the run's Σσ self-check sees it.
    InflateSigma,
    /// Says Hello, then never reads its input (its pipe shrunk to a page).
    Deaf,
    /// Never sends a Done: Progress frames for the chunk, forever, with a
    /// count that does not grow.
    NeverFinishing,
    /// Never sends a Done: Progress frames for the chunk, forever, each
    /// one number further (its worker's own Progress frames dropped).
    Creeping,
    /// Says, before each Done, that it has done 2^64 − 1 numbers of the
    /// chunk.
    ProgressPastTheEnd,
    /// Sends Progress frames and never Hello.
    ProgressBeforeHello,
    /// Floods the supervisor with Progress frames, 64 KiB at a time, as
    /// fast as the pipe takes them, beside its real frames.
    Flood,
    /// Sends every frame one byte at a time, [`TRICKLE`] apart.
    Trickle,
    /// Says Hello with terminal escape codes in its version string.
    EscapeVersion,
    /// Passes every frame through unchanged: an honest remote host, for
    /// runs that need a third one.
    Honest,
}

const MODES: [(&str, Mode); 15] = [
    ("shift-counts", Mode::ShiftCounts),
    ("hide-perfect", Mode::HidePerfect),
    ("claim-first-perfect", Mode::ClaimFirstPerfect),
    ("wrap-abundant", Mode::WrapAbundant),
    ("shift-sigma", Mode::ShiftSigma),
    ("inflate-sigma", Mode::InflateSigma),
    ("deaf", Mode::Deaf),
    ("never-finishing", Mode::NeverFinishing),
    ("creeping", Mode::Creeping),
    ("progress-past-the-end", Mode::ProgressPastTheEnd),
    ("progress-before-hello", Mode::ProgressBeforeHello),
    ("flood", Mode::Flood),
    ("trickle", Mode::Trickle),
    ("escape-version", Mode::EscapeVersion),
    ("honest", Mode::Honest),
];

/// The gap between two bytes in [`Mode::Trickle`].
const TRICKLE: Duration = Duration::from_millis(200);

/// The gap between two repeated Progress frames (never-finishing,
/// creeping, progress-before-hello).
const REPEAT: Duration = Duration::from_millis(50);

/// How much Σσ [`Mode::ShiftSigma`] moves.
const SHIFT: u128 = 1_000_000_000_000;

/// The version string of [`Mode::EscapeVersion`]: clears the screen, sets
/// the window title, turns the text red.
const ESCAPES: &str = "0.0.0\x1b[2J\x1b]0;pwned\x07\x1b[31mred";

/// This process's stdout, shared by the threads that write frames.
type Out = Arc<Mutex<io::Stdout>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let usage = || {
        let names: Vec<&str> = MODES.iter().map(|m| m.0).collect();
        eprintln!(
            "usage: supervisor-hostile MODE WORKER [ARGS...]; MODE (the host name, \
             a user@ part ignored) is one of: {}",
            names.join(", ")
        );
        ExitCode::from(2)
    };
    if args.len() < 3 {
        return usage();
    }
    let name = args[1].rsplit('@').next().unwrap_or_default();
    let Some(&(_, mode)) = MODES.iter().find(|m| m.0 == name) else {
        return usage();
    };
    let mut child = match Command::new(&args[2])
        .args(&args[3..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("supervisor-hostile: cannot run {}: {e}", args[2]);
            return ExitCode::from(127);
        }
    };
    let to_child = child.stdin.take().expect("piped");
    let mut from_child = child.stdout.take().expect("piped");
    let out: Out = Arc::new(Mutex::new(io::stdout()));
    let chunks: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    if mode == Mode::Deaf {
        // One page: the supervisor's writes fill it soonest.
        // SAFETY: fcntl on descriptor 0 with an integer argument.
        unsafe { libc::fcntl(io::stdin().as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
        drop(to_child); // the child hears nothing either
    } else {
        let chunks = chunks.clone();
        thread::spawn(move || forward_input(to_child, &chunks));
    }
    let mut proxy = Proxy {
        mode,
        out,
        chunks,
        done_count: 0,
        flooding: false,
    };
    loop {
        match frame::read_frame::<FromWorker>(&mut from_child) {
            Ok(Some(msg)) => proxy.pass(msg),
            Ok(None) => break,
            Err(e) => {
                eprintln!("supervisor-hostile: from the worker: {e}");
                break;
            }
        }
    }
    if mode == Mode::Deaf {
        // Deaf and alive until killed.
        loop {
            thread::sleep(Duration::from_secs(3600));
        }
    }
    let _ = child.wait();
    ExitCode::SUCCESS
}

/// Passes the supervisor's frames to the child as they are, noting each
/// assigned chunk's first number; at the end of the input, closes the
/// child's, which ends it.
fn forward_input(mut to_child: impl Write, chunks: &Mutex<HashMap<u64, u64>>) {
    let mut stdin = io::stdin().lock();
    while let Ok(Some(msg)) = frame::read_frame::<ToWorker>(&mut stdin) {
        if let ToWorker::Assign { chunk, lo, .. } = msg {
            chunks.lock().unwrap().insert(chunk, lo);
        }
        if frame::write_frame(&mut to_child, &msg).is_err() {
            break;
        }
    }
}

/// The worker-to-supervisor direction: what the mode needs to remember.
struct Proxy {
    mode: Mode,
    out: Out,
    /// Each assigned chunk's first number, by chunk id.
    chunks: Arc<Mutex<HashMap<u64, u64>>>,
    /// Dones passed so far.
    done_count: u64,
    /// Whether the flood has begun.
    flooding: bool,
}

impl Proxy {
    /// Edits one frame from the worker as the mode says and sends what
    /// is left of it.
    fn pass(&mut self, msg: FromWorker) {
        use Mode::*;
        let msg = match (self.mode, msg) {
            (EscapeVersion, FromWorker::Hello { protocol, pid, .. }) => FromWorker::Hello {
                protocol,
                version: ESCAPES.to_string(),
                pid,
            },
            (ProgressBeforeHello, FromWorker::Hello { .. }) => {
                repeat(&self.out, FromWorker::Progress { chunk: 0, done: 0 });
            }
            (Flood, hello @ FromWorker::Hello { .. }) => {
                send(&self.out, &hello);
                if !self.flooding {
                    self.flooding = true;
                    // The biggest pipe an unprivileged process may have
                    // (1 MiB by default), so a reader always finds more.
                    // SAFETY: fcntl on descriptor 1 with an integer argument.
                    unsafe { libc::fcntl(io::stdout().as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
                    let out = self.out.clone();
                    thread::spawn(move || {
                        // 64 KiB of whole frames per write: faster than
                        // any reader that takes them frame by frame.
                        let progress = frame::encode(&FromWorker::Progress { chunk: 0, done: 1 })
                            .expect("encodes");
                        let batch = progress.repeat((64 << 10) / progress.len());
                        loop {
                            let mut out = out.lock().unwrap();
                            if out.write_all(&batch).and_then(|()| out.flush()).is_err() {
                                std::process::exit(0);
                            }
                        }
                    });
                }
                return;
            }
            (NeverFinishing, FromWorker::Done { chunk, .. }) => {
                repeat(&self.out, FromWorker::Progress { chunk, done: 1 });
            }
            (Creeping, FromWorker::Progress { .. }) => return,
            (Creeping, FromWorker::Done { chunk, .. }) => {
                for done in 1.. {
                    send(&self.out, &FromWorker::Progress { chunk, done });
                    thread::sleep(REPEAT);
                }
                unreachable!("a u64 of 50 ms steps outlasts the run");
            }
            (ProgressPastTheEnd, done @ FromWorker::Done { chunk, .. }) => {
                let past = FromWorker::Progress {
                    chunk,
                    done: u64::MAX,
                };
                send(&self.out, &past);
                done
            }
            (_, FromWorker::Done { chunk, mut result }) => {
                self.done_count += 1;
                let lo = self.chunks.lock().unwrap().get(&chunk).copied();
                match self.mode {
                    ShiftCounts if result.deficient >= 1000 => {
                        result.deficient -= 1000;
                        result.abundant += 1000;
                    }
                    HidePerfect => {
                        result.deficient += result.perfect.len() as u64;
                        result.perfect.clear();
                    }
                    ClaimFirstPerfect => {
                        if let Some(lo) = lo
                            && !result.perfect.contains(&lo)
                        {
                            result.perfect.insert(0, lo);
                            if result.deficient > 0 {
                                result.deficient -= 1;
                            } else {
                                result.abundant -= 1;
                            }
                        }
                    }
                    WrapAbundant => {
                        result.deficient = result
                            .deficient
                            .wrapping_add(result.abundant)
                            .wrapping_add(1);
                        result.abundant = u64::MAX;
                    }
                    ShiftSigma if self.done_count % 2 == 1 => result.sigma_sum += SHIFT,
                    ShiftSigma => result.sigma_sum = result.sigma_sum.saturating_sub(SHIFT),
                    InflateSigma if self.done_count == 3 => result.sigma_sum += SHIFT,
                    _ => {}
                }
                FromWorker::Done { chunk, result }
            }
            (_, other) => other,
        };
        // The Hello goes whole, so the trickler is set up and given work
        // like any worker; every later frame trickles.
        if self.mode == Mode::Trickle && !matches!(msg, FromWorker::Hello { .. }) {
            trickle(&self.out, &msg);
        } else {
            send(&self.out, &msg);
        }
    }
}

/// Sends one frame whole.
fn send(out: &Out, msg: &FromWorker) {
    let bytes = frame::encode(msg).expect("encodes");
    let mut out = out.lock().unwrap();
    if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
        std::process::exit(0); // the supervisor is gone
    }
}

/// Sends `msg` every [`REPEAT`], forever.
fn repeat(out: &Out, msg: FromWorker) -> ! {
    loop {
        send(out, &msg);
        thread::sleep(REPEAT);
    }
}

/// Sends one frame a byte at a time, [`TRICKLE`] apart.
fn trickle(out: &Out, msg: &FromWorker) {
    let bytes = frame::encode(msg).expect("encodes");
    for b in bytes {
        {
            let mut out = out.lock().unwrap();
            if out.write_all(&[b]).and_then(|()| out.flush()).is_err() {
                std::process::exit(0);
            }
        }
        thread::sleep(TRICKLE);
    }
}
