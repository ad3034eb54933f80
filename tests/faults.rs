//! Integration tests of supervision: every injected fault kind, workers
//! stopped and killed from outside, chaos, a poison number, restart
//! intensity, SIGINT/SIGTERM to the supervisor, and the event file. Real
//! processes and real signals; the results must be exact all the same.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const KINDS: [&str; 7] = [
    "hang", "stop", "abort", "segv", "exit", "garbage", "oversize",
];

/// Every fault kind, injected into every slot's first worker: whichever of
/// them gets a chunk first fails on it (however the slots' starts are
/// scheduled, one does), and the run completes with exactly the counts of a
/// clean run.
fn every_fault_kind(method: &str) {
    let base = ["--max", "3000000", "--procs", "3", "--start-method", method];
    let clean = run_clean(&base);
    let expected = Counts::of(&clean);
    for kind in KINDS {
        let injections: Vec<String> = (0..3).map(|slot| format!("{kind}:{slot}")).collect();
        let mut args = base.to_vec();
        for inject in &injections {
            args.extend(["--inject", inject]);
        }
        let stalls_expected = matches!(kind, "hang" | "stop");
        if stalls_expected {
            args.extend(["--stall-timeout", "300ms"]);
        }
        args.extend(["--json", "--quiet"]);
        let done = Run::start_with_events(&args).wait();
        assert_eq!(done.code, Some(0), "{args:?}: {done:?}");
        let json = done.json();
        assert_eq!(json["complete"], true, "{kind} ({method}): {json}");
        assert_eq!(
            json["sigma_sum_verified"], true,
            "{kind} ({method}): {json}"
        );
        assert_eq!(Counts::of(&json), expected, "{kind} ({method}): {json}");
        assert!(
            json["restarts"].as_u64().unwrap() >= 1,
            "{kind} ({method}): {json}"
        );
        if stalls_expected {
            assert!(
                json["stalls"].as_u64().unwrap() >= 1,
                "{kind} ({method}): {json}"
            );
        }
        // The first worker to die was its slot's first, and was replaced.
        let died = done
            .events
            .iter()
            .find(|e| e["event"] == "died")
            .unwrap_or_else(|| panic!("{kind} ({method}): a death in {:?}", done.events));
        let first = done
            .events
            .iter()
            .find(|e| e["event"] == "started" && e["slot"] == died["slot"])
            .expect("its slot started");
        assert_eq!(first["pid"], died["pid"], "{kind} ({method})");
        assert!(
            done.events
                .iter()
                .any(|e| e["event"] == "replaced" && e["slot"] == died["slot"]),
            "{kind} ({method}): {:?}",
            done.events
        );
    }
}

per_start_method! {
    every_fault_kind => every_fault_kind;
}

/// From outside: SIGSTOP one worker and SIGKILL another mid-run. The result
/// is exact, and the stopped worker is killed and reaped.
fn stopped_and_killed_from_outside(method: &str) {
    let max = long_max(4.0);
    let max_s = max.to_string();
    let run = Run::start_with_events(&[
        "--max",
        &max_s,
        "--procs",
        "2",
        "--start-method",
        method,
        "--stall-timeout",
        "1s",
        "--json",
        "--quiet",
    ]);
    let workers = run.wait_for_workers(2);
    let (stopped, killed) = (workers[0], workers[1]);
    let stopped_id = ident(stopped).expect("a live worker");
    let killed_id = ident(killed).expect("a live worker");
    signal(stopped, libc::SIGSTOP);
    signal(killed, libc::SIGKILL);
    // The supervisor notices both: the killed one at once, the stopped one
    // at its stall timeout; each is reaped before its `died` event.
    let died = |pid: i32| {
        move |events: &[Value]| {
            events
                .iter()
                .any(|e| e["event"] == "died" && e["pid"] == pid)
        }
    };
    wait_until(PATIENCE, "the stopped worker's death", || {
        died(stopped)(&run.events())
    });
    assert_eq!(state_of(stopped_id), None, "the stopped worker is reaped");
    wait_until(PATIENCE, "the killed worker's death", || {
        died(killed)(&run.events())
    });
    assert_eq!(state_of(killed_id), None, "the killed worker is reaped");
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(max), "{json}");
    assert_eq!(json["sigma_sum_verified"], true);
    assert!(json["restarts"].as_u64().unwrap() >= 2, "{json}");
    assert!(json["stalls"].as_u64().unwrap() >= 1, "{json}");
    assert!(
        done.events
            .iter()
            .any(|e| e["event"] == "stalled" && e["pid"] == stopped),
        "the stopped worker stalled: {:?}",
        done.events
    );
    for id in [stopped_id, killed_id] {
        assert_eq!(state_of(id), None, "{id:?} is gone after the run");
    }
}

per_start_method! {
    stopped_and_killed_from_outside => stopped_and_killed_from_outside;
}

