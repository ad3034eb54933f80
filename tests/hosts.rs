//! Workers on other hosts, through a real OpenSSH server started by the test
//! (key-only, on 127.0.0.1 or inside a network namespace): exact results,
//! remote workers SIGKILLed and SIGSTOPped, an sshd session killed, a host
//! that cannot be reached, a worker program that is not there, every host
//! down, a worker program of another version,
//! and a host cut off from the network mid-run. Every faulty run is
//! compared with a clean run's numbers, and no remote worker may outlive
//! its run.
//!
//! Tests that need sshd (or network namespaces) are `#[ignore]`d, with the
//! reason, where `build.rs` did not find them (the `has_sshd` and
//! `has_netns` cfgs); `.ci/run` installs OpenSSH and runs every test
//! (`--include-ignored`), so there a missing requirement is a failure.

mod common;

use common::sshd::{Sshd, netns_for, processes_running, sshd_for, sshd_in_for};
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use supervisor::protocol::{FromWorker, PROTOCOL_VERSION, frame};

/// The worker program that remote hosts run.
const WORKER: &str = env!("CARGO_BIN_EXE_supervisor-worker");

/// A launcher that reaches nothing: ssh to a port where no server listens.
const NOWHERE: &str = "ssh -F /dev/null -p 1 -o BatchMode=yes -o ConnectTimeout=5 \
                       -o LogLevel=ERROR -T {host} {worker}";

/// The arguments that run `hosts` through `launcher`, with `rest`.
fn args<'a>(hosts: &'a str, launcher: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    args_with_worker(hosts, launcher, WORKER, rest)
}

/// The same, with `worker` as the remote worker program.
fn args_with_worker<'a>(
    hosts: &'a str,
    launcher: &'a str,
    worker: &'a str,
    rest: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "--hosts",
        hosts,
        "--launcher",
        launcher,
        "--remote-worker",
        worker,
    ];
    args.extend(rest);
    args
}

/// The host line of `host` in a JSON summary.
fn host_line<'a>(json: &'a Value, host: &str) -> &'a Value {
    json["hosts"]
        .as_array()
        .expect("a hosts array")
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no line for {host} in {json}"))
}

/// The remote pid of the first worker that said Hello on `host` (in
/// `slot`, if given).
fn first_remote_pid(run: &Run, host: &str, slot: Option<usize>) -> i32 {
    let mut pid = 0;
    wait_until(PATIENCE, &format!("a worker running on {host}"), || {
        pid = run
            .events()
            .iter()
            .find(|e| event_on(e, "connected", host) && slot.is_none_or(|s| e["slot"] == s))
            .and_then(|e| e["remote_pid"].as_i64())
            .unwrap_or(0) as i32;
        pid != 0
    });
    pid
}

/// No remote worker is left running (they end within their watchdog).
fn no_remote_workers_left() {
    wait_until(
        Duration::from_secs(20),
        "every remote worker to be gone",
        || processes_running(Path::new(WORKER)).is_empty(),
    );
}

/// Holds the local worker: slot 0's first process spins in its first chunk
/// and stall detection is far off, so the run cannot end, however fast the
/// local worker would have been, before the test lets it go with
/// [`release_local_when`]. (A run that merely lasts long enough is a race
/// that a faster machine loses.)
const HOLD_LOCAL: [&str; 4] = ["--inject", "hang:0", "--stall-timeout", "600s"];

/// Waits for an event that `seen` matches, then SIGKILLs the held local
/// worker; its replacement redoes its chunk and the run goes on.
fn release_local_when(run: &Run, what: &str, seen: impl Fn(&Value) -> bool) {
    wait_until(PATIENCE, what, || run.events().iter().any(&seen));
    let held = run
        .events()
        .iter()
        .find(|e| e["event"] == "started" && e["slot"] == 0)
        .and_then(|e| e["pid"].as_i64())
        .expect("slot 0 started");
    signal(held as i32, libc::SIGKILL);
}

/// A host named `gate` whose worker waits for the test to let it start:
/// for tests that need the stall timeout (so cannot hold a local worker in
/// a hang) and another host that must not finish the run before the
/// remote side has done what the test waits for. `launcher` is put behind
/// a script that, for `gate`, waits for a marker file and then runs the
/// worker program directly; other hosts go through `launcher` as usual.
struct Gate {
    launcher: String,
    marker: std::path::PathBuf,
}

