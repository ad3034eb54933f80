//! The worker's side of the protocol: say Hello, then for every Assign run
//! the σ kernel over the chunk, sending Progress heartbeats from inside the
//! kernel's segment loop and one Done with the result. The same loop serves
//! both start methods: a forked child and the re-executed program both talk
//! over their stdin (commands) and stdout (frames).

use crate::fault::{Fault, Tally};
use crate::protocol::frame::{self, FrameError};
use crate::protocol::{FromWorker, PROGRAM_VERSION, PROTOCOL_VERSION, ToWorker};
use crate::sigma::{Kernel, MAX_SUPPORTED};
use std::fs::File;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

/// What a worker needs to know, whichever way it was started.
#[derive(Clone, Debug, Default)]
pub struct WorkerOptions {
    /// The run's upper bound, so the kernel's prime table is built once.
    pub max: u64,
    /// The longest a busy worker stays silent.
    pub heartbeat: Duration,
    /// A fault to inflict on itself once, partway through its first chunk.
    pub fault: Option<Fault>,
    /// Abort on reaching this number (a poison chunk).
    pub crash_at: Option<u64>,
    /// The supervisor's result tally, as this worker can reach it.
    pub tally: Tally,
    /// An address-space limit (bytes) for a worker process.
    pub mem_limit: Option<u64>,
}

/// Exit statuses of a worker that gives up on its own.
pub mod exit {
    /// The supervisor's end went away or sent something unreadable.
    pub const PROTOCOL: i32 = 2;
}

/// The worker role of an executed program (`supervisor worker`,
/// `supervisor-worker`): die with the parent, make sure the parent is the
/// one that started us, then serve.
pub fn run_role(args: &crate::cli::WorkerArgs) -> i32 {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and no pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if let Some(parent) = args.parent
        && nix::unistd::getppid().as_raw() != parent
    {
        eprintln!("worker: parent {parent} is gone");
        return exit::PROTOCOL;
    }
    serve_stdio(&WorkerOptions {
        max: args.max,
        heartbeat: Duration::from_millis(args.heartbeat_ms.max(1)),
        fault: args.inject,
        crash_at: args.crash_at,
        tally: Tally::default(),
        mem_limit: args.mem_limit,
    })
}

/// Limits this worker process's address space (`--worker-mem`), so a leak
/// kills only this worker.
pub fn limit_memory(bytes: u64) -> io::Result<()> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_AS, bytes, bytes).map_err(io::Error::from)
}

/// Serves the protocol on this process's stdin and stdout until Shutdown or
/// end of input; returns the process exit status.
///
/// Reads and writes the raw descriptors 0 and 1, bypassing std's buffered
/// `stdout`: a forked child inherits a copy of the parent's stdout buffer,
/// and flushing that into the pipe would corrupt the first frame.
pub fn serve_stdio(opts: &WorkerOptions) -> i32 {
    if let Some(bytes) = opts.mem_limit
        && let Err(e) = limit_memory(bytes)
    {
        eprintln!("worker {}: cannot limit memory: {e}", std::process::id());
        return exit::PROTOCOL;
    }
    // SAFETY: descriptors 0 and 1 are open (the start method set them up)
    // and are never closed by these wrappers (ManuallyDrop).
    let mut input = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    let mut output = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    serve(&mut *input, &mut *output, opts)
}

