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
    // The reverse: perfect numbers left out and counted deficient. The
    // counts and Σσ still agree; only the list gives it away.
    refused_journal(
        |j| {
            j.result.deficient += j.result.perfect.len() as u64;
            j.result.perfect.clear();
        },
        "leaves out 6",
    );
    refused_journal(
        |j| {
            j.result.perfect.retain(|&n| n != 8128);
            j.result.deficient += 1;
        },
        "leaves out 8128",
    );
}

/// A journal forged to take long to check: the most ranges a journal may
/// hold, spread up to 10^13, its counts adding up. Each range would cost
/// two evaluations of the Σσ identity (minutes in all); it is refused
/// before any, exit 2, the file untouched.
#[test]
fn a_journal_too_costly_to_check_is_refused_at_once() {
    let _serial = serial();
    const MAX: u64 = 10_000_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.journal");
    let step = MAX / checkpoint::MAX_RANGES as u64;
    let done: Vec<(u64, u64)> = (1..=checkpoint::MAX_RANGES as u64)
        .map(|i| (i * step - 999, i * step))
        .collect();
    let mut j = Journal::new(1, MAX, 1 << 22, done, ChunkResult::default());
    j.result.deficient = j.finished();
    checkpoint::save(&path, &j).unwrap();
    let before = fs::read(&path).unwrap();
    let p = path.to_str().unwrap();
    let done = Run::start(&["--max", "1e13", "--checkpoint", p, "--resume", "--json"])
        .wait_timeout(Duration::from_secs(30));
    assert_eq!(done.code, Some(2), "{done:?}");
    assert!(done.stdout.is_empty(), "no summary: {done:?}");
    assert_eq!(done.stderr.lines().count(), 1, "one clear line: {done:?}");
    assert!(
        done.stderr.contains("its 16384 finished ranges up to")
            && done.stderr.contains("too many to check"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("left as it is"), "{}", done.stderr);
    assert_eq!(fs::read(&path).unwrap(), before, "the journal is untouched");
}

/// Waits until `first` holds the journal lock at `lock`.
fn wait_for_lock(lock: &Path, first: &Run) {
    wait_until(PATIENCE, "the first run's lock", || {
        fs::read_to_string(lock).is_ok_and(|t| t.trim() == first.pid.to_string())
    });
}

/// A run with `args` is refused (exit 2) naming `first`, which goes on.
fn refused_while_in_use(args: &[&str], first: &mut Run) {
    let second = run(args);
    assert_eq!(second.code, Some(2), "{second:?}");
    assert!(
        second
            .stderr
            .contains(&format!("in use by another run (pid {})", first.pid)),
        "{second:?}"
    );
    assert!(first.running(), "the first run goes on");
}

#[test]
fn a_second_run_on_the_same_journal_exits_2_naming_the_first() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.journal");
    let p = path.to_str().unwrap();
    let lock = checkpoint::lock_path(&path);
    let mut first = Run::start(&["--max", "10000000000000", "--checkpoint", p, "--quiet"]);
    wait_for_lock(&lock, &first);
    for resume in [false, true] {
        let mut args = vec!["--max", "10000000000000", "--checkpoint", p];
        if resume {
            args.push("--resume");
        }
        refused_while_in_use(&args, &mut first);
    }
    first.signal(libc::SIGINT);
    let done = first.wait();
    assert_eq!(done.code, Some(130), "{done:?}");
    assert!(!lock.exists(), "the lock file goes with the run");
    assert!(path.exists(), "the journal stays");
}