impl Gate {
    fn new(dir: &Path, launcher: &str) -> Gate {
        use std::os::unix::fs::PermissionsExt;
        let marker = dir.join("open");
        let script = dir.join("gate.sh");
        let text = format!(
            "#!/bin/sh\nhost=$1\nshift\nif [ \"$host\" = gate ]; then\n  \
             while [ ! -e '{}' ]; do sleep 0.01; done\n  for worker; do :; done\n  \
             exec \"$worker\"\nfi\nexec \"$@\"\n",
            marker.display()
        );
        std::fs::write(&script, text).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Gate {
            launcher: format!("{} {{host}} {launcher}", script.display()),
            marker,
        }
    }

    /// Lets the gate's worker start once an event that `seen` matches has
    /// come.
    fn open_when(&self, run: &Run, what: &str, seen: impl Fn(&Value) -> bool) {
        wait_until(PATIENCE, what, || run.events().iter().any(&seen));
        std::fs::write(&self.marker, "").unwrap();
    }
}

/// Whether `e` is a `name` event about `host`.
fn event_on(e: &Value, name: &str, host: &str) -> bool {
    e["event"] == name && e["host"] == host
}

#[test]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd (.ci/run installs one)"
)]
fn remote_workers_give_exact_results() {
    let _serial = serial();
    let sshd = sshd_for("remote_workers_give_exact_results");
    let launcher = sshd.launcher();
    let max = 50_000_000;
    let m = max.to_string();
    let clean = run_clean(&["--procs", "2", "--max", &m]);
    let remote_only = format!("{}:2", sshd.host());
    let mixed = format!("localhost:1,{}:2", sshd.host());
    // With a local worker too, it is held until ssh has logged in, so the
    // remote host gets its share however fast the local worker is.
    for (hosts, hold) in [(remote_only, false), (mixed, true)] {
        let mut rest = vec!["--max", m.as_str(), "--json", "--quiet"];
        if hold {
            rest.extend(HOLD_LOCAL);
        }
        let run = Run::start_with_events(&args(&hosts, &launcher, &rest));
        if hold {
            release_local_when(&run, "a remote worker to connect", |e| {
                event_on(e, "connected", &sshd.host())
            });
        }
        let done = run.wait();
        assert_eq!(done.code, Some(0), "{hosts}: {done:?}");
        let json = done.json();
        assert_eq!(json["complete"], true, "{json}");
        assert_eq!(json["sigma_sum_verified"], true, "{json}");
        assert_eq!(Counts::of(&json), Counts::of(&clean), "{hosts}");
        assert_eq!(Counts::of(&json), ladder_counts(max));
        let remote = host_line(&json, &sshd.host());
        assert_eq!(remote["state"], "up", "{json}");
        assert_eq!(remote["failures"], 0, "{json}");
        assert!(remote["chunks"].as_u64().unwrap() > 0, "{json}");
        let numbers: u64 = json["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["numbers"].as_u64().unwrap())
            .sum();
        assert_eq!(numbers, max, "{json}");
        for w in json["workers"].as_array().unwrap() {
            if w["host"] == "localhost" {
                assert!(w["remote_pid"].is_null(), "{w}");
            } else if w["chunks"].as_u64().unwrap() > 0 {
                assert!(w["remote_pid"].is_u64(), "{w}");
            }
        }
    }
    // The same hosts from a --hostfile.
    let dir = tempfile::tempdir().unwrap();
    let hostfile = dir.path().join("hosts");
    std::fs::write(
        &hostfile,
        format!(
            "# this machine, and the same over ssh\nlocalhost:1\n{}:2  # two slots\n",
            sshd.host()
        ),
    )
    .unwrap();
    let json = run_clean(&[
        "--hostfile",
        hostfile.to_str().unwrap(),
        "--launcher",
        &launcher,
        "--remote-worker",
        WORKER,
        "--max",
        &m,
    ]);
    assert_eq!(Counts::of(&json), Counts::of(&clean));
    assert_eq!(json["procs"], 3);
    assert_eq!(json["hosts"].as_array().unwrap().len(), 2, "{json}");
    no_remote_workers_left();
}

/// Starts a run long enough to be hit mid-way, on `sshd` (two slots).
fn long_remote_run(sshd: &Sshd, max: u64, extra: &[&str]) -> (Run, String) {
    let launcher = sshd.launcher();
    let hosts = format!("{}:2", sshd.host());
    let max = max.to_string();
    let mut rest = vec!["--max", &max, "--json", "--stall-timeout", "1s"];
    rest.extend(extra);
    let run = Run::start_with_events(&args(&hosts, &launcher, &rest));
    (run, sshd.host())
}

#[test]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd (.ci/run installs one)"
)]
fn a_remote_worker_sigkilled_or_sigstopped_is_redone_exactly() {
    let _serial = serial();
    let sshd = sshd_for("a_remote_worker_sigkilled_or_sigstopped_is_redone_exactly");
    let max = long_max(3.0);
    let expected = ladder_counts(max);
    for sig in [libc::SIGKILL, libc::SIGSTOP] {
        let (run, host) = long_remote_run(&sshd, max, &[]);
        let victim = first_remote_pid(&run, &host, None);
        let id = ident(victim).expect("the remote worker is running");
        signal(victim, sig);
        let done = run.wait();
        assert_eq!(done.code, Some(0), "{done:?}");
        let json = done.json();
        assert_eq!(Counts::of(&json), expected, "signal {sig}");
        assert!(json["restarts"].as_u64().unwrap() >= 1, "{json}");
        assert_eq!(host_line(&json, &host)["state"], "up", "{json}");
        // The victim's slot died once of the signal. A remote worker is
        // judged by wall-clock silence, so on a loaded machine another may
        // be stalled too: any other death is that, and nothing else.
        let events = &done.events;
        let connected = events
            .iter()
            .position(|e| e["event"] == "connected" && e["remote_pid"] == victim)
            .expect("the victim connected");
        // Its launcher: the last one started in its slot before that.
        let launcher = events[..connected]
            .iter()
            .rev()
            .find(|e| e["event"] == "started" && e["slot"] == events[connected]["slot"])
            .map(|e| e["pid"].clone())
            .expect("the victim's launcher");
        let deaths: Vec<&Value> = events.iter().filter(|e| e["event"] == "died").collect();
        let (mine, others): (Vec<&Value>, Vec<&Value>) =
            deaths.iter().partition(|e| e["pid"] == launcher);
        assert_eq!(mine.len(), 1, "signal {sig}: {deaths:?}");
        for e in &others {
            let cause = e["cause"].as_str().unwrap();
            assert!(cause.starts_with("stalled: silent"), "signal {sig}: {e}");
        }
        assert_eq!(host_line(&json, &host)["failures"], deaths.len(), "{json}");
        let names = event_names(&done.events);
        assert!(names.contains(&"died".to_string()), "{names:?}");
        if sig == libc::SIGSTOP {
            assert!(names.contains(&"stalled".to_string()), "{names:?}");
        }
        // The stopped worker does not stay behind on its host.
        wait_until(Duration::from_secs(20), "the victim to be gone", || {
            dead(id)
        });
        no_remote_workers_left();
    }
}