/// A random worker SIGKILLed every 50 ms for the whole run: still exact.
fn chaos(method: &str) {
    let max = long_max(3.0);
    let max_s = max.to_string();
    let mut run = Run::start(&[
        "--max",
        &max_s,
        "--procs",
        "2",
        "--start-method",
        method,
        "--chunk",
        "65536",
        "--max-restarts",
        "100000",
        "--max-attempts",
        "1000000",
        "--json",
        "--quiet",
    ]);
    let mut rng = Rng::seeded();
    let mut kills = 0u64;
    let deadline = Instant::now() + PATIENCE * 2;
    while run.running() {
        assert!(Instant::now() < deadline, "the run did not end");
        let workers = run.workers();
        if !workers.is_empty() {
            signal(workers[rng.below(workers.len())], libc::SIGKILL);
            kills += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(max), "{json}");
    assert_eq!(json["complete"], true);
    assert_eq!(json["sigma_sum_verified"], true);
    let restarts = json["restarts"].as_u64().unwrap();
    assert!(restarts >= 1, "{json}");
    eprintln!("chaos ({method}): {kills} kills sent, {restarts} restarts, max {max}");
}

per_start_method! {
    chaos => chaos;
}

/// `crash-at:8128`: the chunk holding it is split until a small piece is
/// quarantined; everything else is counted exactly (exit 3).
fn poison_number(method: &str, procs: Option<&str>) {
    let mut args = vec![
        "--inject",
        "crash-at:8128",
        "--max",
        "100000",
        "--start-method",
        method,
        "--json",
        "--quiet",
    ];
    if let Some(p) = procs {
        args.extend(["--procs", p]);
    }
    let done = run(&args);
    assert_eq!(done.code, Some(3), "{args:?}: {done:?}");
    let json = done.json();
    assert_eq!(json["perfect"], serde_json::json!([6, 28, 496]), "{json}");
    let q = json["quarantined"].as_array().expect("quarantined");
    assert_eq!(q.len(), 1, "{json}");
    let (lo, hi) = (q[0][0].as_u64().unwrap(), q[0][1].as_u64().unwrap());
    assert!(lo <= 8128 && 8128 <= hi, "{json}");
    assert!(hi - lo < 1000, "at most 1000 numbers: {json}");
    assert_eq!(json["checked"], 100_000 - (hi - lo + 1), "{json}");
    assert_eq!(json["sigma_sum_verified"], true, "{json}");
    assert_eq!(json["complete"], false, "{json}");
    let c = Counts::of(&json);
    assert_eq!(c.abundant + c.deficient + 3, c.checked, "{json}");
}

#[test]
fn poison_number_is_quarantined() {
    let _serial = serial();
    for method in ["fork", "spawn"] {
        poison_number(method, Some("2"));
    }
    poison_number("fork", Some("1"));
    poison_number("fork", None);
}

/// Workers dying faster than `--max-restarts` allows stop the run (exit 4),
/// leaving no child behind.
fn restart_intensity(method: &str) {
    let args = [
        "--inject",
        "crash-at:5000",
        "--max",
        "100000",
        "--max-restarts",
        "2",
        "--procs",
        "2",
        "--start-method",
        method,
        "--json",
        "--quiet",
    ];
    let run = Run::start_with_events(&args);
    let pid = run.pid;
    let done = run.wait();
    assert_eq!(done.code, Some(4), "{done:?}");
    let json = done.json();
    assert_eq!(json["interrupted"], "restart intensity exceeded", "{json}");
    assert_eq!(json["complete"], false, "{json}");
    assert_eq!(json["exit_code"], 4, "{json}");
    let pids = started_pids(&done.events);
    assert!(pids.len() >= 3, "{:?}", done.events);
    assert!(
        children_of(pid).is_empty(),
        "children of the exited supervisor"
    );
    for p in pids {
        // Gone (a later process may have the same pid: not a zombie, not
        // stopped).
        assert!(
            stat(p).is_none_or(|s| s.state != 'Z' && s.state != 'T'),
            "worker {p} left behind: {:?}",
            stat(p)
        );
    }
}

#[test]
fn restart_intensity_exceeded_stops_the_run() {
    let _serial = serial();
    restart_intensity("fork");
    restart_intensity("spawn");
}

/// SIGINT/SIGTERM to the supervisor: a prompt exit with 128 + the signal,
/// every worker reaped, and a partial summary on stdout. With `stop`, one
/// worker is SIGSTOPped first: it must not hold the shutdown up.
fn stopped_by(sig: i32, code: i32, method: &str, stop_one: bool) {
    let run = Run::start_with_events(&[
        "--max",
        "1000000000000",
        "--procs",
        "2",
        "--start-method",
        method,
        "--grace",
        "1s",
        "--json",
        "--quiet",
    ]);
    let workers = run.wait_for_workers(2);
    // Let some chunks be counted.
    std::thread::sleep(Duration::from_millis(300));
    if stop_one {
        signal(workers[0], libc::SIGSTOP);
    }
    let sent = Instant::now();
    run.signal(sig);
    let done = run.wait_timeout(Duration::from_secs(30));
    let took = sent.elapsed();
    assert_eq!(done.code, Some(code), "{done:?}");
    // The grace period (1 s) and a generous margin.
    assert!(took < Duration::from_secs(11), "exit took {took:?}");
    let json = done.json();
    assert_eq!(json["complete"], false, "{json}");
    assert_eq!(json["exit_code"], code, "{json}");
    let name = if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    assert_eq!(json["interrupted"], name, "{json}");
    assert!(json["checked"].is_u64(), "{json}");
    // Nothing was kept: one line says how to keep it next time (--quiet
    // silences events, not this).
    let hints: Vec<&str> = done.stderr.lines().filter(|l| l.contains("hint")).collect();
    assert_eq!(hints.len(), 1, "{done:?}");
    assert!(hints[0].contains("--checkpoint FILE"), "{done:?}");
    let started = started_pids(&done.events);
    assert!(started.len() >= 2);
    for p in started {
        assert!(
            stat(p).is_none_or(|s| s.state != 'Z' && s.state != 'T'),
            "worker {p} left behind: {:?}",
            stat(p)
        );
    }
    assert!(
        done.events.iter().any(|e| e["event"] == "shutdown"),
        "{:?}",
        done.events
    );
}

#[test]
fn sigint_stops_the_run() {
    let _serial = serial();
    stopped_by(libc::SIGINT, 130, "fork", false);
    stopped_by(libc::SIGINT, 130, "spawn", true);
}

#[test]
fn sigterm_stops_the_run() {
    let _serial = serial();
    stopped_by(libc::SIGTERM, 143, "spawn", false);
    stopped_by(libc::SIGTERM, 143, "fork", true);
}

/// A stop by SIGTERM whose stderr cannot be written (full, or a terminal
/// that went away) still exits 143: the lines it cannot say are dropped,
/// not a panic.
#[test]
fn sigterm_with_a_full_stderr_exits_143() {
    let _serial = serial();
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("NOT RUN: no /dev/full on this machine");
        return;
    }
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full");
    let full = full().expect("/dev/full");
    let run = Run::start_custom(
        &["--max", "1e10", "--procs", "1", "--json", "--quiet"],
        false,
        |command| {
            command.stderr(full);
        },
    );
    run.wait_for_workers(1);
    run.signal(libc::SIGTERM);
    let done = run.wait_timeout(Duration::from_secs(30));
    assert_eq!(done.code, Some(143), "{done:?}");
    assert_eq!(done.json()["interrupted"], "SIGTERM");
}

