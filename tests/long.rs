//! Long runs: checkpoint journals that survive SIGINT and SIGKILL, resume
//! to a result identical to an uninterrupted run, refuse a journal that does
//! not fit; and the live view, drawn only where asked, never on stdout.

mod common;

use common::{Counts, Run, finished_in, run, run_clean, serial, wait_until};
use std::fs;
use std::path::Path;
use std::time::Duration;

/// A range that takes a few seconds here in a debug or release build, in
/// small chunks so a journal grows often.
const MAX: &str = "600000000";
const CHUNK: &str = "1000000";

/// A run of [1, MAX] journaled to `path`, written every `every`.
fn journal_args<'a>(path: &'a str, every: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--procs",
        "2",
        "--max",
        MAX,
        "--chunk",
        CHUNK,
        "--checkpoint",
        path,
        "--checkpoint-every",
        every,
    ];
    args.extend(extra);
    args
}

fn reference() -> Counts {
    Counts::of(&run_clean(&[
        "--procs", "2", "--max", MAX, "--chunk", CHUNK,
    ]))
}

#[test]
fn interrupted_then_resumed_equals_an_uninterrupted_run() {
    let _serial = serial();
    let want = reference();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("run.journal");
    let path = journal.to_str().unwrap();
    for (round, sig) in [libc::SIGINT, libc::SIGTERM].into_iter().enumerate() {
        let args = if round == 0 {
            journal_args(path, "100ms", &["--quiet", "--json"])
        } else {
            journal_args(path, "100ms", &["--quiet", "--json", "--resume"])
        };
        let before = finished_in(&journal);
        let r = Run::start(&args);
        // Interrupt once this run has journaled work (so it is up and has
        // its signals in hand), at a moment that varies.
        wait_until(Duration::from_secs(60), "a journal with work", || {
            finished_in(&journal) > before
        });
        std::thread::sleep(Duration::from_millis(37 * (round as u64 + 1)));
        r.signal(sig);
        let done = r.wait();
        assert_eq!(done.code, Some(128 + sig), "{done:?}");
        assert!(finished_in(&journal) > 0);
        assert!(!done.stderr.contains("hint"), "it has a journal: {done:?}");
    }
    let done = run(&journal_args(
        path,
        "100ms",
        &["--quiet", "--json", "--resume"],
    ));
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), want, "{json}");
    assert_eq!(json["sigma_sum_verified"], true);
    assert!(json["resumed"].as_u64().unwrap() > 0, "{json}");
    // Resuming a finished journal redoes nothing, and says so at start.
    let again = run(&journal_args(path, "100ms", &["--json", "--resume"]));
    assert!(
        again.stderr.lines().next().is_some_and(|first| first
            .contains("600000000 of the 600000000 numbers already checked (100.0%), 0 to go")),
        "{again:?}"
    );
    let again = again.json();
    assert_eq!(Counts::of(&again), want);
    assert_eq!(again["resumed"].as_u64(), Some(600_000_000));
}

#[test]
fn a_supervisor_killed_mid_write_always_leaves_a_loadable_journal() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("run.journal");
    let path = journal.to_str().unwrap();
    let mut kills = 0;
    for round in 0..12u64 {
        let extra: &[&str] = if round == 0 {
            &["--quiet"]
        } else {
            &["--quiet", "--resume"]
        };
        let mut r = Run::start(&journal_args(path, "1ms", extra));
        if round > 0 || journal.exists() {
            std::thread::sleep(Duration::from_millis(20 + round * 7));
        } else {
            wait_until(Duration::from_secs(60), "a first journal", || {
                journal.exists()
            });
            std::thread::sleep(Duration::from_millis(20));
        }
        if r.running() {
            r.signal(libc::SIGKILL);
            kills += 1;
        }
        let done = r.wait();
        assert!(done.code.is_none() || done.code == Some(0), "{done:?}");
        // Whatever moment the kill hit, the journal is whole.
        if journal.exists() {
            let loaded = supervisor::checkpoint::load(&journal);
            assert!(loaded.is_ok(), "round {round}: {loaded:?}");
        }
        // The journal, at most one temporary file, and the lock file a
        // killed run leaves behind (unlocked; the next run takes it over).
        let lock = supervisor::checkpoint::lock_path(&journal);
        let leftovers = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path() != lock)
            .count();
        assert!(leftovers <= 2, "temporary files pile up: {leftovers}");
    }
    assert!(kills >= 6, "only {kills} kills landed mid-run");
}

#[test]
fn a_failed_journal_write_is_reported_and_the_run_goes_on() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("journals");
    fs::create_dir(&folder).unwrap();
    let journal = folder.join("run.journal");
    let path = journal.to_str().unwrap();
    let r = Run::start_with_events(&journal_args(path, "20ms", &["--json"]));
    wait_until(Duration::from_secs(60), "a first journal", || {
        journal.exists()
    });
    // The folder goes away under the run (at once: a rename cannot race the
    // journal's writes as removing its files one by one would): every later
    // write fails.
    fs::rename(&folder, dir.path().join("gone")).unwrap();
    let done = r.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(Counts::of(&done.json()), reference());
    let failed: Vec<_> = done
        .events
        .iter()
        .filter(|e| e["event"] == "checkpoint_failed")
        .collect();
    assert!(!failed.is_empty(), "{:?}", done.events);
    assert_eq!(failed[0]["path"], path);
    // Reported once, then counted: the first failure and the last write.
    assert_eq!(failed[0]["failures"], 1, "{failed:?}");
    assert!(failed.len() <= 2, "{failed:?}");
    assert!(
        !done.events.iter().any(|e| e["event"] == "shutdown"),
        "a failed write does not stop the run: {:?}",
        done.events
    );
    assert!(done.stderr.contains("the run goes on"), "{}", done.stderr);
}

