//! A real one-node Slurm cluster for the integration tests: munged,
//! slurmctld and slurmd from Debian's packages, brought up by
//! `scripts/slurm/cluster.sh` in a temporary directory of its own (its own
//! config, munge key and socket, free ports), and stopped by pid when the
//! [`Cluster`] is dropped. The daemons are started by the script and
//! outlive it: this process makes itself a child subreaper first, so they
//! are its children once the script has exited, and it reaps them.
//!
//! [`cluster_or_skip`] says loudly when the cluster cannot be had (the
//! packages are missing, a daemon does not start), or panics if
//! `SUPERVISOR_REQUIRE_SLURM=1`.

use super::sshd::run_bounded;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The script that starts and stops the cluster.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/slurm/cluster.sh");

/// The batch script under test.
pub const SBATCH_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/slurm/run.sbatch");

/// How long the cluster may take to come up (the script waits for the node
/// to be idle).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// How long one Slurm client command (`squeue`, `scancel`, ...) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A running one-node cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
    node: String,
}

impl Cluster {
    /// Brings the cluster up and waits until its node is idle; the error
    /// says why not, with the end of the daemons' logs.
    pub fn start() -> Result<Cluster, String> {
        for program in ["munged", "slurmctld", "slurmd", "salloc", "sbatch", "srun"] {
            let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
                .iter()
                .any(|d| Path::new(d).join(program).exists());
            if !found {
                return Err(format!(
                    "{program} is not installed (apt-get install munge slurmctld slurmd \
                     slurm-client)"
                ));
            }
        }
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes no pointers.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
        let dir = tempfile::Builder::new()
            .prefix("slurm-cluster.")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let node = run_bounded(Command::new("hostname").arg("-s"), COMMAND_TIMEOUT)?;
        let node = String::from_utf8_lossy(&node.stdout).trim().to_string();
        let mut script = Command::new(SCRIPT);
        script
            .arg("start")
            .arg(dir.path())
            .env("SLURM_CLUSTER_CTLD_PORT", free_port()?.to_string())
            .env("SLURM_CLUSTER_SLURMD_PORT", free_port()?.to_string());
        let cluster = Cluster {
            conf: dir.path().join("slurm.conf"),
            node,
            dir,
        };
        let out = run_bounded(&mut script, START_TIMEOUT)?;
        if !out.status.success() {
            return Err(format!(
                "{SCRIPT} start failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(cluster)
    }

    /// The `SLURM_CONF` that reaches this cluster.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// `program` with `SLURM_CONF` set for this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }

    /// Runs a Slurm client command (bounded): its stdout, or why it failed.
    pub fn output(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let out = run_bounded(self.command(program).args(args), COMMAND_TIMEOUT)?;
        if !out.status.success() {
            return Err(format!(
                "{program} {}: {}: {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Like [`Cluster::output`], panicking on failure.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        self.output(program, args)
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// The job ids in the queue (pending or running).
    pub fn jobs(&self) -> Vec<u64> {
        self.run("squeue", &["-h", "-o", "%i"])
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Whether `job` is still in the queue.
    pub fn job_queued(&self, job: u64) -> bool {
        self.jobs().contains(&job)
    }

    /// The steps of `job` that run a program (`JOB.N`; not `JOB.batch`,
    /// `JOB.extern` or `JOB.interactive`).
    pub fn steps(&self, job: u64) -> Vec<String> {
        self.run("squeue", &["-h", "-s", "-o", "%i"])
            .lines()
            .map(str::trim)
            .filter(|s| {
                s.split_once('.').is_some_and(|(j, step)| {
                    j == job.to_string() && step.bytes().all(|b| b.is_ascii_digit())
                })
            })
            .map(str::to_string)
            .collect()
    }

    /// The step (`JOB.N`) that process `pid` belongs to, from
    /// `scontrol listpids`.
    pub fn step_of(&self, job: u64, pid: i32) -> Option<String> {
        self.run("scontrol", &["listpids", &job.to_string()])
            .lines()
            .skip(1)
            .find_map(
                |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                    [p, job, step, ..] if p == pid.to_string() => Some(format!("{job}.{step}")),
                    _ => None,
                },
            )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for job in self.jobs() {
            let _ = self.output("scancel", &[&job.to_string()]);
        }
        let _ = run_bounded(
            Command::new(SCRIPT).arg("stop").arg(self.dir.path()),
            COMMAND_TIMEOUT,
        );
        // The daemons were our children (as subreaper): reap them.
        reap_orphans();
    }
}

/// Reaps every child of this process that has ended: the daemons, and the
/// orphans that came to it as subreaper (a `Child` this process still
/// holds is reaped too, so call this only when none is running).
pub fn reap_orphans() {
    loop {
        // SAFETY: waitpid with a null status pointer.
        let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if pid <= 0 {
            break;
        }
    }
}

/// Starts a [`Cluster`], or says loudly why not: panics if
/// `SUPERVISOR_REQUIRE_SLURM=1`, otherwise prints `SKIPPED ...` to stderr
/// and returns `None`.
pub fn cluster_or_skip() -> Option<Cluster> {
    match Cluster::start() {
        Ok(cluster) => Some(cluster),
        Err(why) => {
            if std::env::var("SUPERVISOR_REQUIRE_SLURM").as_deref() == Ok("1") {
                panic!("a Slurm cluster cannot be started (SUPERVISOR_REQUIRE_SLURM=1): {why}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: a Slurm cluster cannot be started: {why}"
            );
            None
        }
    }
}

/// A free TCP port on 127.0.0.1 (free now).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}