/// The worker loop over any pair of streams.
pub fn serve(input: &mut impl io::Read, output: &mut impl Write, opts: &WorkerOptions) -> i32 {
    let hello = FromWorker::Hello {
        protocol: PROTOCOL_VERSION,
        version: PROGRAM_VERSION.to_string(),
        pid: std::process::id(),
    };
    if send(output, &hello).is_err() {
        return exit::PROTOCOL;
    }
    let mut kernel: Option<Kernel> = None;
    let mut fault = opts.fault;
    loop {
        match frame::read_frame::<ToWorker>(input) {
            Ok(Some(ToWorker::Assign { chunk, lo, hi })) => {
                if !(1 <= lo && lo <= hi && hi <= MAX_SUPPORTED) {
                    eprintln!("worker {}: bad assignment [{lo}, {hi}]", std::process::id());
                    return exit::PROTOCOL;
                }
                let kernel = match &mut kernel {
                    Some(k) if k.max() >= hi => k,
                    slot => slot.insert(Kernel::new(opts.max.max(hi))),
                };
                match work(kernel, chunk, lo, hi, output, opts, fault.take()) {
                    Ok(()) => {}
                    Err(_) => return exit::PROTOCOL,
                }
            }
            Ok(Some(ToWorker::Shutdown)) | Ok(None) => return 0,
            Err(e) => {
                eprintln!("worker {}: {e}", std::process::id());
                return exit::PROTOCOL;
            }
        }
    }
}

/// Runs one chunk, with heartbeats, and reports it.
fn work(
    kernel: &mut Kernel,
    chunk: u64,
    lo: u64,
    hi: u64,
    output: &mut impl Write,
    opts: &WorkerOptions,
    mut fault: Option<Fault>,
) -> Result<(), FrameError> {
    // The first heartbeat goes out after the first segment, so the
    // supervisor soon knows the chunk is under way; then one per interval.
    let mut last_beat: Option<Instant> = None;
    let mut failed = None;
    let result = kernel.run(lo, hi, |done| {
        if let Some(f) = fault.take() {
            f.fire(output, &opts.tally);
        }
        if opts.crash_at.is_some_and(|n| lo <= n && n < lo + done) {
            std::process::abort();
        }
        if failed.is_none() && last_beat.is_none_or(|t| t.elapsed() >= opts.heartbeat) {
            last_beat = Some(Instant::now());
            if let Err(e) = send(output, &FromWorker::Progress { chunk, done }) {
                failed = Some(e);
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    send(output, &FromWorker::Done { chunk, result })
}

fn send(output: &mut impl Write, msg: &FromWorker) -> Result<(), FrameError> {
    frame::write_frame(output, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_a_scripted_conversation() {
        let mut script = Vec::new();
        for m in [
            ToWorker::Assign {
                chunk: 1,
                lo: 1,
                hi: 10_000,
            },
            ToWorker::Assign {
                chunk: 2,
                lo: 10_001,
                hi: 10_001,
            },
            ToWorker::Shutdown,
        ] {
            frame::write_frame(&mut script, &m).unwrap();
        }
        let mut out = Vec::new();
        let opts = WorkerOptions {
            max: 10_001,
            heartbeat: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(serve(&mut &script[..], &mut out, &opts), 0);
        let mut r = &out[..];
        let mut done = Vec::new();
        let mut progress = 0;
        while let Some(m) = frame::read_frame::<FromWorker>(&mut r).unwrap() {
            match m {
                FromWorker::Hello { protocol, .. } => assert_eq!(protocol, PROTOCOL_VERSION),
                FromWorker::Progress { .. } => progress += 1,
                FromWorker::Done { chunk, result } => done.push((chunk, result)),
            }
        }
        assert!(progress >= 1, "a zero heartbeat beats every segment");
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].1.perfect, vec![6, 28, 496, 8128]);
        assert_eq!(done[0].1.checked(), 10_000);
        assert_eq!(done[1].1.checked(), 1);
    }

    #[test]
    fn garbage_input_ends_the_worker_without_panic() {
        let opts = WorkerOptions {
            max: 100,
            heartbeat: Duration::from_secs(1),
            ..Default::default()
        };
        let mut out = Vec::new();
        let garbage = [3u8, 0, 0, 0, 0xff, 0xff, 0xff];
        assert_eq!(serve(&mut &garbage[..], &mut out, &opts), exit::PROTOCOL);
        let bad_range = frame::encode(&ToWorker::Assign {
            chunk: 0,
            lo: 9,
            hi: 3,
        })
        .unwrap();
        assert_eq!(serve(&mut &bad_range[..], &mut out, &opts), exit::PROTOCOL);
    }
}
