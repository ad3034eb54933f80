//! Supervision under the situations users meet: a terminal's Ctrl-Z, `fg`,
//! Ctrl-C and hang-up (real signals to the job's whole process group), an
//! oversubscribed machine, low descriptor and process limits, failed forks,
//! absurd durations, an inherited ignored SIGCHLD, and a poison number at
//! default settings. Every run that finishes is compared with a clean run's
//! numbers. Nothing asserts on wall-clock time.

mod common;

use common::*;
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

/// The supervisor as a shell starts a job: the leader of a process group
/// of its own, so a signal to the group is what a terminal sends.
fn as_job(command: &mut Command) {
    command.process_group(0);
}

/// Sends `sig` to the process group `pgid`, as a terminal does.
fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: kill(2) takes plain integers.
    unsafe { libc::kill(-pgid, sig) };
}

/// A summary's headline fields, for assertion messages (a run of 1024
/// workers has a very long JSON summary).
fn brief(json: &Value) -> String {
    let keys = [
        "exit_code",
        "interrupted",
        "complete",
        "sigma_sum_verified",
        "checked",
        "stalls",
        "restarts",
        "quarantined",
        "elapsed_s",
    ];
    keys.iter()
        .map(|k| format!("{k}: {}", json[k]))
        .collect::<Vec<_>>()
        .join(", ")
}

fn count(events: &[Value], name: &str) -> usize {
    events.iter().filter(|e| e["event"] == name).count()
}

/// The `stalled` events.
fn stalled(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["event"] == "stalled").collect()
}

/// A run long enough to be paused and interrupted (on the ladder, so its
/// counts are known).
fn long_run() -> String {
    long_max(8.0).to_string()
}

/// A long run of `procs` workers started as a shell starts a job, with a
/// 1 s stall timeout and events; its `--max` (on the ladder) and the run.
fn long_job(procs: &str) -> (String, Run) {
    let max = long_run();
    let args = [
        "--max",
        &max,
        "--procs",
        procs,
        "--stall-timeout",
        "1s",
        "--json",
        "--quiet",
    ];
    let run = Run::start_custom(&args, true, as_job);
    (max, run)
}

/// Ctrl-Z, a pause longer than the stall timeout, then `fg`: the workers
/// are stopped with the supervisor and continued with it, nobody is
/// declared stalled, and the result is exact.
#[test]
fn ctrl_z_then_fg_stalls_nobody() {
    let _serial = serial();
    let (max, run) = long_job("3");
    let workers = run.wait_for_workers(3);
    signal_group(run.pid, libc::SIGTSTP);
    // The supervisor stops its workers, then itself.
    wait_until(PATIENCE, "the job and its workers stopped", || {
        stat(run.pid).is_some_and(|s| s.state == 'T')
            && workers
                .iter()
                .all(|&w| stat(w).is_none_or(|s| s.state == 'T'))
    });
    std::thread::sleep(Duration::from_secs(3));
    signal_group(run.pid, libc::SIGCONT); // fg
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(max.parse().unwrap()));
    assert_eq!(json["stalls"], 0, "{json}");
    assert_eq!(json["restarts"], 0, "{json}");
    assert_eq!(count(&done.events, "paused"), 1, "{:?}", done.events);
    assert!(count(&done.events, "continued") >= 1, "{:?}", done.events);
    assert_eq!(count(&done.events, "died"), 0, "{:?}", done.events);
}

/// SIGSTOP cannot be caught: of the job's whole group, of the supervisor
/// alone, or of the supervisor and every worker at once (a frozen machine),
/// for longer than the stall timeout. Continued, the supervisor notices its
/// loop was not running and starts the silence clocks again.
#[test]
fn sigstop_of_the_supervisor_or_everything_stalls_nobody() {
    let _serial = serial();
    for everything in [false, true] {
        let (max, run) = long_job("2");
        let workers = run.wait_for_workers(2);
        signal_group(run.pid, libc::SIGSTOP);
        if everything {
            for &w in &workers {
                signal(w, libc::SIGSTOP);
            }
        }
        std::thread::sleep(Duration::from_secs(3));
        if everything {
            for &w in &workers {
                signal(w, libc::SIGCONT);
            }
        }
        signal_group(run.pid, libc::SIGCONT);
        let done = run.wait();
        assert_eq!(done.code, Some(0), "everything: {everything}: {done:?}");
        let json = done.json();
        assert_eq!(Counts::of(&json), ladder_counts(max.parse().unwrap()));
        assert_eq!(json["stalls"], 0, "everything: {everything}: {json}");
        assert_eq!(json["restarts"], 0, "everything: {everything}: {json}");
    }
}

