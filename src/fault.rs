//! Fault injection, off by default: real failures a worker inflicts on
//! itself, so demos and tests can show what supervision does with them.
//! `--inject KIND:SLOT` fires once, in the next process to run in that slot,
//! partway through its first chunk; `--inject crash-at:N` makes every
//! process that reaches the number N abort (a poison chunk).

use crate::sigma::ChunkResult;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// The result tally the supervisor keeps. Worker threads share the real one;
/// a forked worker holds a copy-on-write copy; a spawned worker its own.
pub type Tally = Arc<Mutex<ChunkResult>>;

/// What a worker does to itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// Stops progressing and stops sending frames (a busy loop).
    Hang,
    /// Raises SIGSTOP on itself.
    Stop,
    /// `std::process::abort()`: SIGABRT.
    Abort,
    /// A real invalid memory access: SIGSEGV.
    Segv,
    /// Exits with status 7 mid-chunk.
    Exit,
    /// Writes bytes that are not a valid frame.
    Garbage,
    /// Writes a frame header claiming 4 GiB.
    Oversize,
    /// A Rust panic: a thread pool can catch it at the thread boundary.
    Panic,
    /// A stray write into the shared result tally (for a thread, the tally
    /// every thread updates; for a process, its own copy-on-write copy).
    Scribble,
    /// Allocates without bound (touching every page) until allocation fails.
    Leak,
    /// Blocks forever in the kernel, asleep: it reads a pipe whose write end
    /// it holds itself (a self-deadlock).
    Deadlock,
    /// Waits [`UNINTERRUPTIBLE_WAIT`] in uninterruptible sleep (state `D`),
    /// as a page fault waits for a slow disk or for reclaim, then goes on:
    /// the machine's slowness, not the worker's fault.
    Uninterruptible,
}

/// How long `uninterruptible` holds its worker in the kernel.
pub const UNINTERRUPTIBLE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The leak stops here even without a limit, so a demonstration cannot take
/// the machine down: it then aborts as if allocation had failed.
pub const LEAK_CEILING: usize = 4 << 30;

/// What a scribble adds to the shared tally's abundant count and Σσ.
pub const SCRIBBLE: u64 = 1_000_003;

impl Fault {
    /// Every kind, with its name on the command line.
    pub const ALL: [(Fault, &'static str); 12] = [
        (Fault::Hang, "hang"),
        (Fault::Stop, "stop"),
        (Fault::Abort, "abort"),
        (Fault::Segv, "segv"),
        (Fault::Exit, "exit"),
        (Fault::Garbage, "garbage"),
        (Fault::Oversize, "oversize"),
        (Fault::Panic, "panic"),
        (Fault::Scribble, "scribble"),
        (Fault::Leak, "leak"),
        (Fault::Deadlock, "deadlock"),
        (Fault::Uninterruptible, "uninterruptible"),
    ];

    /// The kind's name.
    pub fn name(self) -> &'static str {
        Fault::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map(|(_, n)| *n)
            .expect("every fault is listed")
    }