/// Two symlinks to one journal are one journal: one lock, and the journal
/// is written to the file they point to, the links left as they are.
#[test]
fn links_to_one_journal_share_its_lock_and_stay_links() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("kept").join("run.journal");
    fs::create_dir(target.parent().unwrap()).unwrap();
    let (a, b) = (dir.path().join("a.journal"), dir.path().join("b.journal"));
    std::os::unix::fs::symlink(&target, &a).unwrap();
    std::os::unix::fs::symlink(&target, &b).unwrap();
    let lock = checkpoint::lock_path(&target);
    let (pa, pb) = (a.to_str().unwrap(), b.to_str().unwrap());
    let mut first = Run::start(&[
        "--max",
        "10000000000000",
        "--checkpoint",
        pa,
        "--checkpoint-every",
        "100ms",
        "--quiet",
    ]);
    wait_for_lock(&lock, &first);
    wait_until(PATIENCE, "the journal written through the link", || {
        target.exists()
    });
    refused_while_in_use(
        &["--max", "10000000000000", "--checkpoint", pb, "--resume"],
        &mut first,
    );
    first.signal(libc::SIGINT);
    let done = first.wait();
    assert_eq!(done.code, Some(130), "{done:?}");
    for link in [&a, &b] {
        assert!(fs::symlink_metadata(link).unwrap().is_symlink(), "{link:?}");
    }
    assert_eq!(finished_in(&a), finished_in(&target));
    assert!(finished_in(&target) > 0, "the journal holds the work done");
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

/// The worker program the hostile proxy runs.
const WORKER: &str = env!("CARGO_BIN_EXE_supervisor-worker");

/// The hostile proxy (`hostile/main.rs`): the host name is its mode.
const HOSTILE: &str = env!("CARGO_BIN_EXE_supervisor-hostile");

/// The range the liars work on: ten chunks, the sixth holding 33 550 336.
const RANGE: [&str; 6] = [
    "--min", "33000001", "--max", "34000000", "--chunk", "100000",
];

/// A clean run's numbers over `range` on two local workers.
fn clean(range: &[&str]) -> Counts {
    let mut args = range.to_vec();
    args.extend(["--procs", "2"]);
    Counts::of(&run_clean(&args))
}

/// Starts `range` on `hosts`, each host not `localhost` played by the
/// hostile proxy in the mode its name says, with events and `extra`.
fn on_hosts(hosts: &str, range: &[&str], extra: &[&str]) -> Run {
    let launcher = format!("{HOSTILE} {{host}} {{worker}}");
    let mut args = range.to_vec();
    args.extend([
        "--hosts",
        hosts,
        "--launcher",
        &launcher,
        "--remote-worker",
        WORKER,
    ]);
    args.extend(extra);
    Run::start_with_events(&args)
}

/// Runs `range` on an honest local worker (slot 0) beside a hostile one
/// (slot 1, host `mode`), with events, a 1 s stall timeout and `extra`.
fn beside_honest(mode: &str, range: &[&str], extra: &[&str]) -> Done {
    let mut flags = vec!["--stall-timeout", "1s", "--json"];
    flags.extend(extra);
    on_hosts(&format!("localhost:1,{mode}:1"), range, &flags).wait_timeout(Duration::from_secs(120))
}

/// The liar's line in the summary's host table.
fn liar<'a>(json: &'a serde_json::Value, mode: &str) -> &'a serde_json::Value {
    json["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["host"] == mode)
        .unwrap_or_else(|| panic!("no {mode} in {json}"))
}

/// The run ended exact, verified, exit 0: the liar's work was redone.
fn assert_exact(done: &Done, expected: &Counts) -> serde_json::Value {
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(&Counts::of(&json), expected, "{json}");
    assert_eq!(json["sigma_sum_verified"], true, "{json}");
    assert_eq!(json["complete"], true, "{json}");
    json
}

/// A result that lies on every chunk: the local worker's first chunk
/// hangs until it is stalled, so the liar certainly gets work (the
/// chunk with 33 550 336 among it); the run must end exact, the liar
/// marked down.
fn lying_results_are_caught(mode: &str) -> Done {
    lying_results_are_caught_with(mode, &[])
}

