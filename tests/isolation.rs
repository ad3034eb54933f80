//! Processes versus threads, with real faults: thread mode's normal runs
//! match process mode's; each row of `supervisor isolation` (a fault on
//! threads and on processes) as its own test; and the demonstration itself.

mod common;

use common::{Counts, run, run_clean, serial};
use std::os::unix::process::ExitStatusExt;

const MAX: &str = "3000000";

fn reference() -> Counts {
    Counts::of(&run_clean(&["--max", MAX, "--procs", "2"]))
}

/// One experiment: `--mode MODE --inject FAULT:0`, to its end.
fn with_fault(mode: &str, fault: &str, extra: &[&str]) -> common::Done {
    let inject = format!("{fault}:0");
    let mut args = vec![
        "--mode",
        mode,
        "--procs",
        "2",
        "--max",
        MAX,
        "--json",
        "--quiet",
        "--inject",
        &inject,
        "--stall-timeout",
        "300ms",
    ];
    args.extend(extra);
    run(&args)
}

fn survives_exactly(done: &common::Done, want: &Counts) -> serde_json::Value {
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(&Counts::of(&json), want, "{json}");
    assert_eq!(json["sigma_sum_verified"], true);
    json
}

#[test]
fn thread_mode_matches_process_mode() {
    let _serial = serial();
    let want = reference();
    for procs in ["1", "2", "5"] {
        for chunk in ["10000", "1000000"] {
            let json = run_clean(&[
                "--mode", "threads", "--max", MAX, "--procs", procs, "--chunk", chunk,
            ]);
            assert_eq!(Counts::of(&json), want, "{json}");
            assert_eq!(json["mode"], "threads");
            assert_eq!(
                json["workers"].as_array().unwrap().len(),
                procs.parse::<usize>().unwrap()
            );
        }
    }
}

#[test]
fn hang_abandons_a_thread_and_kills_a_process() {
    let _serial = serial();
    let want = reference();
    let threads = survives_exactly(&with_fault("threads", "hang", &[]), &want);
    assert_eq!(threads["abandoned"], 1, "{threads}");
    assert!(threads["stalls"].as_u64() >= Some(1));
    let processes = survives_exactly(&with_fault("processes", "hang", &[]), &want);
    assert_eq!(processes["abandoned"], 0, "{processes}");
    assert!(processes["restarts"].as_u64() >= Some(1));
}

#[test]
fn a_panic_is_caught_in_both_modes() {
    let _serial = serial();
    let want = reference();
    for mode in ["threads", "processes"] {
        let json = survives_exactly(&with_fault(mode, "panic", &[]), &want);
        assert!(json["restarts"].as_u64() >= Some(1), "{mode}: {json}");
    }
}

#[test]
fn abort_segv_exit_kill_the_thread_pool_but_not_the_process_pool() {
    let _serial = serial();
    let want = reference();
    for (fault, signal, code) in [
        ("abort", Some(libc::SIGABRT), None),
        ("segv", Some(libc::SIGSEGV), None),
        ("exit", None, Some(7)),
    ] {
        let threads = with_fault("threads", fault, &[]);
        assert_eq!(threads.status.signal(), signal, "{fault}: {threads:?}");
        assert_eq!(threads.code, code, "{fault}: {threads:?}");
        assert!(threads.stdout.is_empty(), "every result lost: {threads:?}");
        let processes = survives_exactly(&with_fault("processes", fault, &[]), &want);
        assert!(processes["restarts"].as_u64() >= Some(1), "{processes}");
    }
}

#[test]
fn a_scribble_corrupts_threads_and_the_self_check_catches_it() {
    let _serial = serial();
    let want = reference();
    let threads = with_fault("threads", "scribble", &[]);
    assert_eq!(threads.code, Some(1), "{threads:?}");
    let json = threads.json();
    assert_eq!(json["sigma_sum_verified"], false, "{json}");
    assert_ne!(Counts::of(&json), want);
    assert!(threads.stderr.contains("self-check failed"), "{threads:?}");
    for method in ["fork", "spawn"] {
        survives_exactly(
            &with_fault("processes", "scribble", &["--start-method", method]),
            &want,
        );
    }
}