#[test]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd (.ci/run installs one)"
)]
fn an_interrupted_or_killed_supervisor_leaves_nothing_on_its_hosts() {
    let _serial = serial();
    let sshd = sshd_for("an_interrupted_or_killed_supervisor_leaves_nothing_on_its_hosts");
    let max = long_max(3.0);
    for sig in [libc::SIGINT, libc::SIGKILL] {
        let (run, host) = long_remote_run(&sshd, max, &[]);
        let remote = ident(first_remote_pid(&run, &host, None)).expect("a remote worker");
        // The ssh clients, as the supervisor started them.
        let launchers: Vec<Ident> = run
            .events()
            .iter()
            .filter(|e| e["event"] == "started")
            .filter_map(|e| ident(e["pid"].as_i64()? as i32))
            .collect();
        assert!(!launchers.is_empty());
        run.signal(sig);
        let done = run.wait();
        if sig == libc::SIGINT {
            assert_eq!(done.code, Some(130), "{done:?}");
            assert_eq!(done.json()["complete"], false);
        } else {
            assert_eq!(done.code, None, "{done:?}");
        }
        // Killed with no warning, the supervisor takes its ssh clients with
        // it (PR_SET_PDEATHSIG), and the remote workers end with their
        // connections.
        wait_until(
            Duration::from_secs(20),
            "the ssh clients to be gone",
            || launchers.iter().all(|&id| dead(id)),
        );
        wait_until(
            Duration::from_secs(20),
            "the remote worker to be gone",
            || dead(remote),
        );
        no_remote_workers_left();
    }
}