/// [`lying_results_are_caught`] with `extra` flags (how much is
/// double-checked).
fn lying_results_are_caught_with(mode: &str, extra: &[&str]) -> Done {
    let _serial = serial();
    let expected = clean(&RANGE);
    assert_eq!(expected.perfect, [33_550_336]);
    let mut flags = vec!["--inject", "hang:0"];
    flags.extend(extra);
    let done = beside_honest(mode, &RANGE, &flags);
    let json = assert_exact(&done, &expected);
    assert_eq!(liar(&json, mode)["state"], "down", "{json}");
    done
}

/// What a run's JSON summary says of its double-checks.
fn caught(done: &Done) -> (u64, u64) {
    let json = done.json();
    (
        json["verified_chunks"].as_u64().expect("verified_chunks"),
        json["mismatches"].as_u64().expect("mismatches"),
    )
}

/// Whether the run reported a mismatch whose `what` names `about`.
fn mismatch_about(done: &Done, about: &str) -> bool {
    done.events
        .iter()
        .any(|e| e["event"] == "mismatch" && e["what"].as_str().unwrap().contains(about))
}

/// Caught by the default double-check of a remote host's first two
/// chunks: the second answer differs, and with no third host the
/// supervisor's own answer decides.
#[test]
fn counts_moved_from_deficient_to_abundant_are_caught() {
    let done = lying_results_are_caught("shift-counts");
    let (verified, mismatches) = caught(&done);
    assert!(verified >= 1 && mismatches >= 1, "{:?}", done.json());
    assert!(mismatch_about(&done, "abundant"), "{:?}", done.events);
    assert!(
        done.events
            .iter()
            .any(|e| e["event"] == "revoked" && e["host"] == "shift-counts"),
        "{:?}",
        done.events
    );
}

/// With a third host up, a worker there decides the mismatch, not the
/// supervisor. The local worker is held (it spins in its first chunk) until
/// the liar and the honest remote host have disagreed, so the third
/// answer can only be the local host's, once the test has killed the held
/// worker and its replacement is free.
#[test]
fn a_third_host_s_worker_decides_a_mismatch() {
    let _serial = serial();
    let expected = clean(&RANGE);
    let run = on_hosts(
        "localhost:1,shift-counts:1,honest:1",
        &RANGE,
        &[
            "--verify-sample",
            "0",
            "--inject",
            "hang:0",
            "--stall-timeout",
            "600s",
            "--json",
        ],
    );
    wait_until(PATIENCE, "the liar and the honest host to disagree", || {
        run.events().iter().any(|e| e["event"] == "mismatch")
    });
    let held = started_pids(&run.events())[0];
    signal(held, libc::SIGKILL);
    let done = run.wait_timeout(Duration::from_secs(120));
    let json = assert_exact(&done, &expected);
    assert_eq!(liar(&json, "shift-counts")["state"], "down", "{json}");
    assert_eq!(liar(&json, "honest")["state"], "up", "{json}");
    assert!(json["mismatches"].as_u64() >= Some(1), "{json}");
    assert_eq!(json["arbitrated"], 0, "{json}");
    let settled: Vec<_> = done
        .events
        .iter()
        .filter(|e| e["event"] == "verified" && !e["losers"].as_array().unwrap().is_empty())
        .collect();
    assert!(!settled.is_empty(), "{:?}", done.events);
    for e in settled {
        assert_eq!(e["by"], "workers", "{e}");
        assert_eq!(e["losers"], serde_json::json!(["shift-counts"]), "{e}");
    }
}

/// Only the chunk with 33 550 336 in it lies, so only a double-check of
/// every chunk is sure to see it.
#[test]
fn hidden_perfect_numbers_are_caught() {
    let done = lying_results_are_caught_with("hide-perfect", &["--verify-sample", "1"]);
    assert!(caught(&done).1 >= 1, "{:?}", done.json());
}

#[test]
fn a_false_perfect_number_is_caught() {
    lying_results_are_caught("claim-first-perfect");
}

