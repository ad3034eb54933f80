//! How a worker is started, and the handle the event loop holds on it:
//! a process forked (the child runs the worker loop in a copy of the
//! supervisor) or spawned (this program executed again in its worker role, a
//! fresh address space), a launcher (ssh) starting the worker program on a
//! remote host, or, in thread mode, a thread of this very process.
//! Every kind of worker talks the same frames over a pair of pipes, so the
//! event loop does not care which it has; what differs is what can be done
//! to it: a process can be killed, a thread cannot. A remote worker's
//! handle is its launcher process: killing that cuts the worker's channel,
//! and the worker dies of it (end of input, its parent sshd gone, or its
//! watchdog). A remote worker's stderr is read as lines: what ssh or the
//! worker says goes into the event log under that worker's name.

use crate::cli::StartMethod;
use crate::fault::{Fault, Tally};
use crate::health::ProcStat;
use crate::hosts::{Host, Template};
use crate::mp::{Pipes, Process, describe_exitcode, pipe};
use crate::protocol::Setup;
use crate::worker::{self, Context};
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How workers run: the run's `--mode` and start method together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// A process, started by fork or spawn.
    Process(StartMethod),
    /// A thread of the supervisor's own process.
    Thread,
}

/// Everything needed to start one more worker and set it up.
#[derive(Clone, Debug)]
pub struct Launcher {
    pub start: Start,
    /// The settings every worker gets (`fault` and `watchdog_ms` are set
    /// per start).
    pub setup: Setup,
    /// The supervisor's result tally, which the scribble fault writes to.
    pub tally: Tally,
    /// The program the spawn method executes; `None` is this executable
    /// (`/proc/self/exe`, which works even if the file was replaced since).
    pub program: Option<PathBuf>,
    /// How workers on remote hosts are started.
    pub remote: Remote,
}

/// How a worker is started on a remote host.
#[derive(Clone, Debug)]
pub struct Remote {
    /// The `--launcher` template.
    pub template: Template,
    /// The worker program's path there (`--remote-worker`).
    pub worker: String,
    /// The remote worker's watchdog: it exits when no frame has come from
    /// the supervisor for this long (the supervisor pings more often).
    pub watchdog: Duration,
}

/// A worker as the event loop holds it.
#[derive(Debug)]
pub enum Handle {
    Process(Process),
    Thread(ThreadWorker),
}

/// A worker thread: its kernel thread id (as `/proc/self/task` shows it) and
/// its join handle.
#[derive(Debug)]
pub struct ThreadWorker {
    tid: i32,
    join: Option<JoinHandle<i32>>,
    code: Option<i32>,
}

/// A thread's exit code when it panicked (caught at the thread boundary),
/// the same status a panicking worker process exits with.
pub const PANICKED: i32 = 101;

impl Launcher {
    /// The settings for the next worker on `host`, which injects `fault` if
    /// one is given: sent to it once its Hello is accepted.
    pub fn setup(&self, host: &Host, fault: Option<Fault>) -> Setup {
        Setup {
            fault,
            watchdog_ms: (!host.is_local()).then_some(self.remote.watchdog.as_millis() as u64),
            ..self.setup.clone()
        }
    }

    /// Starts a worker on `host` and returns it with the supervisor's pipe
    /// ends. No settings go on its command line: it says Hello first, and
    /// takes them in a Setup frame.
    pub fn start(&self, host: &Host) -> io::Result<(Handle, Pipes)> {
        let ctx = Context {
            tally: self.tally.clone(),
            own_process: self.start != Start::Thread,
        };
        if !host.is_local() {
            let argv = self.remote.template.argv(host, &self.remote.worker);
            let mut command = Command::new(&argv[0]);
            // What ssh and the remote worker say is read by the event loop,
            // logged as this worker's, and kept for the account of its end.
            command.args(&argv[1..]).stderr(Stdio::piped());
            return Process::spawn_piped(&mut command)
                .map(|(p, pipes)| (Handle::Process(p), pipes));
        }
        match self.start {
            Start::Process(StartMethod::Fork) => {
                Process::fork_piped(move || worker::serve_stdio(&ctx))
                    .map(|(p, pipes)| (Handle::Process(p), pipes))
            }
            Start::Process(StartMethod::Spawn) => {
                let program = self
                    .program
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
                let mut command = Command::new(program);
                command
                    .arg0("supervisor-worker")
                    .arg("worker")
                    .arg("--parent")
                    .arg(std::process::id().to_string());
                Process::spawn_piped(&mut command).map(|(p, pipes)| (Handle::Process(p), pipes))
            }
            Start::Thread => start_thread(ctx),
        }
    }
}