#[test]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd (.ci/run installs one)"
)]
fn a_hung_remote_worker_dies_with_its_connection() {
    let _serial = serial();
    let sshd = sshd_for("a_hung_remote_worker_dies_with_its_connection");
    let max = long_max(3.0);
    // Slot 0's first worker spins forever in its first chunk: it never
    // looks at its input again, so neither an end of file nor its watchdog
    // can end it. Killing its ssh ends the sshd session, its parent, and
    // PR_SET_PDEATHSIG does the rest.
    let (run, host) = long_remote_run(&sshd, max, &["--inject", "hang:0"]);
    let victim = first_remote_pid(&run, &host, Some(0));
    let id = ident(victim).expect("the remote worker is running");
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(max));
    assert_eq!(host_line(&json, &host)["failures"], 1, "{json}");
    assert!(event_names(&done.events).contains(&"stalled".to_string()));
    wait_until(
        Duration::from_secs(20),
        "the hung worker to be gone",
        || dead(id),
    );
    no_remote_workers_left();
}

#[test]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd (.ci/run installs one)"
)]
fn a_killed_sshd_session_gives_its_chunk_back() {
    let _serial = serial();
    let sshd = sshd_for("a_killed_sshd_session_gives_its_chunk_back");
    let max = long_max(3.0);
    let (run, host) = long_remote_run(&sshd, max, &[]);
    first_remote_pid(&run, &host, None);
    let sessions = sshd.sessions();
    assert!(!sessions.is_empty(), "sshd has sessions");
    signal(sessions[0], libc::SIGKILL);
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(max));
    assert!(
        host_line(&json, &host)["failures"].as_u64().unwrap() >= 1,
        "{json}"
    );
    no_remote_workers_left();
}

#[test]
fn an_unreachable_host_is_marked_down_and_the_run_goes_on() {
    let _serial = serial();
    let mut rest = vec!["--max", "20000000", "--json", "--host-retries", "2"];
    rest.extend(HOLD_LOCAL);
    let run = Run::start_with_events(&args("localhost:1,127.0.0.1:2", NOWHERE, &rest));
    release_local_when(&run, "127.0.0.1 to go down", |e| {
        event_on(e, "host_down", "127.0.0.1")
    });
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(20_000_000));
    let down = host_line(&json, "127.0.0.1");
    assert_eq!(down["state"], "down", "{json}");
    assert_eq!(down["failures"], 2, "{json}");
    // The reason says what ssh said, and what its exit status means.
    let reason = down["reason"].as_str().unwrap();
    for needle in [
        "2 failures in a row",
        "(exit code 255)",
        "before its Hello (ssh could not connect or log in)",
        "its last words: ssh: connect to host 127.0.0.1 port 1: Connection refused",
    ] {
        assert!(reason.contains(needle), "{needle:?} in {reason}");
    }
    let local = host_line(&json, "localhost");
    assert_eq!(local["numbers"], 20_000_000, "{json}");
    assert_eq!(local["failures"], 1, "the held worker, killed: {json}");
    assert_eq!(local["state"], "up", "{json}");
    for needle in [
        "host 127.0.0.1 is down",
        "on 127.0.0.1 says: ssh: connect to host 127.0.0.1 port 1: Connection refused",
    ] {
        assert!(
            done.stderr.contains(needle),
            "{needle:?} in {}",
            done.stderr
        );
    }
}

#[test]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd (.ci/run installs one)"
)]
fn a_missing_remote_worker_program_is_named_in_the_reason() {
    let _serial = serial();
    let sshd = sshd_for("a_missing_remote_worker_program_is_named_in_the_reason");
    let launcher = sshd.launcher();
    // The only host: it goes down whatever the timing, and the run with it.
    let hosts = format!("{}:1", sshd.host());
    let missing = "/nonexistent/supervisor-worker";
    let done = run(&args_with_worker(
        &hosts,
        &launcher,
        missing,
        &["--max", "20000000", "--json", "--host-retries", "2"],
    ));
    assert_eq!(done.code, Some(4), "{done:?}");
    let json = done.json();
    let down = host_line(&json, &sshd.host());
    assert_eq!(down["state"], "down", "{json}");
    let reason = down["reason"].as_str().unwrap();
    for needle in [
        "(exit code 127)",
        "before its Hello (the worker program is not there: see --remote-worker)",
        "its last words: ",
        missing,
    ] {
        assert!(reason.contains(needle), "{needle:?} in {reason}");
    }
    // The remote shell's own words, logged under the worker's name.
    let says = format!("worker 0 on {} says: ", sshd.host());
    assert!(
        done.stderr
            .lines()
            .any(|l| l.contains(&says) && l.contains(missing)),
        "{}",
        done.stderr
    );
}