/// Already caught on today's loop: the schedule counts in u128.
#[test]
fn counts_that_only_add_up_by_wrapping_are_caught() {
    lying_results_are_caught("wrap-abundant");
}

/// A third chunk with a wrong Σσ, past the two double-checked by
/// default: the run's Σσ self-check disagrees when the run is done, finds
/// the chunk by bisection over prefix sums, and the liar is marked down
/// and all it returned redone.
#[test]
fn a_wrong_sigma_past_the_double_checks_is_found_by_the_identity() {
    let done = lying_results_are_caught_with("inflate-sigma", &["--verify-sample", "0"]);
    assert_eq!(caught(&done).1, 1, "{:?}", done.json());
    let refuted: Vec<_> = done
        .events
        .iter()
        .filter(|e| e["event"] == "refuted")
        .collect();
    assert_eq!(refuted.len(), 1, "{:?}", done.events);
    assert_eq!(refuted[0]["host"], "inflate-sigma", "{refuted:?}");
    assert_eq!(
        refuted[0]["claimed"].as_u64().unwrap() - refuted[0]["identity"].as_u64().unwrap(),
        1_000_000_000_000
    );
}

/// Σσ moved between chunks cancels out in the run's total, so no
/// identity over the whole run sees it; the default double-check of a
/// remote host's first chunks does.
#[test]
fn sigma_moved_between_chunks_is_caught_by_a_double_check() {
    let done = lying_results_are_caught("shift-sigma");
    assert!(caught(&done).1 >= 1, "{:?}", done.json());
    assert!(mismatch_about(&done, "Σσ"), "{:?}", done.events);
}

/// A liar alone: once it is caught nothing trustworthy is left, so the
/// run stops (exit 4) and claims no verified Σσ.
#[test]
fn a_liar_alone_is_caught_and_nothing_is_claimed() {
    let _serial = serial();
    let done = on_hosts(
        "inflate-sigma:1",
        &RANGE,
        &["--verify-first", "0", "--verify-sample", "0", "--json"],
    )
    .wait_timeout(Duration::from_secs(120));
    assert_eq!(done.code, Some(4), "{done:?}");
    let json = done.json();
    assert_eq!(json["sigma_sum_verified"], false, "{json}");
    assert_eq!(json["complete"], false, "{json}");
    assert_eq!(liar(&json, "inflate-sigma")["state"], "down", "{json}");
    assert!(json["revoked_chunks"].as_u64() > Some(0), "{json}");
}

/// A liar alone, every chunk double-checked: its one worker answers its
/// third chunk wrong and the replica right, so the supervisor's own answer
/// agrees with one of the liar's. The host is caught lying all the same (a
/// right answer does not excuse a wrong one); nothing trustworthy is left,
/// so the run stops (exit 4) as when every host is down.
#[test]
fn a_liar_s_own_right_answer_does_not_excuse_its_wrong_one() {
    let _serial = serial();
    let done = on_hosts(
        "inflate-sigma:1",
        &RANGE,
        &["--verify-sample", "1", "--json"],
    )
    .wait_timeout(Duration::from_secs(120));
    assert_eq!(done.code, Some(4), "{done:?}");
    let json = done.json();
    assert_eq!(json["sigma_sum_verified"], false, "{json}");
    assert_eq!(json["complete"], false, "{json}");
    assert_eq!(liar(&json, "inflate-sigma")["state"], "down", "{json}");
    assert_eq!(
        (json["mismatches"].as_u64(), json["arbitrated"].as_u64()),
        (Some(1), Some(1)),
        "{json}"
    );
    let lost: Vec<_> = done
        .events
        .iter()
        .filter(|e| e["event"] == "verified" && e["losers"] == serde_json::json!(["inflate-sigma"]))
        .collect();
    assert_eq!(lost.len(), 1, "{:?}", done.events);
    assert_eq!(lost[0]["by"], "the supervisor", "{}", lost[0]);
}