/// Starts a worker thread serving the protocol over a fresh pair of pipes.
fn start_thread(ctx: Context) -> io::Result<(Handle, Pipes)> {
    let (worker_in, to_worker) = pipe()?;
    let (from_worker, worker_out) = pipe()?;
    let (tid_tx, tid_rx) = std::sync::mpsc::sync_channel(1);
    let join = std::thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            let _ = tid_tx.send(nix::unistd::gettid().as_raw());
            let input = File::from(worker_in);
            let mut output = File::from(worker_out);
            // A panic is caught here, at the thread boundary: the pipes
            // close as the thread ends, and the supervisor sees a worker
            // that died.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                worker::serve(&input, &mut output, &ctx)
            }))
            .unwrap_or(PANICKED)
        })?;
    let tid = tid_rx.recv().map_err(io::Error::other)?;
    let handle = Handle::Thread(ThreadWorker {
        tid,
        join: Some(join),
        code: None,
    });
    let pipes = Pipes {
        to_child: File::from(to_worker),
        from_child: File::from(from_worker),
        stderr: None,
    };
    Ok((handle, pipes))
}

impl Handle {
    /// The worker's pid, or a thread's kernel thread id.
    pub fn pid(&self) -> i32 {
        match self {
            Handle::Process(p) => p.pid(),
            Handle::Thread(t) => t.tid,
        }
    }

    /// What `/proc` says of it now (a process's or a thread's stat), unless
    /// a process has been reaped; the health check judges silence by it.
    pub fn stat(&self) -> Option<ProcStat> {
        match self {
            Handle::Process(p) if p.exitcode().is_none() => {
                ProcStat::read(&format!("/proc/{}", p.pid()))
            }
            Handle::Process(_) => None,
            Handle::Thread(t) => ProcStat::read(&format!("/proc/self/task/{}", t.tid)),
        }
    }

    /// Stops a process (SIGSTOP) while the run is paused; a thread cannot
    /// be stopped on its own.
    pub fn pause(&self) {
        if let Handle::Process(p) = self {
            let _ = p.signal(nix::sys::signal::Signal::SIGSTOP);
        }
    }

    /// Continues a process stopped by [`Handle::pause`] (or by anyone).
    pub fn resume(&self) {
        if let Handle::Process(p) = self {
            let _ = p.signal(nix::sys::signal::Signal::SIGCONT);
        }
    }

    /// Whether this worker can be killed (a thread cannot).
    pub fn killable(&self) -> bool {
        matches!(self, Handle::Process(_))
    }

    /// Its exit code if it has ended (reaping or joining it), else `None`.
    pub fn try_wait(&mut self) -> Option<i32> {
        match self {
            Handle::Process(p) => p.try_wait().ok().flatten(),
            Handle::Thread(t) => t.try_join(),
        }
    }