#[test]
fn a_leak_kills_one_limited_worker_process() {
    let _serial = serial();
    let want = reference();
    for method in ["fork", "spawn"] {
        let json = survives_exactly(
            &with_fault(
                "processes",
                "leak",
                &["--worker-mem", "256MiB", "--start-method", method],
            ),
            &want,
        );
        assert!(json["restarts"].as_u64() >= Some(1), "{json}");
    }
}

#[test]
fn the_isolation_demo_behaves_as_predicted() {
    let _serial = serial();
    let done = run(&["isolation", "--max", "2000000", "--json"]);
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(json["as_predicted"], true, "{json}");
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 16);
    for row in rows {
        for key in [
            "fault",
            "mode",
            "completed",
            "correct",
            "exit",
            "signal",
            "lost_numbers",
            "elapsed_s",
            "recovery_ms",
            "note",
        ] {
            assert!(row.get(key).is_some(), "{key} missing in {row}");
        }
        if row["mode"] == "processes" {
            assert_eq!(row["completed"], true, "{row}");
            assert_eq!(row["correct"], true, "{row}");
        }
    }
    let cell = |fault: &str| {
        rows.iter()
            .find(|r| r["fault"] == fault && r["mode"] == "threads")
            .unwrap()
            .clone()
    };
    assert_eq!(cell("segv")["signal"], "SIGSEGV");
    assert_eq!(cell("abort")["signal"], "SIGABRT");
    assert_eq!(cell("exit")["exit"], 7);
    assert_eq!(cell("scribble")["exit"], 1);
    assert_eq!(cell("hang")["completed"], true);
    assert_eq!(cell("hang")["abandoned"], 1, "the thread is abandoned");
    assert_eq!(cell("hang")["killed"], 0);
    let process = |fault: &str| {
        rows.iter()
            .find(|r| r["fault"] == fault && r["mode"] == "processes")
            .unwrap()
            .clone()
    };
    assert!(process("hang")["killed"].as_u64() >= Some(1), "killed");
    assert_eq!(process("hang")["abandoned"], 0);
    // Every cell that recovers says how fast, whichever worker then
    // finished the requeued chunk.
    for row in rows {
        let recovers = row["completed"] == true
            && !["none", "scribble"].contains(&row["fault"].as_str().unwrap());
        assert_eq!(row["recovery_ms"].is_f64(), recovers, "{row}");
    }
    let text = run(&["isolation", "--max", "2000000"]);
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(
        text.stdout.contains("| fault | threads | processes |"),
        "{}",
        text.stdout
    );
}

/// Its table lost to a full disk is a failure, in one line, not a panic.
#[test]
fn the_isolation_table_to_a_full_disk_fails_in_one_line() {
    let _serial = serial();
    let done = std::process::Command::new(common::BIN)
        .args(["isolation", "--max", "2000000"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    let said = String::from_utf8_lossy(&done.stderr);
    assert!(said.contains("cannot write the table"), "{said}");
    assert!(!said.contains("panicked"), "{said}");
}

#[test]
fn isolation_refuses_a_bad_max_as_a_usage_error() {
    for max in ["10000000000001", "0", "1.5e0"] {
        let done = run(&["isolation", "--max", max]);
        assert_eq!(done.code, Some(2), "{max}: {done:?}");
        assert_eq!(done.stderr.lines().count(), 1, "{max}: {done:?}");
    }
}

#[test]
fn worker_mem_needs_processes() {
    let done = run(&["--mode", "threads", "--max", "10", "--worker-mem", "256MiB"]);
    assert_eq!(done.code, Some(2), "{done:?}");
    assert_eq!(done.stderr.lines().count(), 1, "{done:?}");
}