/// Ctrl-C, SIGTERM and a hang-up sent to the job's whole process group (as
/// a terminal does): only the supervisor gets them, it stops its workers
/// gracefully, prints the partial summary, writes the journal and exits
/// 130, 143 or 129. No worker died of the signal; no chunk was charged.
#[test]
fn terminal_signals_to_the_group_take_the_graceful_path() {
    let _serial = serial();
    for (sig, code, name) in [
        (libc::SIGINT, 130, "SIGINT"),
        (libc::SIGTERM, 143, "SIGTERM"),
        (libc::SIGHUP, 129, "SIGHUP"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("run.journal");
        let journal_arg = journal.to_str().unwrap().to_string();
        let run = Run::start_custom(
            &[
                "--max",
                "1000000000000",
                "--procs",
                "3",
                "--checkpoint",
                &journal_arg,
                "--json",
                "--quiet",
            ],
            true,
            as_job,
        );
        run.wait_for_workers(3);
        std::thread::sleep(Duration::from_millis(500)); // some work done
        signal_group(run.pid, sig);
        let done = run.wait();
        assert_eq!(done.code, Some(code), "{name}: {done:?}");
        let json = done.json();
        assert_eq!(json["interrupted"], name, "{json}");
        assert_eq!(json["exit_code"], code, "{json}");
        assert_eq!(json["complete"], false, "{json}");
        for kind in ["died", "requeued", "killed", "stalled"] {
            assert_eq!(
                count(&done.events, kind),
                0,
                "{name}: {kind}: {:?}",
                done.events
            );
        }
        assert_eq!(count(&done.events, "checkpoint"), 1, "{:?}", done.events);
        assert_eq!(
            finished_in(&journal),
            json["checked"].as_u64().unwrap(),
            "{name}: the journal holds what the summary says"
        );
    }
}

/// Two runs of 1024 workers at once on a small machine: a runnable worker
/// starved of CPU is not stuck. Both finish exact, with no stall.
#[test]
fn oversubscription_is_slowness_not_failure() {
    let _serial = serial();
    let max = "1000000000";
    let clean = run_clean(&["--max", max, "--procs", "2"]);
    let runs: Vec<Run> = (0..2)
        .map(|_| Run::start_with_events(&["--max", max, "--procs", "1024", "--json", "--quiet"]))
        .collect();
    for run in runs {
        let done = run.wait_timeout(Duration::from_secs(900));
        assert_eq!(done.code, Some(0), "stderr: {}", done.stderr);
        let json = done.json();
        let stalls = stalled(&done.events);
        assert!(stalls.is_empty(), "{}: {stalls:?}", brief(&json));
        assert_eq!(json["restarts"], 0, "{}", brief(&json));
        assert_eq!(Counts::of(&json), Counts::of(&clean));
    }
}

/// Under light load, a stopped worker, a spinning one and one asleep in a
/// self-deadlock are each found stuck, for its own reason, and the run is
/// exact.
#[test]
fn stopped_spinning_and_deadlocked_workers_are_still_found() {
    let _serial = serial();
    let done = Run::start_with_events(&[
        "--max",
        "100000000",
        "--procs",
        "3",
        "--stall-timeout",
        "1s",
        "--inject",
        "stop:0",
        "--inject",
        "hang:1",
        "--inject",
        "deadlock:2",
        "--json",
        "--quiet",
    ])
    .wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(100_000_000));
    let whys: Vec<String> = stalled(&done.events)
        .iter()
        .map(|e| format!("{} {}", e["slot"], e["why"]))
        .collect();
    assert_eq!(whys.len(), 3, "{whys:?}");
    for (slot, word) in [(0, "stopped"), (1, "spinning"), (2, "asleep")] {
        assert!(
            whys.iter()
                .any(|w| w.starts_with(&format!("{slot} ")) && w.contains(word)),
            "slot {slot} should be found {word}: {whys:?}"
        );
    }
}

