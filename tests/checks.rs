//! Integration tests of what the supervisor believes only once checked:
//! forged journals refused (exit 2, the file untouched), one run per
//! journal, the events file never the journal, events that cannot be
//! written reported and the run going on; and workers that lie, flood, go
//! deaf or never finish, played by the project's own hostile worker
//! (`supervisor-hostile`, behind `--launcher`) beside an honest one.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;
use supervisor::checkpoint::{self, Journal};
use supervisor::sigma::{ChunkResult, Kernel};

/// The honest result over `ranges`, from the sieve.
fn result_over(max: u64, ranges: &[(u64, u64)]) -> ChunkResult {
    let mut kernel = Kernel::new(max);
    let mut r = ChunkResult::default();
    for &(lo, hi) in ranges {
        r.merge(&kernel.run(lo, hi, |_| {})).unwrap();
    }
    r
}

/// Runs `--max 1000000 --resume` on a journal `edit` made (with a valid
/// checksum, as anyone can): it must exit 2 saying `want`, before any
/// work, and leave the file as it was.
fn refused_journal(edit: impl FnOnce(&mut Journal), want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.journal");
    let done = vec![(1, 300_000)];
    let mut j = Journal::new(
        1,
        1_000_000,
        100_000,
        done.clone(),
        result_over(1_000_000, &done),
    );
    edit(&mut j);
    checkpoint::save(&path, &j).unwrap();
    let before = fs::read(&path).unwrap();
    let p = path.to_str().unwrap();
    let done = run(&["--max", "1000000", "--checkpoint", p, "--resume", "--json"]);
    assert_eq!(done.code, Some(2), "{done:?}");
    assert!(done.stdout.is_empty(), "no summary: {done:?}");
    let lines: Vec<&str> = done.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one clear line: {done:?}");
    assert!(
        lines[0].contains(want),
        "{:?} should say {want:?}",
        lines[0]
    );
    assert!(lines[0].contains("left as it is"), "{}", lines[0]);
    assert_eq!(fs::read(&path).unwrap(), before, "the journal is untouched");
}

#[test]
fn forged_journals_exit_2_and_are_left_untouched() {
    let _serial = serial();
    // An honest journal resumes exactly.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("honest.journal");
    let done = vec![(1, 300_000)];
    let j = Journal::new(
        1,
        1_000_000,
        100_000,
        done.clone(),
        result_over(1_000_000, &done),
    );
    checkpoint::save(&path, &j).unwrap();
    let json = run_clean(&[
        "--max",
        "1000000",
        "--checkpoint",
        path.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(json["resumed"], 300_000, "{json}");
    assert_eq!(
        json["perfect"],
        serde_json::json!([6, 28, 496, 8128]),
        "{json}"
    );

    // The forgeries.
    refused_journal(|j| j.done = vec![(5, 4)], "[5, 4] is empty");
    refused_journal(|j| j.chunk = 0, "chunk size is 0");
    refused_journal(
        |j| {
            // [1, 1000001] for a run of [1, 10^6], with counts and Σσ to
            // match: only the range gives it away.
            j.done = vec![(1, 1_000_001)];
            j.result = result_over(1_000_001, &j.done);
        },
        "outside the run's [1, 1000000]",
    );
    refused_journal(
        |j| {
            j.result.perfect = (1..200_000).collect();
            j.result.deficient -= 199_995;
        },
        "199999 perfect",
    );
    refused_journal(|j| j.result.sigma_sum = u128::MAX, "identity");
    refused_journal(
        |j| {
            j.result.perfect.push(299_999);
            j.result.deficient -= 1;
        },
        "299999 perfect, which it is not",
    );
}

#[test]
fn a_second_run_on_the_same_journal_exits_2_naming_the_first() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.journal");
    let p = path.to_str().unwrap();
    let lock = checkpoint::lock_path(&path);
    let mut first = Run::start(&["--max", "10000000000000", "--checkpoint", p, "--quiet"]);
    wait_until(PATIENCE, "the first run's lock", || {
        fs::read_to_string(&lock).is_ok_and(|t| t.trim() == first.pid.to_string())
    });
    for resume in [false, true] {
        let mut args = vec!["--max", "10000000000000", "--checkpoint", p];
        if resume {
            args.push("--resume");
        }
        let second = run(&args);
        assert_eq!(second.code, Some(2), "{second:?}");
        assert!(
            second
                .stderr
                .contains(&format!("in use by another run (pid {})", first.pid)),
            "{second:?}"
        );
    }
    assert!(first.running(), "the first run goes on");
    first.signal(libc::SIGINT);
    let done = first.wait();
    assert_eq!(done.code, Some(130), "{done:?}");
    assert!(!lock.exists(), "the lock file goes with the run");
    assert!(path.exists(), "the journal stays");
}

#[test]
fn events_may_not_overwrite_the_journal() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.journal");
    let p = path.to_str().unwrap();
    let other_spelling = dir.path().join(".").join("run.journal");
    let o = other_spelling.to_str().unwrap();
    // Before the journal exists, and once it does (--resume).
    let done = run(&["--max", "100000", "--checkpoint", p, "--events", o]);
    assert_eq!(done.code, Some(2), "{done:?}");
    assert!(done.stderr.contains("both name"), "{done:?}");
    assert!(!path.exists(), "nothing written");
    run_clean(&["--max", "100000", "--checkpoint", p]);
    let before = fs::read(&path).unwrap();
    let done = run(&[
        "--max",
        "100000",
        "--checkpoint",
        p,
        "--resume",
        "--events",
        o,
    ]);
    assert_eq!(done.code, Some(2), "{done:?}");
    assert_eq!(fs::read(&path).unwrap(), before, "the journal is untouched");
}

#[test]
fn events_that_cannot_be_written_are_reported_once_and_the_run_goes_on() {
    let _serial = serial();
    if !Path::new("/dev/full").exists() {
        eprintln!("NOT RUN: no /dev/full on this machine");
        return;
    }
    let done = run(&["--max", "1000000", "--events", "/dev/full", "--json"]);
    assert_eq!(done.code, Some(0), "{done:?}");
    let warnings: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("cannot write the --events file"))
        .collect();
    assert_eq!(warnings.len(), 1, "once: {}", done.stderr);
    let json = done.json();
    assert_eq!(json["events_complete"], false, "{json}");
    assert_eq!(json["sigma_sum_verified"], true, "{json}");
    // And true when they could be.
    let run = Run::start_with_events(&["--max", "100000", "--json", "--quiet"]);
    let done = run.wait_timeout(Duration::from_secs(60));
    assert_eq!(done.json()["events_complete"], true, "{done:?}");
    assert!(!done.events.is_empty());
}