    /// Waits up to `timeout` for it to end: its exit code, or `None`.
    pub fn join_timeout(&mut self, timeout: Duration) -> Option<i32> {
        match self {
            Handle::Process(p) => p.join_timeout(timeout).ok().flatten(),
            Handle::Thread(t) => {
                let deadline = Instant::now() + timeout;
                loop {
                    if let Some(code) = t.try_join() {
                        return Some(code);
                    }
                    if Instant::now() >= deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Asks it to stop: SIGTERM to a process; nothing can be sent to a
    /// thread (it stops at Shutdown or when its pipe closes).
    pub fn terminate(&self) {
        if let Handle::Process(p) = self {
            let _ = p.terminate();
        }
    }

    /// Ends it for good: a process is SIGKILLed (which also ends a stopped
    /// one) and reaped, and its exit code returned. A thread cannot be
    /// killed: if it has not ended it is abandoned (`None`), and keeps its
    /// core and its memory until the process exits.
    pub fn kill(&mut self) -> Option<i32> {
        match self {
            Handle::Process(p) => {
                let _ = p.kill();
                Some(p.join().unwrap_or(-libc::SIGKILL))
            }
            Handle::Thread(t) => t.try_join(),
        }
    }

    /// How it ended, for people: `exit code N` or `signal N (NAME)` for a
    /// process; for a thread, `panicked (...)`, `returned N`, or
    /// [`ABANDONED`] when it could not be stopped.
    pub fn describe(&self, code: Option<i32>) -> String {
        match (self, code) {
            (Handle::Process(_), Some(code)) => describe_exitcode(code),
            (Handle::Thread(_), Some(PANICKED)) => {
                "panicked (caught at the thread boundary)".to_string()
            }
            (Handle::Thread(_), Some(code)) => format!("returned {code}"),
            (_, None) => ABANDONED.to_string(),
        }
    }
}

impl ThreadWorker {
    fn try_join(&mut self) -> Option<i32> {
        if self.code.is_none() && self.join.as_ref().is_some_and(|j| j.is_finished()) {
            let join = self.join.take().expect("checked");
            self.code = Some(join.join().unwrap_or(PANICKED));
        }
        self.code
    }
}

/// How a thread that could not be stopped "ended": it was left running.
pub const ABANDONED: &str = "abandoned";

/// What a launcher's exit status says when its worker never said Hello.
pub fn launch_failure(code: i32) -> Option<&'static str> {
    match code {
        127 => Some("the worker program is not there: see --remote-worker"),
        126 => Some("the worker program cannot be executed there"),
        255 => Some("ssh could not connect or log in"),
        _ => None,
    }
}

/// The longest stderr line kept; the rest of a longer one is dropped.
pub const MAX_STDERR_LINE: usize = 512;

/// How many stderr lines a worker may say at once (ssh's `-v` says about a
/// hundred while it connects)...
pub const STDERR_BURST: u32 = 200;

/// ...and how often it may say one more after that: a worker that writes
/// without end fills neither the events file nor the terminal. What is left
/// out is counted, in a line of its own.
pub const STDERR_REFILL: Duration = Duration::from_millis(100);

/// A worker's stderr, read without blocking as it comes and cut into lines
/// (bytes from a remote host are untrusted: lines are capped, and decoded
/// lossily). The last line is kept: a worker that dies before its Hello has
/// usually said why (`command not found`, ssh's `Connection refused`).
#[derive(Debug)]
pub struct StderrLines {
    file: Option<File>,
    partial: Vec<u8>,
    /// Whether the line in `partial` was cut at [`MAX_STDERR_LINE`].
    cut: bool,
    last: Option<String>,
    /// Lines it may still say now, and when that was last topped up.
    quota: u32,
    topped_up: Instant,
    /// Lines left out since the last one said.
    left_out: u64,
}

impl StderrLines {
    /// Reads `file` (the read end of a pipe) without blocking.
    pub fn new(file: File) -> io::Result<StderrLines> {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        fcntl(&file, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        Ok(StderrLines {
            file: Some(file),
            partial: Vec::new(),
            cut: false,
            last: None,
            quota: STDERR_BURST,
            topped_up: Instant::now(),
            left_out: 0,
        })
    }

    /// The pipe to poll, until it has ended.
    pub fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    /// The last line it said.
    pub fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }

    /// Reads what has come (at most 64 KiB, so one chatty worker cannot hold
    /// up the event loop) and returns the whole lines in it that its quota
    /// allows (see [`STDERR_BURST`]); at the end of the pipe, an unfinished
    /// last line too, and how many were left out.
    pub fn read(&mut self) -> Vec<String> {
        self.read_at(Instant::now())
    }

    fn read_at(&mut self, now: Instant) -> Vec<String> {
        let lines = self.read_lines(16);
        self.ration(lines, now)
    }

    /// Once its worker has ended: reads what is left, without blocking (a
    /// process the worker left behind may hold the pipe open still) and at
    /// most 1 MiB, and returns it as [`StderrLines::read`] does at the end of
    /// the pipe. Nothing is read after this.
    pub fn finish(&mut self) -> Vec<String> {
        let mut lines = self.read_lines(256);
        if self.file.take().is_some() && (!self.partial.is_empty() || self.cut) {
            lines.push(self.take_line());
        }
        self.ration(lines, Instant::now())
    }

    /// Reads at most `reads` times 4 KiB: the whole lines that came, and at
    /// the end of the pipe an unfinished last line too.
    fn read_lines(&mut self, reads: usize) -> Vec<String> {
        let mut lines = Vec::new();
        let mut buf = [0u8; 4096];
        for _ in 0..reads {
            let Some(file) = &mut self.file else { break };
            match io::Read::read(file, &mut buf) {
                Ok(0) => {
                    self.file = None;
                    if !self.partial.is_empty() || self.cut {
                        lines.push(self.take_line());
                    }
                }
                Ok(n) => {
                    for &b in &buf[..n] {
                        if b == b'\n' {
                            lines.push(self.take_line());
                        } else if self.partial.len() < MAX_STDERR_LINE {
                            self.partial.push(b);
                        } else {
                            self.cut = true;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => self.file = None,
            }
        }
        lines
    }

    /// The lines the quota allows, with a count of those it left out before
    /// each one said, and at the end of the pipe. Every line counts as the
    /// worker's last words, said or not, except srun's own account of how
    /// its task ended (the line before it says why).
    fn ration(&mut self, mut lines: Vec<String>, now: Instant) -> Vec<String> {
        lines.retain(|l| !l.trim().is_empty());
        if let Some(l) = lines.iter().rev().find(|l| !is_srun_task_end(l)) {
            self.last = Some(l.clone());
        }
        self.top_up(now);
        let mut said = Vec::new();
        for line in lines {
            if self.quota == 0 {
                self.left_out += 1;
                continue;
            }
            self.quota -= 1;
            said.extend(self.left_out_line());
            said.push(line);
        }
        if self.file.is_none() {
            said.extend(self.left_out_line());
        }
        said
    }

    /// Adds one line to the quota per [`STDERR_REFILL`] since the last top-up.
    fn top_up(&mut self, now: Instant) {
        let periods =
            now.saturating_duration_since(self.topped_up).as_nanos() / STDERR_REFILL.as_nanos();
        if periods == 0 {
            return;
        }
        let add = u32::try_from(periods).unwrap_or(u32::MAX);
        self.quota = self.quota.saturating_add(add).min(STDERR_BURST);
        self.topped_up = now;
    }

    /// The line that says how many were left out, if any were.
    fn left_out_line(&mut self) -> Option<String> {
        match std::mem::take(&mut self.left_out) {
            0 => None,
            1 => Some("[1 more line not shown]".to_string()),
            n => Some(format!("[{n} more lines not shown]")),
        }
    }

    fn take_line(&mut self) -> String {
        let bytes = std::mem::take(&mut self.partial);
        // No terminal control sequences from another host on our terminal.
        let mut line = crate::sanitize::text(String::from_utf8_lossy(&bytes).trim_end());
        if std::mem::take(&mut self.cut) {
            line.push_str(crate::sanitize::CUT);
        }
        line
    }
}

/// Whether `line` is srun's account of how a task ended (`srun: error:
/// node1: task 0: Exited with exit code 2`), which follows the line that
/// says why (`slurmstepd: error: execve(): ...: No such file or
/// directory`).
fn is_srun_task_end(line: &str) -> bool {
    line.strip_prefix("srun: error: ")
        .and_then(|rest| rest.split_once(": task "))
        .is_some_and(|(_, rest)| rest.split_once(": ").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn srun_s_account_of_a_task_s_end_is_not_the_last_word() {
        let (read, write) = pipe().unwrap();
        let mut lines = StderrLines::new(File::from(read)).unwrap();
        let mut write = File::from(write);
        write
            .write_all(
                b"slurmstepd-n1: error: execve(): /x/w: No such file or directory\n\
                  srun: error: n1: task 0: Exited with exit code 2\n",
            )
            .unwrap();
        drop(write);
        assert_eq!(lines.read().len(), 2, "both are logged");
        assert_eq!(
            lines.last(),
            Some("slurmstepd-n1: error: execve(): /x/w: No such file or directory")
        );
        assert!(is_srun_task_end("srun: error: vm: task 0: Killed"));
        assert!(!is_srun_task_end(
            "srun: error: Unable to create step for job 5: Invalid node name specified"
        ));
    }

    #[test]
    fn stderr_is_read_as_capped_clean_lines() {
        let (read, write) = pipe().unwrap();
        let mut lines = StderrLines::new(File::from(read)).unwrap();
        let mut write = File::from(write);
        assert!(lines.read().is_empty(), "nothing yet, and no blocking");
        write
            .write_all(b"bash: w: command not found\n\nhalf")
            .unwrap();
        assert_eq!(lines.read(), ["bash: w: command not found"]);
        assert_eq!(lines.last(), Some("bash: w: command not found"));
        let long = vec![b'x'; 3 * MAX_STDERR_LINE];
        write.write_all(b" a line\n\x1b[2Jred\r\n").unwrap();
        write.write_all(&long).unwrap();
        drop(write);
        let got = lines.read();
        assert_eq!(got[0], "half a line");
        assert_eq!(got[1], "\u{fffd}[2Jred", "no escape reaches our terminal");
        assert_eq!(got[2].len(), MAX_STDERR_LINE + " […]".len());
        assert!(got[2].ends_with(" […]"));
        assert_eq!(got.len(), 3, "the unfinished last line at the end");
        assert!(lines.file().is_none(), "ended");
        assert_eq!(lines.last(), Some(got[2].as_str()));
    }

    #[test]
    fn a_worker_that_writes_without_end_is_cut_short_and_counted() {
        let (read, write) = pipe().unwrap();
        let mut lines = StderrLines::new(File::from(read)).unwrap();
        let mut write = File::from(write);
        let start = lines.topped_up;
        let burst = STDERR_BURST as usize;
        let say = |write: &mut File, from: usize, n: usize| {
            let text: String = (from..from + n).map(|i| format!("line {i}\n")).collect();
            write.write_all(text.as_bytes()).unwrap();
        };
        say(&mut write, 0, burst + 50);
        let got = lines.read_at(start);
        assert_eq!(got.len(), burst, "the burst");
        assert_eq!(got[burst - 1], format!("line {}", burst - 1));
        // Three refills later: the count of what was left out, then lines.
        say(&mut write, burst + 50, 10);
        let got = lines.read_at(start + 3 * STDERR_REFILL);
        let want = [
            "[50 more lines not shown]",
            "line 250",
            "line 251",
            "line 252",
        ];
        assert_eq!(got, want);
        say(&mut write, burst + 60, 5);
        drop(write);
        let got = lines.read_at(start + 3 * STDERR_REFILL);
        assert_eq!(got, ["[12 more lines not shown]"], "counted at the end");
        assert_eq!(
            lines.last(),
            Some("line 264"),
            "the last words all the same"
        );
    }
}