/// Starts a run of [1, 10^8] on 2 workers with `timing` (stall timeout,
/// heartbeat) whose slot 0 is held in uninterruptible sleep (state `D`) by
/// the `uninterruptible` fault; finds that worker while the run goes on,
/// and the child holding it there (panics if none is seen).
fn worker_in_the_kernel(timing: &[&str]) -> (Run, i32, Ident) {
    let mut args = vec!["--max", "100000000", "--procs", "2"];
    args.extend_from_slice(timing);
    args.extend(["--inject", "uninterruptible:0", "--json", "--quiet"]);
    let run = Run::start_with_events(&args);
    let mut found = None;
    wait_until(PATIENCE, "a worker in state D", || {
        found = run.children().into_iter().find_map(|(pid, state)| {
            let sleeper = children_of(pid).first().and_then(|&(kid, _)| ident(kid));
            (state == 'D').then_some(pid).zip(sleeper)
        });
        found.is_some()
    });
    let (worker, sleeper) = found.unwrap();
    (run, worker, sleeper)
}

/// A worker waiting uninterruptibly in the kernel (as a page fault waits
/// for a slow disk or for reclaim) past the stall timeout is slow, not
/// stuck: it is left alone and the run is exact.
#[test]
fn a_worker_waiting_in_the_kernel_is_slow_not_stuck() {
    let _serial = serial();
    let (run, _, sleeper) = worker_in_the_kernel(&["--stall-timeout", "1s"]);
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(json["stalls"], 0, "{}: {:?}", brief(&json), done.events);
    assert_eq!(json["restarts"], 0, "{}", brief(&json));
    // The wait (5 s) outlasted the stall timeout (1 s) many times over.
    assert!(
        json["elapsed_s"].as_f64().unwrap() > 4.0,
        "{}",
        brief(&json)
    );
    assert_eq!(Counts::of(&json), ladder_counts(100_000_000));
    wait_until(PATIENCE, "the sleeping child to be reaped", || {
        dead(sleeper)
    });
}

/// Past the hard bound of 30 stall timeouts a worker waiting in the kernel
/// is stuck after all: it is killed (and the child holding it there dies
/// with it), its chunk is redone, and the run is exact.
#[test]
fn a_worker_in_the_kernel_past_the_hard_bound_is_stuck() {
    let _serial = serial();
    // 30 × 100 ms = 3 s, well within the fault's 5 s wait.
    let (run, worker, sleeper) =
        worker_in_the_kernel(&["--stall-timeout", "100ms", "--heartbeat", "50ms"]);
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    let stalls = stalled(&done.events);
    assert_eq!(stalls.len(), 1, "{}: {stalls:?}", brief(&json));
    assert_eq!(stalls[0]["pid"], worker, "{stalls:?}");
    let why = stalls[0]["why"].as_str().unwrap();
    assert!(
        why.contains("past the bound") && why.contains("state D"),
        "{why}"
    );
    assert_eq!(json["restarts"], 1, "{}", brief(&json));
    assert_eq!(Counts::of(&json), ladder_counts(100_000_000));
    wait_until(PATIENCE, "the sleeping child to die", || dead(sleeper));
}