/// Workers that die while chunks are under double-check (an abort and a
/// segfault, one in each of two slots' next workers, whatever they hold
/// then: first work or a replica): every chunk is still counted once, and
/// exactly.
#[test]
fn deaths_during_double_checks_leave_the_result_exact() {
    let _serial = serial();
    let expected = clean(&RANGE);
    let mut args = RANGE.to_vec();
    args.extend([
        "--procs",
        "3",
        "--verify-sample",
        "1",
        "--inject",
        "abort:1",
        "--inject",
        "segv:2",
        "--inject",
        "abort:1",
        "--json",
    ]);
    let done = Run::start_with_events(&args).wait_timeout(Duration::from_secs(120));
    let json = assert_exact(&done, &expected);
    assert_eq!(json["verified_chunks"], 10, "{json}");
    assert_eq!(json["restarts"], 3, "{json}");
    let workers = json["workers"].as_array().unwrap();
    let counted: u64 = workers.iter().map(|w| w["numbers"].as_u64().unwrap()).sum();
    assert_eq!(counted, 1_000_000, "{json}");
}

/// `--verify-sample 1` on local workers: every chunk is computed twice,
/// by two different workers, and counted once.
#[test]
fn every_chunk_double_checked_is_counted_once() {
    let _serial = serial();
    let expected = clean(&RANGE);
    let mut args = RANGE.to_vec();
    args.extend(["--procs", "2", "--verify-sample", "1", "--json"]);
    let run = Run::start_with_events(&args);
    let done = run.wait_timeout(Duration::from_secs(120));
    let json = assert_exact(&done, &expected);
    assert_eq!(json["verified_chunks"], 10, "{json}");
    assert_eq!(json["mismatches"], 0, "{json}");
    // Each replica went to the other worker.
    let assigned: Vec<_> = done
        .events
        .iter()
        .filter(|e| e["event"] == "assigned")
        .collect();
    assert_eq!(assigned.len(), 20, "{assigned:?}");
    for check in 0..10u64 {
        let first = done
            .events
            .iter()
            .find(|e| e["event"] == "double_check" && e["check"] == check)
            .expect("opened");
        let id = &first["chunk"]["id"];
        let worker_of = |pred: &dyn Fn(&serde_json::Value) -> bool| {
            done.events
                .iter()
                .find(|e| e["event"] == "finished" && pred(e))
                .map(|e| e["slot"].clone())
        };
        let original = worker_of(&|e| e["chunk"]["id"] == *id);
        let replica_id = assigned
            .iter()
            .find(|e| e["check"] == check)
            .map(|e| e["chunk"]["id"].clone())
            .expect("replica");
        let replica = worker_of(&|e| e["chunk"]["id"] == replica_id);
        assert_ne!(original, replica, "check {check} on one worker");
    }
}

/// Whether an event of `name` came from `slot`.
fn event_in(done: &Done, name: &str, slot: u64) -> bool {
    done.events
        .iter()
        .any(|e| e["event"] == name && e["slot"] == slot)
}

#[test]
fn a_deaf_worker_is_stalled_and_its_chunk_redone() {
    let _serial = serial();
    let expected = clean(&RANGE);
    // The local worker hangs in its first chunk, so the deaf one is
    // certainly given work before the run can end.
    let done = beside_honest("deaf", &RANGE, &["--inject", "hang:0"]);
    let json = assert_exact(&done, &expected);
    assert!(liar(&json, "deaf")["failures"].as_u64() > Some(0), "{json}");
}

#[test]
fn a_worker_that_never_finishes_is_stalled() {
    let _serial = serial();
    let expected = clean(&RANGE);
    let done = beside_honest("never-finishing", &RANGE, &["--inject", "hang:0"]);
    assert_exact(&done, &expected);
    assert!(event_in(&done, "stalled", 1), "{:?}", done.events);
}