#[test]
fn a_worker_that_never_says_hello_is_given_up_after_the_connect_timeout() {
    let _serial = serial();
    // A launcher that starts and never lets a worker speak (as a batch
    // scheduler still waiting for an allocation would).
    let silent = "sh -c 'exec sleep 60' {worker}";
    let done = run(&[
        "--hosts",
        "n1:1",
        "--launcher",
        silent,
        "--max",
        "20000000",
        "--json",
        "--stall-timeout",
        "200ms",
        "--connect-timeout",
        "1s",
        "--host-retries",
        "1",
    ]);
    assert_eq!(done.code, Some(4), "{done:?}");
    let json = done.json();
    let reason = host_line(&json, "n1")["reason"].as_str().unwrap();
    assert!(reason.contains("before its Hello"), "{reason}");
    // Given the connect timeout (1 s), not the stall timeout nor the
    // 10 s default: a bound with room for a loaded machine, not a speed.
    let stalled = done
        .stderr
        .lines()
        .find(|l| l.contains("stalled"))
        .unwrap_or_else(|| panic!("a stall in {}", done.stderr));
    let secs: f64 = stalled
        .split("stalled ")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("seconds in {stalled}"));
    assert!((1.0..9.0).contains(&secs), "{stalled}");
}

#[test]
fn a_host_still_connecting_when_the_run_ends_says_so() {
    let _serial = serial();
    // Its worker never speaks, and the local one does all the work: the
    // run ends with the host neither up nor down, and its launcher gone.
    let silent = "sh -c 'exec sleep 6173' {worker}";
    let done = run(&[
        "--hosts",
        "localhost:1,n1:1",
        "--launcher",
        silent,
        "--max",
        "20000000",
        "--json",
        "--connect-timeout",
        "10m",
    ]);
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(20_000_000));
    let n1 = host_line(&json, "n1");
    assert_eq!(n1["state"], "connecting", "{json}");
    assert_eq!(n1["failures"], 0, "{json}");
    assert!(n1["reason"].is_null(), "{json}");
    assert_eq!(host_line(&json, "localhost")["state"], "up", "{json}");
    assert!(!any_command_line_has("6173"), "the launcher is gone");
}

#[test]
fn a_worker_that_floods_stderr_is_cut_short_and_counted() {
    let _serial = serial();
    // A transport that writes 2000 lines on stderr before it starts the
    // worker: they are logged up to the burst, the rest counted, none lost
    // without a trace, and the run is exact.
    let flood = "sh -c 'i=0; while [ $i -lt 2000 ]; do echo \"noise $i\" >&2; \
                 i=$((i+1)); done; exec \"$0\"' {worker}";
    let done = Run::start_with_events(&args(
        "n1:1",
        flood,
        &["--max", "20000000", "--json", "--progress", "never"],
    ))
    .wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    assert_eq!(Counts::of(&done.json()), ladder_counts(20_000_000));
    let lines: Vec<&str> = done
        .events
        .iter()
        .filter(|e| e["event"] == "worker_stderr")
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    let shown = lines.iter().filter(|l| l.starts_with("noise ")).count();
    let left_out: usize = lines
        .iter()
        .filter_map(|l| l.strip_prefix('[')?.strip_suffix(" more lines not shown]"))
        .map(|n| n.parse::<usize>().unwrap())
        .sum();
    assert!(shown < 2000, "cut short: {shown}");
    assert_eq!(shown + left_out, 2000, "{lines:?}");
    assert_eq!(lines[0], "noise 0");
}