/// Sets the open-file limit (soft, hard) of the supervisor to be started.
fn nofile(soft: u64, hard: u64) -> impl FnOnce(&mut Command) {
    move |command: &mut Command| {
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// A low soft limit is raised to the hard one; past the hard one, the run
/// is refused before any worker starts, naming the largest --procs that
/// fits, and stdout stays clean.
#[test]
fn open_file_limits_are_raised_or_named() {
    let _serial = serial();
    let done = Run::start_custom(
        &["--max", "10000000", "--procs", "60", "--json", "--quiet"],
        false,
        nofile(64, 4096),
    )
    .wait();
    assert_eq!(done.code, Some(0), "soft 64, hard 4096: {done:?}");
    assert_eq!(done.json()["sigma_sum_verified"], true);

    let done = Run::start_custom(
        &["--max", "10000000", "--procs", "508", "--json", "--quiet"],
        false,
        nofile(1024, 1024),
    )
    .wait();
    assert_eq!(done.code, Some(2), "{done:?}");
    assert!(done.stdout.is_empty(), "{done:?}");
    let line = done.stderr.trim_end();
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(line.contains("RLIMIT_NOFILE"), "{line}");
    assert!(line.contains("--procs 496 or fewer"), "{line}");
}

/// The same with worker threads, which hold four descriptors each in the
/// supervisor (both ends of their two pipes): a low soft limit is raised,
/// and past the hard one the run is refused naming the largest --procs.
#[test]
fn open_file_limits_are_raised_or_named_for_threads() {
    let _serial = serial();
    let threads = ["--mode", "threads", "--max", "2000000", "--chunk", "20000"];
    let args =
        |procs: &'static str| [&threads[..], &["--procs", procs, "--json", "--quiet"]].concat();
    // 300 threads need 32 + 1200 descriptors: far past the soft 64.
    let done = Run::start_custom(&args("300"), false, nofile(64, 4096)).wait();
    assert_eq!(done.code, Some(0), "soft 64, hard 4096: {done:?}");
    assert_eq!(done.json()["sigma_sum_verified"], true);

    // 250 threads need 32 + 1000 > 1024 (250 processes would fit).
    let done = Run::start_custom(&args("250"), false, nofile(1024, 1024)).wait();
    assert_eq!(done.code, Some(2), "{done:?}");
    assert!(done.stdout.is_empty(), "{done:?}");
    let line = done.stderr.trim_end();
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(line.contains("RLIMIT_NOFILE"), "{line}");
    assert!(line.contains("--procs 248 or fewer"), "{line}");
}

/// Forks fail (EAGAIN) once the process limit is reached: each failed start
/// is an event and a failed restart, retried after a backoff; the run
/// finishes exact with the workers it has. With a tight restart intensity,
/// the failures stop the run (exit 4) with a partial summary.
#[test]
fn failed_forks_are_failed_restarts() {
    let _serial = serial();
    // Root is not bound by RLIMIT_NPROC: the run is started as another user.
    let root = unsafe { libc::geteuid() } == 0;
    let uid: u32 = if root {
        65534
    } else {
        unsafe { libc::geteuid() }
    };
    let others = processes_of(uid);
    // The supervisor and two workers fit; the third and fourth do not.
    let limit = others as u64 + 3;
    let limited = move |command: &mut Command| {
        // SAFETY: setrlimit, setgid and setuid are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NPROC, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if root && (libc::setgid(65534) != 0 || libc::setuid(65534) != 0) {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    };
    let max = "100000000";
    let done = Run::start_custom(&["--max", max, "--procs", "4", "--json"], false, limited).wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(100_000_000));
    assert!(
        done.stderr.contains("could not be started") && done.stderr.contains("trying again"),
        "{}",
        done.stderr
    );

    let done = Run::start_custom(
        &[
            "--max",
            "1000000000000",
            "--procs",
            "4",
            "--max-restarts",
            "2",
            "--json",
        ],
        false,
        limited,
    )
    .wait();
    assert_eq!(done.code, Some(4), "{done:?}");
    let json = done.json();
    assert_eq!(json["interrupted"], "restart intensity exceeded", "{json}");
    assert_eq!(json["complete"], false, "{json}");
}

/// How many processes `uid` runs now.
fn processes_of(uid: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("status")).is_ok_and(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(uid)
            })
        })
        .count()
}

