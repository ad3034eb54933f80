//! How a worker process is started: forked (the child runs the worker loop
//! in a copy of the supervisor) or spawned (this program is executed again in
//! its worker role, a fresh address space). Either way the worker talks over
//! its stdin and stdout and holds no other descriptor of the supervisor's.

use crate::cli::StartMethod;
use crate::fault::Fault;
use crate::mp::{Pipes, Process};
use crate::worker::{self, WorkerOptions};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

/// Everything needed to start one more worker.
#[derive(Clone, Debug)]
pub struct Launcher {
    pub method: StartMethod,
    /// The options every worker gets (`fault` is set per start).
    pub options: WorkerOptions,
    /// The program the spawn method executes; `None` is this executable
    /// (`/proc/self/exe`, which works even if the file was replaced since).
    pub program: Option<PathBuf>,
}

impl Launcher {
    /// Starts a worker, which injects `fault` if one is given, and returns
    /// it with the supervisor's pipe ends.
    pub fn start(&self, fault: Option<Fault>) -> io::Result<(Process, Pipes)> {
        let options = WorkerOptions {
            fault,
            ..self.options.clone()
        };
        match self.method {
            StartMethod::Fork => Process::fork_piped(move || worker::serve_stdio(&options)),
            StartMethod::Spawn => {
                let program = self
                    .program
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
                let mut command = Command::new(program);
                command
                    .arg0("supervisor-worker")
                    .args(self.worker_args(&options))
                    .arg("--parent")
                    .arg(std::process::id().to_string());
                Process::spawn_piped(&mut command)
            }
        }
    }

    /// The arguments of the worker role (`supervisor worker ...`).
    pub fn worker_args(&self, options: &WorkerOptions) -> Vec<String> {
        let mut args = vec![
            "worker".into(),
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
        args
    }
}