#[test]
fn a_run_on_hosts_is_interrupted_and_resumed_exactly() {
    let _serial = serial();
    // A long run across hosts is checkpointed like any other: SIGINT once
    // work is journaled, then --resume on the same hosts. (The "remote"
    // host's transport runs the worker program directly: no sshd needed.)
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("run.journal");
    let path = journal.to_str().unwrap();
    let direct = "sh -c 'exec \"$0\"' {worker}";
    let max = 200_000_000;
    let m = max.to_string();
    let rest = [
        "--max",
        &m,
        "--chunk",
        "1000000",
        "--checkpoint",
        path,
        "--checkpoint-every",
        "20ms",
        "--json",
        "--quiet",
    ];
    let first = Run::start(&args("localhost:1,n1:1", direct, &rest));
    wait_until(PATIENCE, "a journal with work", || {
        finished_in(&journal) > 0
    });
    first.signal(libc::SIGINT);
    let done = first.wait();
    assert_eq!(done.code, Some(130), "{done:?}");
    assert_eq!(done.json()["complete"], false);
    let mut again = rest.to_vec();
    again.push("--resume");
    let done = run(&args("localhost:1,n1:1", direct, &again));
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(json["complete"], true, "{json}");
    assert_eq!(json["sigma_sum_verified"], true, "{json}");
    assert_eq!(Counts::of(&json), ladder_counts(max));
    let resumed = json["resumed"].as_u64().unwrap();
    assert!(resumed > 0 && resumed < max, "{json}");
    // This session's numbers, over both hosts, are the rest.
    let numbers: u64 = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["numbers"].as_u64().unwrap())
        .sum();
    assert_eq!(numbers + resumed, max, "{json}");
}

#[test]
fn every_host_down_exits_4_with_a_partial_summary() {
    let _serial = serial();
    let done = run(&args(
        "127.0.0.1:2,127.0.0.2",
        NOWHERE,
        &["--max", "20000000", "--json"],
    ));
    assert_eq!(done.code, Some(4), "{done:?}");
    let json = done.json();
    assert_eq!(json["exit_code"], 4);
    assert_eq!(json["interrupted"], "every host is down");
    assert_eq!(json["complete"], false);
    for host in ["127.0.0.1", "127.0.0.2"] {
        assert_eq!(host_line(&json, host)["state"], "down", "{json}");
        assert_eq!(host_line(&json, host)["failures"], 3, "{json}");
    }
    assert!(
        done.stderr.contains("every host is down"),
        "{}",
        done.stderr
    );
}

/// A real program of another version on the host: it says Hello as
/// version `0.0.9-other` of the next protocol, then waits for its input to
/// end (the shell stays, so its command line names the script while it
/// runs). Returns its path (in `dir`).
fn foreign_worker(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let hello = dir.join("hello");
    let frame = frame::encode(&FromWorker::Hello {
        protocol: PROTOCOL_VERSION + 1,
        version: "0.0.9-other".into(),
        pid: 1,
    })
    .unwrap();
    std::fs::write(&hello, frame).unwrap();
    let program = dir.join("foreign-worker");
    let script = format!("#!/bin/sh\ncat '{}'\ncat >/dev/null\n", hello.display());
    std::fs::write(&program, script).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    program.display().to_string()
}

#[test]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd (.ci/run installs one)"
)]
fn a_worker_of_another_version_is_refused_naming_the_host() {
    let _serial = serial();
    let sshd = sshd_for("a_worker_of_another_version_is_refused_naming_the_host");
    let dir = tempfile::tempdir().unwrap();
    let foreign = foreign_worker(dir.path());
    let launcher = sshd.launcher();
    let hosts = format!("localhost:1,{}:1", sshd.host());
    let mut rest = vec!["--max", "20000000", "--json"];
    rest.extend(HOLD_LOCAL);
    let run = Run::start_with_events(&args_with_worker(&hosts, &launcher, &foreign, &rest));
    release_local_when(&run, "the foreign host to be refused", |e| {
        event_on(e, "host_down", &sshd.host())
    });
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(20_000_000));
    let refused = host_line(&json, &sshd.host());
    assert_eq!(refused["state"], "down", "{json}");
    assert_eq!(refused["failures"], 1, "refused at once: {json}");
    let version = env!("CARGO_PKG_VERSION");
    let reason = refused["reason"].as_str().unwrap();
    for needle in [
        format!("on {}", sshd.host()),
        format!("version 0.0.9-other (protocol {})", PROTOCOL_VERSION + 1),
        format!("this supervisor is version {version} (protocol {PROTOCOL_VERSION})"),
    ] {
        assert!(reason.contains(&needle), "{needle:?} in {reason}");
        assert!(
            done.stderr.contains(&needle),
            "{needle:?} in {}",
            done.stderr
        );
    }
    wait_until(
        Duration::from_secs(20),
        "the foreign worker to be gone",
        || !any_command_line_has(&foreign),
    );
}