/// Every duration flag, given an absurd value: a usage error, one line,
/// never a panic. A heartbeat as long as the stall timeout is refused. A
/// grace period at the bound works after a complete run.
#[test]
fn absurd_durations_are_usage_errors() {
    for flag in [
        "--stall-timeout",
        "--grace",
        "--checkpoint-every",
        "--connect-timeout",
        "--heartbeat",
        "--restart-window",
    ] {
        let done = run(&["--max", "1000", flag, "300000000000y"]);
        assert_eq!(done.code, Some(2), "{flag}: {done:?}");
        let line = done.stderr.trim_end();
        assert!(
            !line.contains('\n') && line.contains(flag),
            "{flag}: {line}"
        );
    }
    let done = run(&[
        "--max",
        "1000",
        "--heartbeat",
        "5s",
        "--stall-timeout",
        "300ms",
    ]);
    assert_eq!(done.code, Some(2), "{done:?}");
    assert!(
        done.stderr.contains("shorter than --stall-timeout"),
        "{done:?}"
    );
    run_clean(&[
        "--max",
        "1000000",
        "--grace",
        "30days",
        "--stall-timeout",
        "30days",
        "--checkpoint-every",
        "30days",
        "--heartbeat",
        "29days",
        "--progress",
        "always",
    ]);
}

/// `killall supervisor` (the fork-started workers share its name) signals
/// the workers and the supervisor at once: the workers' deaths, seen in the
/// same turn as the supervisor's SIGTERM, cost their chunks nothing (here
/// one failure would quarantine a chunk). The supervisor is held stopped
/// while the signals land, so they all wait for the same turn.
#[test]
fn workers_dying_with_the_supervisor_are_not_charged() {
    let _serial = serial();
    let run = Run::start_with_events(&[
        "--max",
        "1000000000000",
        "--procs",
        "2",
        "--max-attempts",
        "1",
        "--json",
        "--quiet",
    ]);
    let workers = run.wait_for_workers(2);
    signal(run.pid, libc::SIGSTOP);
    wait_until(Duration::from_secs(10), "the supervisor to stop", || {
        stat(run.pid).is_some_and(|s| s.state == 'T')
    });
    for &w in &workers {
        signal(w, libc::SIGTERM);
    }
    signal(run.pid, libc::SIGTERM);
    wait_until(Duration::from_secs(10), "the workers to die", || {
        workers
            .iter()
            .all(|&w| stat(w).is_none_or(|s| s.state == 'Z'))
    });
    signal(run.pid, libc::SIGCONT);
    let done = run.wait();
    assert_eq!(done.code, Some(143), "{done:?}");
    let json = done.json();
    assert_eq!(json["quarantined"], serde_json::json!([]), "{json}");
    for kind in ["requeued", "quarantined", "split"] {
        assert_eq!(count(&done.events, kind), 0, "{kind}: {:?}", done.events);
    }
}

/// Started under `nohup` (SIGHUP ignored) from a shell without job control
/// (SIGINT ignored, as for `cmd &` in a script), the supervisor leaves both
/// ignored: a hang-up or a Ctrl-C does not stop it, SIGTERM still does.
#[test]
fn signals_left_ignored_stay_ignored() {
    let _serial = serial();
    let nohup = |command: &mut Command| {
        // SAFETY: signal(2) with SIG_IGN is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            });
        }
    };
    let run = Run::start_custom(
        &[
            "--max",
            "1000000000000",
            "--procs",
            "2",
            "--json",
            "--quiet",
        ],
        true,
        nohup,
    );
    let workers = run.wait_for_workers(2);
    run.signal(libc::SIGHUP);
    run.signal(libc::SIGINT);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        run.workers(),
        workers,
        "the run goes on with the same workers"
    );
    assert_eq!(count(&run.events(), "shutdown"), 0, "{:?}", run.events());
    run.signal(libc::SIGTERM);
    let done = run.wait();
    assert_eq!(done.code, Some(143), "{done:?}");
    assert_eq!(done.json()["interrupted"], "SIGTERM");
}