/// A second SIGINT during a long grace period kills the workers at once.
#[test]
fn second_sigint_kills_at_once() {
    let _serial = serial();
    let run = Run::start(&[
        "--max",
        "1000000000000",
        "--procs",
        "2",
        "--grace",
        "1h",
        "--json",
        "--quiet",
    ]);
    let workers = run.wait_for_workers(2);
    let ids: Vec<Ident> = workers.iter().filter_map(|&p| ident(p)).collect();
    // A stopped worker ignores the SIGTERM of the shutdown: only SIGKILL
    // ends it, so without the second SIGINT the run would wait an hour.
    signal(workers[0], libc::SIGSTOP);
    run.signal(libc::SIGINT);
    wait_until(PATIENCE, "the shutdown to begin", || {
        ids.iter().skip(1).all(|&id| state_of(id).is_none())
    });
    run.signal(libc::SIGINT);
    let done = run.wait_timeout(Duration::from_secs(30));
    assert_eq!(done.code, Some(130), "{done:?}");
    for id in ids {
        assert_eq!(state_of(id), None, "{id:?} reaped");
    }
}

#[test]
fn events_file_is_json_lines() {
    let _serial = serial();
    let done = Run::start_with_events(&[
        "--max", "3000000", "--procs", "2", "--inject", "abort:0", "--json", "--quiet",
    ])
    .wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(!done.events.is_empty());
    for e in &done.events {
        assert!(e["event"].is_string(), "{e}");
        assert!(e["time"].is_string(), "{e}");
        assert!(e["t"].is_number(), "{e}");
    }
    let names = event_names(&done.events);
    for name in ["started", "died", "requeued", "replaced"] {
        assert!(names.iter().any(|n| n == name), "no {name} in {names:?}");
    }
    assert_eq!(names[0], "started");
    let died = done
        .events
        .iter()
        .find(|e| e["event"] == "died")
        .expect("a died event");
    assert_eq!(died["slot"], 0, "{died}");
    assert!(
        died["status"].as_str().unwrap().contains("SIGABRT"),
        "{died}"
    );
    assert!(died["chunk"]["lo"].is_u64(), "{died}");
    let json = done.json();
    assert_eq!(json["restarts"], 1, "{json}");
}