    /// Does it to this worker; `output` is its frame stream and `tally` the
    /// result state it shares with the supervisor. Only the frame-corrupting
    /// kinds, the scribble and the uninterruptible wait return.
    pub fn fire(self, output: &mut impl Write, tally: &Tally) {
        match self {
            Fault::Hang => loop {
                std::hint::spin_loop();
            },
            Fault::Stop => {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
                // Continued after a SIGCONT: still a worker that went silent,
                // so go on hanging until the supervisor kills it.
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
            Fault::Abort => std::process::abort(),
            Fault::Segv => {
                // SAFETY: none; this is the point. A volatile write to an
                // unmapped address is a real invalid access: the kernel
                // answers with SIGSEGV and the process dies.
                unsafe { std::ptr::write_volatile(std::ptr::dangling_mut::<u64>(), 1) };
                std::process::abort(); // not reached
            }
            // SAFETY: _exit ends the process at once; always sound.
            Fault::Exit => unsafe { libc::_exit(7) },
            Fault::Garbage => {
                // A header announcing 8 bytes, then 8 bytes no message starts with.
                let _ =
                    output.write_all(&[8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
                let _ = output.flush();
            }
            Fault::Oversize => {
                let _ = output.write_all(&u32::MAX.to_le_bytes());
                let _ = output.flush();
            }
            Fault::Panic => panic!("injected panic"),
            Fault::Scribble => {
                let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                t.abundant += SCRIBBLE;
                t.sigma_sum += SCRIBBLE as u128;
            }
            Fault::Leak => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                let block = 64 << 20;
                while hoard.len() * block < LEAK_CEILING {
                    // vec![1; n] writes every byte, so the pages are real.
                    hoard.push(vec![1u8; block]);
                }
                std::hint::black_box(&hoard);
                std::process::abort();
            }
            Fault::Deadlock => {
                if let Ok((read_end, write_end)) = crate::mp::pipe() {
                    let mut input = std::fs::File::from(read_end);
                    let _ = std::io::Read::read(&mut input, &mut [0u8; 1]);
                    drop(write_end); // never reached: the read waits for itself
                }
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
            }
            Fault::Uninterruptible => wait_uninterruptibly(UNINTERRUPTIBLE_WAIT),
        }
    }
}

/// Holds the calling thread in uninterruptible sleep for about `how_long`.
/// It starts a vfork-style child (`CLONE_VM | CLONE_VFORK`, as
/// `posix_spawn` does) that sleeps on a stack of its own; the kernel keeps
/// the caller in state `D` until the child exits, which is then reaped.
fn wait_uninterruptibly(how_long: std::time::Duration) {
    struct Nap {
        parent: libc::pid_t,
        sleep: libc::timespec,
    }
    extern "C" fn sleeper(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `Nap` below, alive until this child exits
        // (the caller waits for that). The child shares the caller's memory,
        // so it makes system calls only: no allocation, no locks. With
        // PR_SET_PDEATHSIG it dies with the caller; getppid catches a caller
        // that died before the prctl.
        unsafe {
            let nap = &*(arg as *const Nap);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() == nap.parent {
                libc::nanosleep(&nap.sleep, std::ptr::null_mut());
            }
            libc::_exit(0)
        }
    }
    let nap = Nap {
        parent: std::process::id() as libc::pid_t,
        sleep: libc::timespec {
            tv_sec: how_long.as_secs() as libc::time_t,
            tv_nsec: how_long.subsec_nanos() as libc::c_long,
        },
    };
    let mut stack = vec![0u8; 64 << 10];
    // The stack grows down from its 16-byte aligned top.
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    // SAFETY: `top` is the aligned top of `stack`, which outlives the child
    // (CLONE_VFORK returns only once it has exited); `sleeper` touches
    // nothing but `nap` and its own stack.
    let pid = unsafe {
        libc::clone(
            sleeper,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &nap as *const Nap as *mut libc::c_void,
        )
    };
    if pid > 0 {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    }
    drop(stack);
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Fault, String> {
        Fault::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(f, _)| *f)
            .ok_or_else(|| {
                let kinds: Vec<&str> = Fault::ALL.iter().map(|(_, n)| *n).collect();
                format!(
                    "unknown fault '{s}' (kinds: {}, crash-at)",
                    kinds.join(", ")
                )
            })
    }
}

/// One `--inject` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// `KIND:SLOT`: the next process in `slot` does `fault` once.
    Once { fault: Fault, slot: usize },
    /// `crash-at:N`: every process that reaches `n` aborts.
    CrashAt(u64),
}

impl FromStr for Injection {
    type Err = String;
    fn from_str(s: &str) -> Result<Injection, String> {
        let (kind, arg) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}' is not KIND:SLOT or crash-at:N"))?;
        let number = |what: &str| {
            arg.parse::<u64>()
                .map_err(|_| format!("'{arg}' in '{s}' is not a {what}"))
        };
        if kind == "crash-at" {
            // A count like --max's: 8128, 33_550_336, 3.3e7, 2^33.
            let n = crate::cli::parse_number(arg).map_err(|e| format!("crash-at: {e}"))?;
            return match n {
                0 => Err("crash-at needs a number of at least 1".into()),
                n => Ok(Injection::CrashAt(n)),
            };
        }
        let fault = kind.parse()?;
        let slot = number("slot number")? as usize;
        Ok(Injection::Once { fault, slot })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_injections() {
        assert_eq!(
            "hang:3".parse::<Injection>(),
            Ok(Injection::Once {
                fault: Fault::Hang,
                slot: 3
            })
        );
        for spelling in ["8128", "8_128", "8.128e3", "2^13"] {
            let want = if spelling == "2^13" { 8192 } else { 8128 };
            assert_eq!(
                format!("crash-at:{spelling}").parse::<Injection>(),
                Ok(Injection::CrashAt(want)),
                "{spelling}"
            );
        }
        for bad in [
            "nonsense",
            "hang",
            "hang:",
            "hang:x",
            "boom:1",
            "crash-at:0",
            "crash-at:-1",
            "crash-at:1.5e0",
        ] {
            assert!(bad.parse::<Injection>().is_err(), "{bad}");
        }
        for (f, n) in Fault::ALL {
            assert_eq!(n.parse::<Fault>(), Ok(f));
            assert_eq!(f.to_string(), n);
        }
    }
}
