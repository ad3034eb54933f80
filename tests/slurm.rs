//! `--hosts slurm` on a real one-node Slurm cluster (munged, slurmctld and
//! slurmd from Debian's packages, started by this test binary through
//! `scripts/slurm/cluster.sh` and stopped by pid at its end): exact results
//! through `salloc` and `sbatch`; a step cancelled with `scancel`, a remote
//! worker SIGKILLed, an `srun` SIGKILLed and a hung worker, each recovered
//! exactly; a supervisor SIGKILLed inside an allocation leaves no step and
//! no worker; a batch run stopped by Slurm's SIGTERM is resumed exactly by a
//! second submission. Every faulty run is compared with the exact counts.
//!
//! This binary has its own `main` (`harness = false`): the cluster is
//! started once for all the tests and stopped after the last. Where it
//! cannot be started, each test that needs it prints `SKIPPED ...` and is
//! counted as skipped, not passed; CI sets `SUPERVISOR_REQUIRE_SLURM=1`,
//! which turns that into a failure. Arguments filter the tests by name, and
//! `--list` and `--exact` work, as with the standard harness.

mod common;

use common::slurm::{Cluster, SBATCH_SCRIPT, cluster_or_skip, reap_orphans};
use common::sshd::processes_running;
use common::*;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The worker program, beside the supervisor (the default with
/// `--hosts slurm`).
const WORKER: &str = env!("CARGO_BIN_EXE_supervisor-worker");

/// Holds slot 0: its first worker spins in its first chunk and stall
/// detection is far off, so the run cannot end before the test has done
/// what it waits for and lets it go with [`release_slot_0`]. (The remote
/// watchdog is a multiple of the stall timeout, so it is far off too: a
/// worker that dies in these tests was killed, not timed out.)
const HOLD_SLOT_0: [&str; 4] = ["--inject", "hang:0", "--stall-timeout", "600s"];

/// How long a killed step or worker may take to be gone.
const GONE: Duration = Duration::from_secs(15);

type Test = fn(&Cluster);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let exact = args.iter().any(|a| a == "--exact");
    let selected = |name: &str| {
        filters.is_empty()
            || filters.iter().any(|f| {
                if exact {
                    name == f.as_str()
                } else {
                    name.contains(f.as_str())
                }
            })
    };
    let without_cluster: [(&str, fn()); 2] = [
        (
            "outside_an_allocation_it_exits_2",
            outside_an_allocation_it_exits_2,
        ),
        (
            "the_hosts_come_from_the_allocations_environment",
            the_hosts_come_from_the_allocations_environment,
        ),
    ];
    let with_cluster: [(&str, Test); 6] = [
        ("exact_results_through_salloc", exact_results_through_salloc),
        (
            "a_missing_worker_program_is_named_in_the_reason",
            a_missing_worker_program_is_named_in_the_reason,
        ),
        ("exact_results_through_sbatch", exact_results_through_sbatch),
        (
            "a_cancelled_step_a_killed_worker_a_killed_srun_and_a_hung_worker_are_redone_exactly",
            faults_are_redone_exactly,
        ),
        (
            "a_killed_supervisor_leaves_no_step_and_no_worker",
            a_killed_supervisor_leaves_no_step_and_no_worker,
        ),
        (
            "an_interrupted_batch_run_is_resumed_exactly",
            an_interrupted_batch_run_is_resumed_exactly,
        ),
    ];
    // As the standard harness lists its tests (for test runners that ask).
    if args.iter().any(|a| a == "--list") {
        let names = without_cluster.iter().map(|t| t.0);
        for name in names.chain(with_cluster.iter().map(|t| t.0)) {
            if selected(name) && !args.iter().any(|a| a == "--ignored") {
                println!("{name}: test");
            }
        }
        return;
    }
    let (mut passed, mut failed, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut record = |name: &str, ok: bool| {
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if ok {
            passed.push(name.to_string());
        } else {
            failed.push(name.to_string());
        }
    };
    for (name, test) in without_cluster.iter().filter(|t| selected(t.0)) {
        record(name, std::panic::catch_unwind(test).is_ok());
    }
    let wanted: Vec<&(&str, Test)> = with_cluster.iter().filter(|t| selected(t.0)).collect();
    if !wanted.is_empty() {
        match std::panic::catch_unwind(cluster_or_skip) {
            Ok(Some(cluster)) => {
                for (name, test) in wanted {
                    let ok = std::panic::catch_unwind(|| test(&cluster)).is_ok();
                    record(name, ok);
                    // Whatever a failed test left behind does not carry over.
                    for job in cluster.jobs() {
                        let _ = cluster.output("scancel", &[&job.to_string()]);
                    }
                    reap_orphans();
                }
                drop(cluster);
            }
            Ok(None) => {
                for (name, _) in wanted {
                    let _ = writeln!(std::io::stderr(), "SKIPPED {name}: no Slurm cluster");
                    println!("test {name} ... skipped (no Slurm cluster)");
                    skipped.push(name.to_string());
                }
            }
            Err(_) => {
                for (name, _) in wanted {
                    record(name, false);
                }
            }
        }
    }
    println!();
    println!(
        "test result: {}. {} passed; {} failed; {} skipped",
        if failed.is_empty() { "ok" } else { "FAILED" },
        passed.len(),
        failed.len(),
        skipped.len()
    );
    if !failed.is_empty() {
        println!("failures: {}", failed.join(", "));
        std::process::exit(101);
    }
}

/// `salloc -N1 -n{tasks}` running the supervisor with `args` (and
/// `--events`, added by [`Run::start_command`]).
fn salloc(cluster: &Cluster, tasks: &str, args: &[&str]) -> Run {
    let mut command = cluster.command("salloc");
    command
        .args(["-N1", "-n", tasks, "--quiet", "-J", "sv-test", BIN])
        .args(args);
    Run::start_command(command)
}

/// The one job in the queue, once there is one (the tests run one at a
/// time on a private cluster).
fn the_job(cluster: &Cluster) -> u64 {
    let mut jobs = Vec::new();
    wait_until(PATIENCE, "a job in the queue", || {
        jobs = cluster.jobs();
        !jobs.is_empty()
    });
    assert_eq!(jobs.len(), 1, "one job at a time: {jobs:?}");
    jobs[0]
}

/// The first `event` of `slot` in `run`, waited for.
fn event_of(run: &Run, event: &str, slot: usize) -> Value {
    let mut found = None;
    wait_until(PATIENCE, &format!("a {event} event of slot {slot}"), || {
        found = run
            .events()
            .into_iter()
            .find(|e| e["event"] == event && e["slot"] == slot);
        found.is_some()
    });
    found.expect("found")
}

/// The remote pid of the first worker of `slot` (from its Hello).
fn remote_pid(run: &Run, slot: usize) -> i32 {
    event_of(run, "connected", slot)["remote_pid"]
        .as_i64()
        .expect("a remote pid") as i32
}

/// Lets the worker held by [`HOLD_SLOT_0`] go: SIGKILL, and slot 0's next
/// worker redoes its chunk.
fn release_slot_0(run: &Run) {
    signal(remote_pid(run, 0), libc::SIGKILL);
}

/// No worker program runs any more, and `job` has no step left.
fn nothing_left(cluster: &Cluster, job: u64) {
    wait_until(GONE, "every worker to be gone", || {
        processes_running(Path::new(WORKER)).is_empty()
    });
    wait_until(GONE, "every step to be gone", || {
        cluster.steps(job).is_empty()
    });
}

/// The JSON summary in a batch job's output (the one line that is JSON;
/// the script's own lines are there too).
fn summary_in(output: &Path) -> Value {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON summary in {output:?}: {text}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// The exit code and stderr of the binary run with `args` and exactly the
/// environment `env` (no Slurm variables but these).
fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> Done {
    let mut command = Command::new(BIN);
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("SLURM_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    Run::start_command(command).wait()
}

fn outside_an_allocation_it_exits_2() {
    let done = run_with_env(&["--hosts", "slurm", "--max", "100"], &[]);
    assert_eq!(done.code, Some(2), "{done:?}");
    let err = done.stderr.trim_end();
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(err.contains("not inside a Slurm allocation"), "{err}");
    let done = run_with_env(
        &["--hosts", "slurm", "--max", "100"],
        &[("SLURM_JOB_ID", "5"), ("SLURM_JOB_NODELIST", "n[1-")],
    );
    assert_eq!(done.code, Some(2), "{done:?}");
    assert!(done.stderr.contains("not closed"), "{done:?}");
    // A supervisor without its worker program beside it, and no
    // --remote-worker: exit 2, before anything starts.
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("supervisor");
    std::fs::copy(BIN, &alone).unwrap();
    let mut command = Command::new(&alone);
    command
        .args(["--hosts", "slurm", "--max", "100"])
        .envs([
            ("SLURM_JOB_ID", "5"),
            ("SLURM_JOB_NODELIST", "n1"),
            ("SLURM_JOB_CPUS_PER_NODE", "1"),
        ])
        .env_remove("SLURM_NTASKS");
    let done = Run::start_command(command).wait();
    assert_eq!(done.code, Some(2), "{done:?}");
    assert!(
        done.stderr.contains("supervisor-worker is not there"),
        "{done:?}"
    );
}

/// Without a cluster: the environment of a two-node allocation, and a
/// launcher that runs each worker here whatever its node, show that the
/// hosts, their slots and the job come from the environment, and that
/// the summary names them.
fn the_hosts_come_from_the_allocations_environment() {
    let max = "20000000";
    let done = run_with_env(
        &[
            "--hosts",
            "slurm",
            "--launcher",
            "sh -c 'exec \"$0\"' {worker}",
            "--max",
            max,
            "--json",
            "--quiet",
        ],
        &[
            ("SLURM_JOB_ID", "4711"),
            ("SLURM_JOB_NODELIST", "n[1-2]"),
            ("SLURM_JOB_CPUS_PER_NODE", "2,1"),
        ],
    );
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(20_000_000));
    assert_eq!(json["slurm"]["job_id"], 4711, "{json}");
    assert_eq!(json["slurm"]["nodelist"], "n[1-2]", "{json}");
    assert_eq!(json["slurm"]["nodes"], serde_json::json!(["n1", "n2"]));
    assert_eq!(json["slurm"]["slots_from"], "SLURM_JOB_CPUS_PER_NODE");
    assert_eq!(json["procs"], 3, "{json}");
    let slots: Vec<(String, u64)> = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().into(),
                h["slots"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(slots, [("n1".into(), 2), ("n2".into(), 1)]);
    // The text summary names the job too.
    let done = run_with_env(
        &[
            "--hosts",
            "slurm",
            "--launcher",
            "sh -c 'exec \"$0\"' {worker}",
            "--max",
            "1000",
            "--quiet",
        ],
        &[
            ("SLURM_JOB_ID", "4711"),
            ("SLURM_JOB_NODELIST", "n[1-2]"),
            ("SLURM_JOB_CPUS_PER_NODE", "1(x2)"),
        ],
    );
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(
        done.stdout
            .contains("slurm job:       4711 on n[1-2] (2 nodes"),
        "{}",
        done.stdout
    );
    // Every worker said Hello through the launcher: none is left.
    assert!(processes_running(Path::new(WORKER)).is_empty());
}

fn exact_results_through_salloc(cluster: &Cluster) {
    let max = 50_000_000;
    let m = max.to_string();
    // -n2: two tasks, so two slots from SLURM_TASKS_PER_NODE; no -n: the
    // CPUs of the node, from SLURM_JOB_CPUS_PER_NODE.
    for (tasks, slots_from) in [
        (Some("2"), "SLURM_TASKS_PER_NODE"),
        (None, "SLURM_JOB_CPUS_PER_NODE"),
    ] {
        let mut command = cluster.command("salloc");
        command.args(["-N1", "--quiet", "-J", "sv-test"]);
        if let Some(n) = tasks {
            command.args(["-n", n]);
        }
        command.args([BIN, "--hosts", "slurm", "--max", &m, "--json", "--quiet"]);
        let run = Run::start_command(command);
        let job = the_job(cluster);
        let done = run.wait();
        assert_eq!(done.code, Some(0), "{done:?}");
        let json = done.json();
        assert_eq!(json["complete"], true, "{json}");
        assert_eq!(Counts::of(&json), ladder_counts(max), "{json}");
        assert_eq!(json["slurm"]["job_id"], job, "{json}");
        assert_eq!(json["slurm"]["nodes"], serde_json::json!([cluster.node()]));
        assert_eq!(json["slurm"]["slots_from"], slots_from, "{json}");
        let hosts = json["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 1, "{json}");
        assert_eq!(hosts[0]["host"], cluster.node(), "{json}");
        assert_eq!(hosts[0]["state"], "up", "{json}");
        assert_eq!(hosts[0]["failures"], 0, "{json}");
        if tasks.is_some() {
            assert_eq!(hosts[0]["slots"], 2, "{json}");
        }
        for w in json["workers"].as_array().unwrap() {
            if w["chunks"].as_u64().unwrap() > 0 {
                assert!(w["remote_pid"].is_u64(), "a step's worker said Hello: {w}");
            }
        }
        // Each worker was a job step of its own: the events name srun's pid
        // as the launcher, and the remote pids are other processes.
        let started = started_pids(&done.events);
        assert!(!started.is_empty());
        nothing_left(cluster, job);
        wait_until(GONE, "the allocation to end", || !cluster.job_queued(job));
    }
}

fn a_missing_worker_program_is_named_in_the_reason(cluster: &Cluster) {
    let run = salloc(
        cluster,
        "1",
        &[
            "--hosts",
            "slurm",
            "--remote-worker",
            "/nonexistent/supervisor-worker",
            "--host-retries",
            "1",
            "--max",
            "1000000",
            "--json",
            "--quiet",
        ],
    );
    let job = the_job(cluster);
    let done = run.wait();
    assert_eq!(done.code, Some(4), "{done:?}");
    let json = done.json();
    assert_eq!(json["hosts"][0]["state"], "down", "{json}");
    // slurmstepd's execve error, not srun's "Exited with exit code 2"
    // after it.
    let reason = json["hosts"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("/nonexistent/supervisor-worker: No such file or directory"),
        "{reason}"
    );
    nothing_left(cluster, job);
}

/// The batch tests pass `SUPERVISOR` in sbatch's own environment, which
/// the job gets (`--export=ALL` is the default), and not as
/// `--export=ALL,SUPERVISOR=...`: a variable list makes slurmd first run a
/// login shell (`su - root -c ... slurmstepd getenv`) for the user's
/// environment, and a login shell here may wait a minute on a stale lock
/// of a profile script (pyenv's rehash did).
fn exact_results_through_sbatch(cluster: &Cluster) {
    let max = 50_000_000;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("run.journal");
    let output = dir.path().join("job.out");
    let done = cluster
        .command("sbatch")
        .args(["--wait", "-N1", "-n2", "--quiet"])
        .arg(format!("--output={}", output.display()))
        .env("SUPERVISOR", BIN)
        .arg(SBATCH_SCRIPT)
        .arg(&journal)
        .args(["--max", &max.to_string(), "--json", "--quiet"])
        .output()
        .expect("sbatch runs");
    assert!(done.status.success(), "{done:?}");
    let json = summary_in(&output);
    assert_eq!(json["complete"], true, "{json}");
    assert_eq!(Counts::of(&json), ladder_counts(max), "{json}");
    assert_eq!(json["slurm"]["nodes"], serde_json::json!([cluster.node()]));
    assert_eq!(json["procs"], 2, "{json}");
    assert!(journal.exists(), "the journal is kept");
    assert!(processes_running(Path::new(WORKER)).is_empty());
}

/// What a fault test does to slot 1's first worker.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// `scancel JOB.STEP` of its step.
    CancelStep,
    /// SIGKILL of the worker process.
    KillWorker,
    /// SIGKILL of its `srun` (by pid): srun's helper cancels the step.
    KillSrun,
    /// `--inject hang:1`: the supervisor finds it stalled and kills its
    /// srun.
    Hang,
}

fn faults_are_redone_exactly(cluster: &Cluster) {
    let max = long_max(3.0);
    for fault in [
        Fault::CancelStep,
        Fault::KillWorker,
        Fault::KillSrun,
        Fault::Hang,
    ] {
        let m = max.to_string();
        let mut args = vec!["--hosts", "slurm", "--max", &m, "--json", "--quiet"];
        match fault {
            Fault::Hang => args.extend(["--inject", "hang:1", "--stall-timeout", "1s"]),
            _ => args.extend(HOLD_SLOT_0),
        }
        let run = salloc(cluster, "2", &args);
        let job = the_job(cluster);
        let victim = remote_pid(&run, 1);
        let victim_id = ident(victim).expect("the worker runs");
        let step = cluster.step_of(job, victim);
        assert!(
            step.is_some(),
            "{fault:?}: the worker is in a step of job {job}"
        );
        match fault {
            Fault::CancelStep => {
                cluster.run("scancel", &[step.as_deref().unwrap()]);
            }
            Fault::KillWorker => signal(victim, libc::SIGKILL),
            Fault::KillSrun => {
                let srun = event_of(&run, "started", 1)["pid"].as_i64().unwrap() as i32;
                signal(srun, libc::SIGKILL);
            }
            Fault::Hang => {}
        }
        // The victim and its step are gone while the run goes on (slot 0
        // is held, or has work for seconds more).
        wait_until(GONE, &format!("{fault:?}: the worker to be gone"), || {
            dead(victim_id)
        });
        wait_until(GONE, &format!("{fault:?}: its step to be gone"), || {
            !cluster.steps(job).contains(step.as_ref().unwrap())
        });
        if !matches!(fault, Fault::Hang) {
            release_slot_0(&run);
        }
        let done = run.wait();
        assert_eq!(done.code, Some(0), "{fault:?}: {done:?}");
        let json = done.json();
        assert_eq!(Counts::of(&json), ladder_counts(max), "{fault:?}: {json}");
        assert_eq!(json["sigma_sum_verified"], true, "{fault:?}: {json}");
        let failures = json["hosts"][0]["failures"].as_u64().unwrap();
        let want = if matches!(fault, Fault::Hang) { 1 } else { 2 };
        assert_eq!(
            failures, want,
            "{fault:?}: the fault (and the release): {json}"
        );
        assert_eq!(json["hosts"][0]["state"], "up", "{fault:?}: {json}");
        let names = event_names(&done.events);
        assert!(names.contains(&"died".to_string()), "{fault:?}: {names:?}");
        if matches!(fault, Fault::Hang) {
            assert!(names.contains(&"stalled".to_string()), "{names:?}");
        }
        nothing_left(cluster, job);
        wait_until(GONE, "the allocation to end", || !cluster.job_queued(job));
    }
}

fn a_killed_supervisor_leaves_no_step_and_no_worker(cluster: &Cluster) {
    // The allocation outlives the supervisor (a shell waits after it for
    // a marker file), so what ends the steps is the supervisor's death,
    // not the job's end.
    let max = long_max(60.0).to_string();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("done");
    let mut command = cluster.command("salloc");
    command
        .args(["-N1", "-n2", "--quiet", "-J", "sv-test", "sh", "-c"])
        .arg(format!(
            "\"$0\" \"$@\"; while [ ! -e '{}' ]; do sleep 0.05; done",
            marker.display()
        ))
        .args([BIN, "--hosts", "slurm", "--max", &max, "--json", "--quiet"]);
    let run = Run::start_command(command);
    let job = the_job(cluster);
    let workers = [remote_pid(&run, 0), remote_pid(&run, 1)];
    assert_eq!(cluster.steps(job).len(), 2, "one step per worker");
    let supervisors = processes_running(Path::new(BIN));
    assert_eq!(supervisors.len(), 1, "{supervisors:?}");
    let killed = Instant::now();
    signal(supervisors[0], libc::SIGKILL);
    let ids: Vec<Ident> = workers.iter().filter_map(|&p| ident(p)).collect();
    wait_until(GONE, "the workers to be gone", || {
        ids.iter().all(|&id| dead(id))
    });
    nothing_left(cluster, job);
    let _ = writeln!(
        std::io::stderr(),
        "a_killed_supervisor_leaves_no_step_and_no_worker: steps and workers gone {:.3} s \
         after the SIGKILL",
        killed.elapsed().as_secs_f64()
    );
    assert!(cluster.job_queued(job), "the allocation itself lives on");
    std::fs::write(&marker, "").unwrap();
    let done = run.wait();
    assert_eq!(
        done.code,
        Some(0),
        "the shell ends the allocation: {done:?}"
    );
}

fn an_interrupted_batch_run_is_resumed_exactly(cluster: &Cluster) {
    let max = long_max(6.0);
    let m = max.to_string();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("run.journal");
    let submit = |output: &Path, wait: bool| {
        let mut command = cluster.command("sbatch");
        command.args(["-N1", "-n2", "--parsable"]);
        if wait {
            command.arg("--wait");
        }
        command
            .arg(format!("--output={}", output.display()))
            .env("SUPERVISOR", BIN)
            .arg(SBATCH_SCRIPT)
            .arg(&journal)
            .args([
                "--max",
                &m,
                "--json",
                "--quiet",
                "--checkpoint-every",
                "200ms",
            ]);
        command.output().expect("sbatch runs")
    };
    let first = dir.path().join("first.out");
    let out = submit(&first, false);
    assert!(out.status.success(), "{out:?}");
    let job: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .expect("a job id");
    let waited = Instant::now();
    while finished_in(&journal) == 0 {
        assert!(
            waited.elapsed() < PATIENCE,
            "the journal holds no finished work after {PATIENCE:?}; the job's output: {:?}; \
             squeue: {}; sinfo: {}",
            std::fs::read_to_string(&first),
            cluster.run("squeue", &["-o", "%i %T %r"]),
            cluster.run("sinfo", &["-N", "-o", "%N %T %E"]),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // What `#SBATCH --signal=B:TERM@120` does before the time limit.
    cluster.run("scancel", &["--signal=TERM", "--batch", &job.to_string()]);
    wait_until(PATIENCE, "the first job to end", || {
        !cluster.job_queued(job)
    });
    let json = summary_in(&first);
    assert_eq!(json["interrupted"], "SIGTERM", "{json}");
    assert_eq!(json["exit_code"], 143, "{json}");
    let saved = finished_in(&journal);
    assert!(saved > 0 && saved < max, "{saved}");
    assert!(processes_running(Path::new(WORKER)).is_empty());
    // The same command again: it resumes.
    let second = dir.path().join("second.out");
    let out = submit(&second, true);
    assert!(out.status.success(), "{out:?}");
    let json = summary_in(&second);
    assert_eq!(json["complete"], true, "{json}");
    assert_eq!(Counts::of(&json), ladder_counts(max), "{json}");
    assert!(json["resumed"].as_u64().unwrap() >= saved, "{json}");
    let text = std::fs::read_to_string(&second).unwrap();
    assert!(text.contains("resumes"), "{text}");
    assert!(processes_running(Path::new(WORKER)).is_empty());
}