/// A parent that left SIGCHLD ignored (it survives exec) would have the
/// kernel reap workers itself. The supervisor resets it: an abort and a
/// segfault are reported as what they were.
#[test]
fn an_inherited_ignored_sigchld_is_reset() {
    let _serial = serial();
    let ignore_sigchld = |command: &mut Command| {
        // SAFETY: signal(2) with SIG_IGN is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGCHLD, libc::SIG_IGN);
                Ok(())
            });
        }
    };
    let done = Run::start_custom(
        &[
            "--max", "20000000", "--procs", "2", "--inject", "abort:0", "--inject", "segv:1",
            "--json", "--quiet",
        ],
        true,
        ignore_sigchld,
    )
    .wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(Counts::of(&done.json()), ladder_counts(20_000_000));
    let statuses: Vec<&str> = done
        .events
        .iter()
        .filter(|e| e["event"] == "died")
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.iter().any(|s| s.contains("SIGABRT")),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().any(|s| s.contains("SIGSEGV")),
        "{statuses:?}"
    );
}

/// A poison number at default settings: the chunk holding it is bisected
/// down to at most --quarantine-min numbers without tripping the restart
/// intensity, and everything else is checked and verified (exit 3).
#[test]
fn a_poison_number_at_default_settings_is_quarantined() {
    let _serial = serial();
    let done = run(&[
        "--max",
        "1000000000",
        "--inject",
        "crash-at:8128",
        "--json",
        "--quiet",
    ]);
    assert_eq!(done.code, Some(3), "{done:?}");
    let json = done.json();
    let perfect: Vec<u64> = json["perfect"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(perfect, [6, 28, 496, 33_550_336], "{json}");
    let quarantined = json["quarantined"].as_array().unwrap();
    assert_eq!(quarantined.len(), 1, "{json}");
    let (lo, hi) = (
        quarantined[0][0].as_u64().unwrap(),
        quarantined[0][1].as_u64().unwrap(),
    );
    assert!(lo <= 8128 && 8128 <= hi && hi - lo < 1000, "{json}");
    assert_eq!(
        json["checked"].as_u64().unwrap(),
        1_000_000_000 - (hi - lo + 1)
    );
    assert_eq!(json["sigma_sum_verified"], true, "{json}");
    assert_eq!(json["interrupted"], Value::Null, "{json}");
}

/// `--worker-mem` on a range of very many chunks: 10^13 in chunks of 16384
/// is 6·10^8 chunks. Nothing the supervisor holds for the range may count
/// against a forked worker's address space (a ledger reserved for every
/// chunk took ~940 MB of it, and every worker died allocating). Stopped by
/// SIGTERM once chunks are counted: no worker died on the way.
#[test]
fn worker_mem_holds_on_a_range_of_very_many_chunks() {
    let _serial = serial();
    let mut run = Run::start_with_events(&[
        "--max",
        "1e13",
        "--chunk",
        "16384",
        "--worker-mem",
        "256MiB",
        "--procs",
        "1",
        "--start-method",
        "fork",
        "--json",
        "--quiet",
    ]);
    // Some chunks counted, or the run already over (as it was with the
    // reservation: restart intensity exceeded, exit 4).
    wait_until(PATIENCE, "chunks counted or the run over", || {
        count(&run.events(), "finished") >= 10 || !run.running()
    });
    // The limit is 256 MiB beyond what the worker had mapped when it set
    // it: the supervisor's address space it inherited is not its leak.
    let worker = run.workers()[0];
    let limits = std::fs::read_to_string(format!("/proc/{worker}/limits")).unwrap();
    let limit: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .expect("an address-space limit");
    let status = std::fs::read_to_string(format!("/proc/{worker}/status")).unwrap();
    let mapped_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmSize:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmSize");
    let mib = 1 << 20;
    assert!(
        limit > 256 * mib && limit - 256 * mib <= mapped_kib * 1024,
        "{limits}\n{status}"
    );
    run.signal(libc::SIGTERM);
    let done = run.wait();
    assert_eq!(count(&done.events, "died"), 0, "{}", done.stderr);
    assert_eq!(done.code, Some(143), "{}", done.stderr);
    let json = done.json();
    assert_eq!(json["restarts"], 0, "{json}");
    assert!(json["checked"].as_u64() >= Some(10 * 16384), "{json}");
}