#[test]
fn a_bad_journal_is_refused_and_left_untouched() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("run.journal");
    let path = journal.to_str().unwrap();
    run_clean(&[
        "--max",
        "3000000",
        "--chunk",
        "100000",
        "--checkpoint",
        path,
    ]);
    let good = fs::read(&journal).unwrap();
    let refused = |bytes: &[u8], args: &[&str], needle: &str| {
        fs::write(&journal, bytes).unwrap();
        let done = run(args);
        assert_eq!(done.code, Some(2), "{done:?}");
        assert_eq!(done.stderr.lines().count(), 1, "{done:?}");
        assert!(done.stderr.contains(needle), "{needle}: {done:?}");
        assert!(done.stdout.is_empty());
        assert_eq!(fs::read(&journal).unwrap(), bytes, "the file was changed");
    };
    let resume = [
        "--max",
        "3000000",
        "--chunk",
        "100000",
        "--checkpoint",
        path,
        "--resume",
    ];
    // Another range, another chunk size.
    refused(
        &good,
        &[
            "--max",
            "4000000",
            "--chunk",
            "100000",
            "--checkpoint",
            path,
            "--resume",
        ],
        "does not match",
    );
    refused(
        &good,
        &[
            "--max",
            "3000000",
            "--chunk",
            "50000",
            "--checkpoint",
            path,
            "--resume",
        ],
        "chunk size",
    );
    // Truncated, corrupted, not a journal at all, another version.
    refused(&good[..good.len() / 2], &resume, "truncated");
    let mut flipped = good.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x01;
    refused(&flipped, &resume, "checksum");
    refused(b"hello\n", &resume, "not a supervisor journal");
    let text = String::from_utf8(good.clone()).unwrap();
    refused(
        text.replace("\"program\":\"", "\"program\":\"9.")
            .as_bytes(),
        &resume,
        "checksum",
    );
    // Without --resume an existing journal is not overwritten.
    refused(
        &good,
        &["--max", "3000000", "--checkpoint", path],
        "already exists",
    );
}

#[test]
fn bad_checkpoint_arguments_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap();
    let missing = dir.path().join("no/such/folder/j");
    let unwritable = Path::new("/proc/j");
    let nothing = dir.path().join("none.journal");
    for (args, needle) in [
        (vec!["--max", "100", "--checkpoint", folder], "folder"),
        (
            vec!["--max", "100", "--checkpoint", missing.to_str().unwrap()],
            "cannot write",
        ),
        (
            vec!["--max", "100", "--checkpoint", unwritable.to_str().unwrap()],
            "cannot write",
        ),
        (vec!["--max", "100", "--resume"], "--checkpoint"),
        (
            vec![
                "--max",
                "100",
                "--resume",
                "--checkpoint",
                nothing.to_str().unwrap(),
            ],
            "does not exist",
        ),
        (
            vec![
                "--max",
                "100",
                "--checkpoint-every",
                "0s",
                "--checkpoint",
                "j",
            ],
            "more than zero",
        ),
    ] {
        let done = run(&args);
        assert_eq!(done.code, Some(2), "{args:?}: {done:?}");
        assert_eq!(done.stderr.lines().count(), 1, "{args:?}: {done:?}");
        assert!(done.stderr.contains(needle), "{args:?}: {done:?}");
        assert!(!done.stderr.contains("started"), "work began: {done:?}");
    }
}

#[test]
fn the_live_view_is_drawn_only_where_asked() {
    let _serial = serial();
    // Not a terminal, auto: no escape codes at all.
    let auto = run(&["--max", "50000000", "--procs", "2"]);
    assert_eq!(auto.code, Some(0));
    assert!(!auto.stderr.contains('\x1b'), "{auto:?}");
    let never = run(&["--max", "50000000", "--procs", "2", "--progress", "never"]);
    assert!(!never.stderr.contains('\x1b'));
    // Forced: the view is drawn on stderr; --json stays clean on stdout.
    let always = run(&[
        "--max",
        "300000000",
        "--procs",
        "2",
        "--progress",
        "always",
        "--json",
    ]);
    assert_eq!(always.code, Some(0), "{always:?}");
    assert!(always.stderr.contains('\x1b'), "{always:?}");
    assert!(always.stderr.contains("worker   0  pid"), "{always:?}");
    assert!(!always.stdout.contains('\x1b'));
    always.json();
}

#[test]
fn the_live_view_keeps_the_supervisor_single_threaded() {
    let _serial = serial();
    let r = Run::start(&[
        "--max",
        "100000000000",
        "--procs",
        "2",
        "--progress",
        "always",
        "--quiet",
    ]);
    r.wait_for_workers(2);
    for _ in 0..20 {
        let tasks = fs::read_dir(format!("/proc/{}/task", r.pid))
            .unwrap()
            .count();
        assert_eq!(tasks, 1, "the supervisor has {tasks} threads while drawing");
        std::thread::sleep(Duration::from_millis(30));
    }
    r.signal(libc::SIGINT);
    let done = r.wait();
    assert_eq!(done.code, Some(130), "{done:?}");
    assert!(
        done.stderr.contains("worker   1  pid"),
        "the view was drawn: {done:?}"
    );
}
