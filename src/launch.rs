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
//! watchdog).

use crate::cli::StartMethod;
use crate::fault::Fault;
use crate::hosts::{Host, Template};
use crate::mp::{Pipes, Process, describe_exitcode, pipe};
use crate::worker::{self, WorkerOptions};
use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
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

/// Everything needed to start one more worker.
#[derive(Clone, Debug)]
pub struct Launcher {
    pub start: Start,
    /// The options every worker gets (`fault` is set per start).
    pub options: WorkerOptions,
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
    /// Starts a worker on `host`, which injects `fault` if one is given, and
    /// returns it with the supervisor's pipe ends.
    pub fn start(&self, host: &Host, fault: Option<Fault>) -> io::Result<(Handle, Pipes)> {
        let options = WorkerOptions {
            fault,
            watchdog: (!host.is_local()).then_some(self.remote.watchdog),
            ..self.options.clone()
        };
        if !host.is_local() {
            let argv = self.remote.template.argv(
                host,
                &self.remote.worker,
                &Launcher::role_args(&options),
            );
            let mut command = Command::new(&argv[0]);
            command.args(&argv[1..]);
            return Process::spawn_piped(&mut command)
                .map(|(p, pipes)| (Handle::Process(p), pipes));
        }
        match self.start {
            Start::Process(StartMethod::Fork) => {
                Process::fork_piped(move || worker::serve_stdio(&options))
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
                    .args(Launcher::role_args(&options))
                    .arg("--parent")
                    .arg(std::process::id().to_string());
                Process::spawn_piped(&mut command).map(|(p, pipes)| (Handle::Process(p), pipes))
            }
            Start::Thread => start_thread(options),
        }
    }

    /// The arguments of the worker role (`supervisor worker ARGS`,
    /// `supervisor-worker ARGS`). Numbers and fault names only: nothing in
    /// them means anything to a remote shell.
    pub fn role_args(options: &WorkerOptions) -> Vec<String> {
        let mut args = vec![
            "--max".into(),
            options.max.to_string(),
            "--heartbeat-ms".into(),
            options.heartbeat.as_millis().max(1).to_string(),
        ];
        if let Some(fault) = options.fault {
            args.extend(["--inject".into(), fault.to_string()]);
        }
        if let Some(n) = options.crash_at {
            args.extend(["--crash-at".into(), n.to_string()]);
        }
        if let Some(bytes) = options.mem_limit {
            args.extend(["--mem-limit".into(), bytes.to_string()]);
        }
        if let Some(d) = options.watchdog {
            args.extend(["--watchdog-ms".into(), d.as_millis().max(1).to_string()]);
        }
        args
    }
}

/// Starts a worker thread serving the protocol over a fresh pair of pipes.
fn start_thread(options: WorkerOptions) -> io::Result<(Handle, Pipes)> {
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
                worker::serve(&input, &mut output, &options)
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

    /// How it ended, for people.
    pub fn describe(&self, code: Option<i32>) -> String {
        match (self, code) {
            (Handle::Process(_), Some(code)) => describe_exitcode(code),
            (Handle::Thread(_), Some(PANICKED)) => {
                "panicked; caught at the thread boundary".to_string()
            }
            (Handle::Thread(_), Some(code)) => format!("thread returned {code}"),
            (_, None) => "still running: a thread cannot be killed, so it was abandoned \
                          and keeps its core and memory until the process exits"
                .to_string(),
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
