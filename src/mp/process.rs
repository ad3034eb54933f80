//! `Process`: a child OS process started by fork (running a closure) or by
//! spawn (executing a program), with Python's `multiprocessing.Process`
//! vocabulary: `pid`, `is_alive`, `join`, `join_timeout`, `terminate`,
//! `kill`, `exitcode`.
//!
//! Every child is made safe to supervise before it runs any code of yours:
//! it gets a process group of its own (so a terminal's Ctrl-C, Ctrl-Z and
//! hang-up reach only the parent, which acts for its children), every
//! catchable signal's disposition and the signal mask are reset (they are
//! inherited across fork and exec), `PR_SET_PDEATHSIG(SIGKILL)` is set so it
//! dies with its parent, and `getppid()` is checked in case the parent died
//! first. A child that cannot do all of this ends at once with
//! [`SETUP_FAILED`], before it writes a byte anywhere.
//!
//! Forking is refused in a process with more than one thread: the child of a
//! threaded parent can deadlock on any lock another thread held (malloc's,
//! stdout's).

use nix::errno::Errno;
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The exit status of a child that could not make itself safe to run (its
/// pipes, signals, process group or parent-death signal) and ended before
/// running any code of the caller's.
pub const SETUP_FAILED: i32 = 122;

/// A child process. Dropping it neither kills nor reaps the child: call
/// [`Process::join`] (or [`Process::kill`] then `join`) so no zombie is left.
#[derive(Debug)]
pub struct Process {
    pid: Pid,
    exitcode: Option<i32>,
}

/// The parent's ends of a child's standard input and output (and error).
#[derive(Debug)]
pub struct Pipes {
    /// Writes to the child's stdin.
    pub to_child: File,
    /// Reads from the child's stdout.
    pub from_child: File,
    /// Reads the child's stderr, if the command asked for a pipe
    /// (`Stdio::piped()`); `None` when the child shares the parent's.
    pub stderr: Option<File>,
}

impl Process {
    /// Forks a child that runs `target` and exits with its return value.
    /// The child keeps the parent's descriptors, like Python's fork start
    /// method; use [`Process::fork_piped`] for a child that holds only its
    /// own pipes. The child never returns from this function: it leaves
    /// through `_exit`, so no destructor or `atexit` handler of the parent
    /// runs twice, and a panic in `target` exits with status 101.
    ///
    /// Refused (an error of kind `Unsupported`) while this process has more
    /// than one thread: the child of a threaded parent can deadlock on a lock
    /// (malloc's, stdout's) another thread held. The child does not flush
    /// std's buffered stdout when it ends (that buffer may be the parent's
    /// copy): flush what it prints, or end lines with a newline.
    ///
    /// ```standalone_crate
    /// use supervisor::mp::Process;
    /// let mut p = Process::fork(|| 7).unwrap();
    /// assert_eq!(p.join().unwrap(), 7);
    /// assert_eq!(p.exitcode(), Some(7));
    /// // A panic in the child exits 101 and never unwinds into the parent.
    /// let mut p = Process::fork(|| panic!("in the child")).unwrap();
    /// assert_eq!(p.join().unwrap(), 101);
    /// ```
    ///
    /// (The examples that fork are `standalone_crate` doctests, each run in
    /// a process of its own with a single thread: edition 2024 otherwise
    /// merges doctests into one multi-threaded process, where this function
    /// refuses to fork, and where a child could deadlock on a lock another
    /// test thread held: the very trap this doc comment warns about.)
    pub fn fork<F: FnOnce() -> i32>(target: F) -> io::Result<Process> {
        Self::fork_inner(None, target)
    }

    /// Forks a child whose stdin and stdout are pipes to the parent and
    /// which closes every other descriptor above stderr, so it holds none of
    /// the parent's other pipes (which would hide their end of file).
    ///
    /// ```standalone_crate
    /// use std::io::{Read, Write};
    /// use supervisor::mp::Process;
    /// let (mut p, mut pipes) = Process::fork_piped(|| {
    ///     let mut line = String::new();
    ///     std::io::stdin().read_line(&mut line).unwrap();
    ///     print!("{}", line.to_uppercase());
    ///     0
    /// })
    /// .unwrap();
    /// pipes.to_child.write_all(b"hello\n").unwrap();
    /// drop(pipes.to_child);
    /// let mut out = String::new();
    /// pipes.from_child.read_to_string(&mut out).unwrap();
    /// assert_eq!(out, "HELLO\n");
    /// assert_eq!(p.join().unwrap(), 0);
    /// ```
    pub fn fork_piped<F: FnOnce() -> i32>(target: F) -> io::Result<(Process, Pipes)> {
        let (child_stdin, to_child) = pipe()?;
        let (from_child, child_stdout) = pipe()?;
        let process = Self::fork_inner(
            Some((child_stdin.as_raw_fd(), child_stdout.as_raw_fd())),
            target,
        )?;
        let pipes = Pipes {
            to_child: File::from(to_child),
            from_child: File::from(from_child),
            stderr: None,
        };
        Ok((process, pipes))
    }

    fn fork_inner<F: FnOnce() -> i32>(
        stdio: Option<(RawFd, RawFd)>,
        target: F,
    ) -> io::Result<Process> {
        let threads = thread_count();
        if threads != Some(1) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "refusing to fork: this process has {} threads, and a forked \
                     child could deadlock on a lock another thread holds",
                    threads.map_or("an unknown number of".to_string(), |n| n.to_string())
                ),
            ));
        }
        let parent = nix::unistd::getpid();
        // SAFETY: this process has one thread (checked above), so the child
        // is a complete copy of it; the child only calls async-signal-safe
        // functions until `target` runs.
        match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
            ForkResult::Parent { child } => {
                // The child does this too; whichever runs first wins, so
                // the group is set before either goes on.
                let _ = nix::unistd::setpgid(child, child);
                Ok(Process {
                    pid: child,
                    exitcode: None,
                })
            }
            ForkResult::Child => {
                let ready = stdio.is_none_or(|(stdin, stdout)| adopt_stdio(stdin, stdout).is_ok())
                    && child_prologue(parent).is_ok();
                if !ready {
                    // SAFETY: _exit is always safe; nothing was written.
                    unsafe { libc::_exit(SETUP_FAILED) }
                }
                let code =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(target)).unwrap_or(101);
                // SAFETY: _exit ends the process without unwinding into the
                // parent's code and without flushing buffers it shares with
                // the parent; it is always safe to call.
                unsafe { libc::_exit(code) }
            }
        }
    }

    /// Executes `command` as a child (Python's spawn start method: a fresh
    /// address space). The same reset, death signal and parent check run in
    /// the child before the program is executed, and it gets no descriptor
    /// above stderr.
    pub fn spawn(command: &mut Command) -> io::Result<Process> {
        spawn_hardened(command).map(|child| Process::of(&child))
    }

    /// Executes `command` with its stdin and stdout piped to the parent
    /// (and its stderr, if the command says `stderr(Stdio::piped())`).
    pub fn spawn_piped(command: &mut Command) -> io::Result<(Process, Pipes)> {
        command.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = spawn_hardened(command)?;
        let to_child: OwnedFd = child.stdin.take().expect("piped stdin").into();
        let from_child: OwnedFd = child.stdout.take().expect("piped stdout").into();
        let pipes = Pipes {
            to_child: File::from(to_child),
            from_child: File::from(from_child),
            stderr: child.stderr.take().map(|e| File::from(OwnedFd::from(e))),
        };
        Ok((Process::of(&child), pipes))
    }

    /// The running child of a std `Child` (which it takes over reaping).
    fn of(child: &std::process::Child) -> Process {
        Process {
            pid: Pid::from_raw(child.id() as i32),
            exitcode: None,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Python's exit code: `None` while running (or not yet reaped), the exit
    /// status if it exited, minus the signal number if a signal killed it.
    pub fn exitcode(&self) -> Option<i32> {
        self.exitcode
    }

    /// Whether the child is still running. Reaps it if it has ended.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Reaps the child if it has ended, without blocking: its exit code, or
    /// `None` while it runs.
    pub fn try_wait(&mut self) -> io::Result<Option<i32>> {
        self.wait(WaitPidFlag::WNOHANG)
    }

    /// Waits for the child to end and reaps it; returns its exit code.
    pub fn join(&mut self) -> io::Result<i32> {
        loop {
            if let Some(code) = self.wait(WaitPidFlag::empty())? {
                return Ok(code);
            }
        }
    }

    /// Waits at most `timeout` for the child to end: its exit code, or
    /// `None` if it is still running.
    pub fn join_timeout(&mut self, timeout: Duration) -> io::Result<Option<i32>> {
        let deadline = Instant::now() + timeout;
        let mut nap = Duration::from_micros(50);
        loop {
            if let Some(code) = self.try_wait()? {
                return Ok(Some(code));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(nap.min(deadline - now));
            nap = (nap * 2).min(Duration::from_millis(5));
        }
    }

    /// Sends SIGTERM (Python's `terminate`).
    pub fn terminate(&self) -> io::Result<()> {
        self.signal(Signal::SIGTERM)
    }

    /// Sends SIGKILL, which also ends a stopped (SIGSTOPped) child.
    ///
    /// ```standalone_crate
    /// use std::time::Duration;
    /// use supervisor::mp::{Process, describe_exitcode};
    /// let mut p = Process::fork(|| {
    ///     std::thread::sleep(Duration::from_secs(30));
    ///     0
    /// })
    /// .unwrap();
    /// assert!(p.is_alive());
    /// assert_eq!(p.join_timeout(Duration::from_millis(20)).unwrap(), None);
    /// p.kill().unwrap();
    /// assert_eq!(p.join().unwrap(), -9); // Python's convention
    /// assert!(!p.is_alive());
    /// assert_eq!(describe_exitcode(-9), "signal 9 (SIGKILL)");
    /// ```
    pub fn kill(&self) -> io::Result<()> {
        self.signal(Signal::SIGKILL)
    }

    /// Sends `sig` to the child, unless it has already been reaped (its pid
    /// may belong to another process by now).
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        if self.exitcode.is_some() {
            return Ok(());
        }
        match signal::kill(self.pid, sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn wait(&mut self, flags: WaitPidFlag) -> io::Result<Option<i32>> {
        if let Some(code) = self.exitcode {
            return Ok(Some(code));
        }
        let status = loop {
            match waitpid(self.pid, Some(flags)) {
                Err(Errno::EINTR) => continue,
                // Someone else reaped it (SIGCHLD ignored, say): it is gone,
                // and its pid must never be signalled again.
                Err(Errno::ECHILD) => {
                    self.exitcode = Some(REAPED_ELSEWHERE);
                    return Ok(self.exitcode);
                }
                other => break other.map_err(io::Error::from)?,
            }
        };
        self.exitcode = match status {
            WaitStatus::Exited(_, code) => Some(code),
            WaitStatus::Signaled(_, sig, _) => Some(-(sig as i32)),
            _ => None,
        };
        Ok(self.exitcode)
    }
}

/// How many threads this process has (`None` if /proc cannot tell).
fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Spawns `command` after the child prologue, with every descriptor above
/// stderr marked close-on-exec.
fn spawn_hardened(command: &mut Command) -> io::Result<std::process::Child> {
    let parent = nix::unistd::getpid();
    // SAFETY: the hook calls only async-signal-safe functions (sigaction,
    // sigprocmask, prctl, getppid, close_range or fcntl).
    unsafe {
        command.pre_exec(move || {
            child_prologue(parent)?;
            cloexec_from(3);
            Ok(())
        });
    }
    let child = command.spawn()?;
    // As after a fork: whichever of the two runs first sets the group (this
    // fails harmlessly once the child has executed its program).
    let pid = Pid::from_raw(child.id() as i32);
    let _ = nix::unistd::setpgid(pid, pid);
    Ok(child)
}

/// The exit code recorded for a child that was reaped by someone else
/// (`waitpid` said ECHILD): how it ended is not known.
pub const REAPED_ELSEWHERE: i32 = i32::MIN;

/// Describes a Python-style exit code for people: "exit code 7",
/// "signal 9 (SIGKILL)".
pub fn describe_exitcode(code: i32) -> String {
    if code == REAPED_ELSEWHERE {
        "reaped elsewhere; how it ended is not known".to_string()
    } else if code == SETUP_FAILED {
        format!("exit code {code} (it could not set itself up to run)")
    } else if code >= 0 {
        format!("exit code {code}")
    } else {
        match Signal::try_from(-code) {
            Ok(sig) => format!("signal {} ({})", -code, sig.as_str()),
            Err(_) => format!("signal {}", -code),
        }
    }
}

/// An `O_CLOEXEC` pipe: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// In a forked child: makes `stdin`/`stdout` descriptors 0 and 1 and closes
/// every descriptor above 2. Any failure is returned before anything is
/// written (the caller then ends the child).
fn adopt_stdio(stdin: RawFd, stdout: RawFd) -> Result<(), Errno> {
    let check = |r: libc::c_int| if r < 0 { Err(Errno::last()) } else { Ok(r) };
    // SAFETY: raw descriptor juggling in a freshly forked child; none of
    // these descriptors is owned by a Rust object that will be dropped,
    // because the child leaves through `_exit`.
    unsafe {
        // Move both ends above 2 first, so neither is overwritten by the
        // other's dup2 if the parent had stdin or stdout closed.
        let stdin = check(libc::fcntl(stdin, libc::F_DUPFD, 3))?;
        let stdout = check(libc::fcntl(stdout, libc::F_DUPFD, 3))?;
        check(libc::dup2(stdin, 0))?;
        check(libc::dup2(stdout, 1))?;
    }
    close_from(3);
    Ok(())
}

/// Marks every descriptor numbered `first` or above close-on-exec, so a
/// spawned program gets only its stdin, stdout and stderr, even of the
/// descriptors this process inherited without the flag. (Closing them here
/// instead would also close std's pipe that reports a failed exec.)
fn cloexec_from(first: RawFd) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as u32,
            u32::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    } == 0;
    if !done {
        for fd in first..open_max() {
            // SAFETY: F_SETFD on a descriptor that may not be open is harmless.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
}

/// The descriptor limit, for the loops that stand in for close_range.
fn open_max() -> RawFd {
    // SAFETY: sysconf has no preconditions.
    let open_max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
    if open_max > 0 {
        open_max as RawFd
    } else {
        1024
    }
}

/// Closes every descriptor numbered `first` or above.
fn close_from(first: RawFd) {
    // SAFETY: close_range only closes descriptors; nothing in a freshly
    // forked child still uses them.
    let done = unsafe { libc::syscall(libc::SYS_close_range, first as u32, u32::MAX, 0) } == 0;
    if !done {
        // SAFETY: sysconf has no preconditions.
        let open_max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) };
        let limit = if open_max > 0 {
            open_max as RawFd
        } else {
            1024
        };
        for fd in first..limit {
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
    }
}

/// The terminal's signals: a child ignores them for a moment, which discards
/// any that reached it (pending, blocked by the inherited mask) before it
/// left its parent's process group.
const TERMINAL_SIGNALS: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTSTP,
    libc::SIGHUP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// Runs first in every child: a process group of its own, default handling
/// of every signal, an empty mask, death with the parent. Only
/// async-signal-safe calls.
fn child_prologue(parent: Pid) -> io::Result<()> {
    nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
    // SAFETY: sigaction with SIG_IGN or SIG_DFL installs no handler code;
    // it is async-signal-safe. Signals that cannot be changed (SIGKILL,
    // SIGSTOP, those the C library reserves) fail harmlessly.
    unsafe {
        for sig in TERMINAL_SIGNALS {
            libc::signal(sig, libc::SIG_IGN);
        }
        for sig in 1..=libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
    signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and no pointers.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return Err(Errno::last().into());
    }
    // The parent may have died between fork and prctl: then no death signal
    // will ever come, and we have been re-parented.
    if nix::unistd::getppid() != parent {
        return Err(Errno::ESRCH.into());
    }
    Ok(())
}