/// Progress one number at a time, and never a Done: past the hard bound
/// (30 stall timeouts, 6 s here) at a pace that would need far longer, the
/// worker is stuck, and its chunk is redone.
#[test]
fn a_worker_that_creeps_is_stalled() {
    let _serial = serial();
    let expected = clean(&RANGE);
    let flags = [
        "--stall-timeout",
        "200ms",
        "--heartbeat",
        "100ms",
        "--json",
        "--inject",
        "hang:0",
    ];
    let done =
        on_hosts("localhost:1,creeping:1", &RANGE, &flags).wait_timeout(Duration::from_secs(120));
    let json = assert_exact(&done, &expected);
    assert!(
        liar(&json, "creeping")["failures"].as_u64() > Some(0),
        "{json}"
    );
    let stalled: Vec<&serde_json::Value> = done
        .events
        .iter()
        .filter(|e| e["event"] == "stalled" && e["slot"] == 1)
        .collect();
    assert!(!stalled.is_empty(), "{:?}", done.events);
    let why = stalled[0]["why"].as_str().unwrap();
    assert!(why.contains("too slow to finish"), "{why}");
}

#[test]
fn progress_past_the_chunks_end_is_a_bad_frame() {
    let _serial = serial();
    let expected = clean(&RANGE);
    let done = beside_honest("progress-past-the-end", &RANGE, &["--inject", "hang:0"]);
    let json = assert_exact(&done, &expected);
    assert!(
        liar(&json, "progress-past-the-end")["failures"].as_u64() > Some(0),
        "{json}"
    );
    assert!(
        done.events.iter().any(|e| e["event"] == "died"
            && e["cause"]
                .as_str()
                .is_some_and(|c| c.contains("progress of"))),
        "{:?}",
        done.events
    );
}

#[test]
fn progress_before_hello_is_a_bad_frame() {
    let _serial = serial();
    let expected = clean(&RANGE);
    // The local worker hangs in its first chunk, so the run cannot end
    // before the liar's first frame is read.
    let done = beside_honest("progress-before-hello", &RANGE, &["--inject", "hang:0"]);
    let json = assert_exact(&done, &expected);
    assert!(
        liar(&json, "progress-before-hello")["failures"].as_u64() > Some(0),
        "{json}"
    );
}

#[test]
fn a_flooding_worker_does_not_starve_the_honest_one() {
    let _serial = serial();
    let range = ["--max", "100000000"];
    let expected = clean(&range);
    let done = beside_honest("flood", &range, &[]);
    assert_exact(&done, &expected);
    assert!(!event_in(&done, "stalled", 0), "{:?}", done.events);
}

#[test]
fn a_trickling_worker_is_stalled() {
    let _serial = serial();
    let expected = clean(&RANGE);
    let done = beside_honest("trickle", &RANGE, &["--inject", "hang:0"]);
    assert_exact(&done, &expected);
    assert!(event_in(&done, "stalled", 1), "{:?}", done.events);
}

/// Already holds on today's loop: the version is sanitised.
#[test]
fn escape_codes_in_a_version_never_reach_the_terminal() {
    let _serial = serial();
    let expected = clean(&RANGE);
    let done = beside_honest("escape-version", &RANGE, &["--inject", "hang:0"]);
    let json = assert_exact(&done, &expected);
    let host = liar(&json, "escape-version");
    assert_eq!(host["state"], "down", "{json}");
    let reason = host["reason"].as_str().expect("a reason");
    assert!(reason.contains("0.0.0"), "{reason}");
    let clean_text = |t: &str| !t.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    assert!(clean_text(reason), "{reason:?}");
    assert!(clean_text(&done.stderr), "{:?}", done.stderr);
    for e in &done.events {
        assert!(
            clean_text(&e.to_string()) && clean_text(&format!("{e:?}")),
            "{e}"
        );
    }
}