/// Whether a live process has `word` among its arguments.
fn any_command_line_has(word: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|c| c.split(|&b| b == 0).any(|arg| arg == word.as_bytes()))
    })
}

#[test]
fn host_names_and_paths_cannot_inject_anything() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("injected");
    let m = marker.display().to_string();
    let proxy = format!("-oProxyCommand=touch {m}");
    let semicolon = format!("n1;touch {m}");
    let subshell = format!("$(touch {m})");
    let worker = format!("w;touch {m}");
    for (hosts, remote_worker) in [
        (proxy.as_str(), WORKER),
        (semicolon.as_str(), WORKER),
        (subshell.as_str(), WORKER),
        ("127.0.0.1", worker.as_str()),
    ] {
        let done = run(&[
            "--max",
            "1000",
            "--hosts",
            hosts,
            "--launcher",
            NOWHERE,
            "--remote-worker",
            remote_worker,
        ]);
        assert_eq!(done.code, Some(2), "{hosts} {remote_worker}: {done:?}");
        assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
    }
    assert!(!marker.exists());
}

#[test]
#[cfg_attr(
    not(all(has_sshd, has_netns)),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd and network namespaces (root)"
)]
fn a_host_cut_off_mid_run_is_given_up_and_its_worker_ends() {
    let _serial = serial();
    let test = "a_host_cut_off_mid_run_is_given_up_and_its_worker_ends";
    let netns = netns_for(test);
    let sshd = sshd_in_for(test, &netns);
    let far = netns.address();
    // The other host waits until the far one is cut off, holding a chunk.
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::new(dir.path(), &sshd.launcher());
    let hosts = format!("gate:1,{far}:1");
    let max = long_max(1.0).to_string();
    let run = Run::start_with_events(&args(
        &hosts,
        &gate.launcher,
        &[
            "--max",
            &max,
            "--json",
            "--stall-timeout",
            "1s",
            "--connect-timeout",
            "600s",
        ],
    ));
    let victim = first_remote_pid(&run, &far, None);
    let id = ident(victim).expect("the remote worker is running");
    netns.cut();
    gate.open_when(&run, "the far host's worker to connect", |e| {
        event_on(e, "connected", &far)
    });
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(max.parse().unwrap()));
    assert!(
        host_line(&json, &far)["failures"].as_u64().unwrap() >= 1,
        "{json}"
    );
    assert!(event_names(&done.events).contains(&"stalled".to_string()));
    // Nothing reaches the cut-off worker any more, not even an end of
    // file: its watchdog (2 × the stall timeout, at least 2 s) ends it.
    wait_until(
        Duration::from_secs(20),
        "the cut-off worker's watchdog",
        || dead(id),
    );
    no_remote_workers_left();
}

#[test]
fn a_lost_chunk_goes_at_once_to_an_idle_worker_on_another_host() {
    let _serial = serial();
    // Another transport (`--launcher` runs any program): this one starts
    // the worker directly the first time, and hangs ever after, like a host
    // that takes no more connections. No sshd needed.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("launch.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nshift\nif mkdir '{}/first' 2>/dev/null; then exec \"$@\"; fi\nexec sleep 600\n",
            dir.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let launcher = format!("{} {{host}} {{worker}}", script.display());
    // The remote worker hangs in its first chunk; the other host's worker
    // (held until then, so the remote one gets a chunk whatever the
    // timing) finishes everything else and goes idle; the stalled chunk
    // must go to it at once, not wait for a replacement that never
    // connects (whose connect timeout, 10 s, would count a second failure).
    let gate = Gate::new(dir.path(), &launcher);
    let run = Run::start_with_events(&args(
        "gate:1,127.0.0.1:1",
        &gate.launcher,
        &[
            "--max",
            "20000000",
            "--chunk",
            "1048576",
            "--json",
            "--stall-timeout",
            "1s",
            "--inject",
            "hang:1",
        ],
    ));
    gate.open_when(&run, "the remote worker to connect", |e| {
        event_on(e, "connected", "127.0.0.1")
    });
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(20_000_000));
    let remote = host_line(&json, "127.0.0.1");
    assert_eq!(remote["failures"], 1, "{json}");
    assert_eq!(remote["state"], "up", "{json}");
    assert!(event_names(&done.events).contains(&"stalled".to_string()));
}
