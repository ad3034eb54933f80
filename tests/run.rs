//! Integration tests of a run of the `supervisor` binary: exact results for
//! every process count, start method and chunk size; the JSON summary's
//! keys; one thread in the supervisor, workers that are its children and
//! hold only stdin, stdout and stderr; usage errors; no worker outliving a
//! killed supervisor; no lasting zombie; a summary that cannot be written
//! is a failure, a reader that stopped early is not; the worker program
//! says Hello before anything else, and refuses a Setup out of range.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// σ(n) for every n ≤ `max`, by a plain divisor sieve: a reference that
/// shares no code with the program.
fn sigma_table(max: u64) -> Vec<u64> {
    let max = max as usize;
    let mut sigma = vec![0u64; max + 1];
    for d in 1..=max {
        for m in (d..=max).step_by(d) {
            sigma[m] += d as u64;
        }
    }
    sigma
}

/// The counts of [lo, hi] from a σ table.
fn reference(sigma: &[u64], lo: u64, hi: u64) -> Counts {
    let mut c = Counts {
        perfect: Vec::new(),
        abundant: 0,
        deficient: 0,
        sigma_sum: 0,
        checked: 0,
    };
    for n in lo..=hi {
        let s = sigma[n as usize];
        c.sigma_sum += s;
        c.checked += 1;
        match s.cmp(&(2 * n)) {
            std::cmp::Ordering::Equal => c.perfect.push(n),
            std::cmp::Ordering::Greater => c.abundant += 1,
            std::cmp::Ordering::Less => c.deficient += 1,
        }
    }
    c
}

/// Every process count 1 to 8 and several chunk sizes give the same counts
/// as the reference sieve, with one start method.
fn identical_results(method: &str) {
    const MAX: u64 = 2_000_000;
    let expected = reference(&sigma_table(MAX), 1, MAX);
    assert_eq!(expected.perfect, [6, 28, 496, 8128]);
    let max = MAX.to_string();
    // 1000 and 65536; None is the default; 5_000_000 is one chunk bigger
    // than the range.
    for chunk in [Some("1000"), Some("65536"), None, Some("5000000")] {
        for procs in 1..=8 {
            let procs_s = procs.to_string();
            let mut args = vec!["--max", &max, "--procs", &procs_s, "--start-method", method];
            if let Some(k) = chunk {
                args.extend(["--chunk", k]);
            }
            let json = run_clean(&args);
            assert_eq!(Counts::of(&json), expected, "{args:?}: {json}");
            assert_eq!(json["procs"], procs, "{args:?}");
            assert_eq!(json["start_method"], method, "{args:?}");
            assert_eq!(json["restarts"], 0, "{args:?}: {json}");
            let workers = json["workers"].as_array().expect("workers");
            assert_eq!(workers.len(), procs, "{args:?}: {json}");
            let numbers: u64 = workers.iter().map(|w| w["numbers"].as_u64().unwrap()).sum();
            assert_eq!(numbers, MAX, "{args:?}: {json}");
            match chunk {
                Some("5000000") => assert_eq!(json["chunk"], MAX, "{json}"),
                Some(k) => assert_eq!(json["chunk"], k.parse::<u64>().unwrap(), "{json}"),
                None => {}
            }
        }
    }
}

per_start_method! {
    identical_results_for_every_procs_and_chunk => identical_results;
}

#[test]
fn thirty_million_on_eight_processes() {
    let _serial = serial();
    for method in ["fork", "spawn"] {
        let json = run_clean(&[
            "--max",
            "30000000",
            "--procs",
            "8",
            "--start-method",
            method,
        ]);
        let c = Counts::of(&json);
        assert_eq!(c.perfect, [6, 28, 496, 8128], "{json}");
        assert_eq!(c.abundant, 7_430_807, "{json}");
        assert_eq!(c.deficient, 22_569_189, "{json}");
        assert_eq!(c.checked, 30_000_000, "{json}");
        assert_eq!(json["sigma_sum"], json["sigma_sum_expected"], "{json}");
    }
}

#[test]
fn window_around_the_fifth_perfect_number() {
    let _serial = serial();
    for method in ["fork", "spawn"] {
        let json = run_clean(&[
            "--min",
            "33550000",
            "--max",
            "33560000",
            "--procs",
            "3",
            "--start-method",
            method,
        ]);
        assert_eq!(json["perfect"], serde_json::json!([33_550_336]), "{json}");
        assert_eq!(json["checked"], 10_001, "{json}");
        assert_eq!(json["min"], 33_550_000, "{json}");
    }
}

#[test]
fn min_equal_to_max() {
    let _serial = serial();
    let sigma = sigma_table(100);
    for n in [1u64, 12, 28, 97] {
        let s = n.to_string();
        let json = run_clean(&["--min", &s, "--max", &s, "--procs", "2"]);
        assert_eq!(Counts::of(&json), reference(&sigma, n, n), "{json}");
        assert_eq!(json["checked"], 1, "{json}");
    }
}

#[test]
fn more_processes_than_chunks() {
    let _serial = serial();
    let sigma = sigma_table(1000);
    for (max, procs, chunk) in [
        (100u64, 8, None),
        (1000, 16, Some("300")),
        (10, 5, Some("1")),
    ] {
        let (max_s, procs_s) = (max.to_string(), procs.to_string());
        let mut args = vec!["--max", &max_s, "--procs", &procs_s];
        if let Some(k) = chunk {
            args.extend(["--chunk", k]);
        }
        for method in ["fork", "spawn"] {
            let mut args = args.clone();
            args.extend(["--start-method", method]);
            let json = run_clean(&args);
            assert_eq!(Counts::of(&json), reference(&sigma, 1, max), "{args:?}");
            assert_eq!(json["workers"].as_array().unwrap().len(), procs, "{json}");
        }
    }
}

#[test]
fn json_summary_has_the_documented_keys() {
    let _serial = serial();
    let json = run_clean(&["--max", "100000", "--procs", "3"]);
    for key in [
        "min",
        "max",
        "procs",
        "start_method",
        "mode",
        "perfect",
        "checked",
        "abundant",
        "deficient",
        "sigma_sum",
        "sigma_sum_verified",
        "complete",
        "quarantined",
        "restarts",
        "stalls",
        "events_complete",
        "workers",
        "elapsed_s",
    ] {
        assert!(json.get(key).is_some(), "no {key} in {json}");
    }
    assert!(json["sigma_sum"].is_u64(), "sigma_sum is a number: {json}");
    assert!(json["elapsed_s"].is_number(), "{json}");
    assert!(json["perfect"].is_array() && json["quarantined"].is_array());
    assert_eq!(json["quarantined"], serde_json::json!([]));
    assert_eq!(json["mode"], "processes");
    assert_eq!(json["start_method"], "fork");
    assert_eq!(
        (json["min"].as_u64(), json["max"].as_u64()),
        (Some(1), Some(100_000))
    );
    let workers = json["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 3);
    for (i, w) in workers.iter().enumerate() {
        assert_eq!(w["slot"], i, "{w}");
        assert!(w["pid"].as_i64().is_some_and(|p| p > 0), "{w}");
        for key in ["chunks", "numbers", "restarts"] {
            assert!(w[key].is_u64(), "{key} in {w}");
        }
    }
}

/// The supervisor has one thread; its workers are its children and hold
/// descriptors 0, 1 and 2 only. With `extra_fd`, the supervisor itself
/// inherited one more descriptor, which its workers must not hold either.
fn one_thread_and_clean_workers(method: &str, extra_fd: bool) {
    let start = if extra_fd {
        Run::start_with_extra_fd
    } else {
        Run::start
    };
    let mut run = start(&[
        "--max",
        "1000000000000",
        "--procs",
        "2",
        "--start-method",
        method,
        "--json",
        "--quiet",
    ]);
    let first = run.wait_for_workers(2);
    if extra_fd {
        let held = fds(run.pid).expect("the supervisor's descriptors");
        assert!(
            held.iter().any(|&fd| fd >= EXTRA_FD),
            "the supervisor inherited the extra descriptor: {held:?}"
        );
    }
    // Wait for the workers to settle: until a forked one has closed what it
    // inherited, or a spawned one has been executed, it is a copy of the
    // supervisor. A worker that leaks a descriptor never settles.
    let settled = |w: i32| {
        fds(w) == Some(vec![0, 1, 2])
            && (method != "spawn"
                || std::fs::read(format!("/proc/{w}/cmdline"))
                    .is_ok_and(|c| c.starts_with(b"supervisor-worker\0")))
    };
    wait_until(PATIENCE, "workers holding only stdio", || {
        let workers = run.workers();
        workers.len() >= 2 && workers.iter().all(|&w| settled(w))
    });
    for _ in 0..6 {
        assert_eq!(threads(run.pid), Some(1), "threads of the supervisor");
        std::thread::sleep(Duration::from_millis(50));
    }
    let workers = run.workers();
    assert!(workers.len() >= 2, "{first:?} then {workers:?}");
    for &w in &workers {
        let s = stat(w).expect("a live worker");
        assert_eq!(s.ppid, run.pid, "worker {w} is the supervisor's child");
        assert_eq!(
            fds(w),
            Some(vec![0, 1, 2]),
            "descriptors of worker {w} ({method})"
        );
    }
    if method == "spawn" {
        for &w in &workers {
            let cmdline = std::fs::read(format!("/proc/{w}/cmdline")).unwrap();
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            assert_eq!(
                args[0], b"supervisor-worker",
                "spawned worker {w} was executed"
            );
        }
    }
    assert!(run.running());
    run.signal(libc::SIGINT);
    let done = run.wait();
    assert_eq!(done.code, Some(130), "{done:?}");
}

per_start_method! {
    one_thread_and_workers_hold_only_stdio => |method| one_thread_and_clean_workers(method, false);
}

per_start_method! {
    workers_do_not_inherit_the_supervisors_inherited_descriptors => |method| one_thread_and_clean_workers(method, true);
}

/// The summary is the run's result: losing it to a full disk is exit 1
/// with one line saying so, while a reader that stopped early (a closed
/// pipe, as `| head -c1` leaves) took what it wanted, and the run keeps its
/// own exit code.
#[test]
fn a_summary_that_cannot_be_written_fails_the_run_but_a_closed_pipe_does_not() {
    let _serial = serial();
    let args = ["--max", "100000", "--quiet"];
    if std::path::Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let done = Run::start_custom(&args, false, |command| {
            command.stdout(full);
        })
        .wait();
        assert_eq!(done.code, Some(1), "{done:?}");
        let line = done.stderr.trim_end();
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(
            line.starts_with("supervisor: error: cannot write the summary: "),
            "{line}"
        );
    } else {
        eprintln!("NOT RUN (the /dev/full half): no /dev/full on this machine");
    }
    // The read end is closed before the supervisor starts: its write fails
    // with EPIPE, deterministically.
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    drop(read);
    let done = Run::start_custom(&args, false, |command| {
        command.stdout(write);
    })
    .wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(done.stderr.is_empty(), "{done:?}");
}

#[test]
fn a_bare_supervisor_says_what_is_missing_and_where_to_look() {
    let _serial = serial();
    let done = run(&[]);
    assert_eq!(done.code, Some(2), "{done:?}");
    assert!(done.stderr.contains("--max"), "{done:?}");
    assert!(
        done.stderr.trim_end().ends_with("try 'supervisor --help'"),
        "{done:?}"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let _serial = serial();
    let cases: &[&[&str]] = &[
        &["--procs", "0", "--max", "5"],
        &["--procs", "abc", "--max", "5"],
        &["--procs", "100000", "--max", "5"],
        &["--max", "0"],
        &["--max", "-5"],
        &["--max", "1.5e0"],
        &["--max", "10^14"],
        &["--min", "10", "--max", "5"],
        &["--max", "10000000000001"],
        &["--max", "5", "--start-method", "vfork"],
        &["--max", "5", "--chunk", "0"],
        &["--max", "5", "--no-such-flag"],
        &["--procs", "2"],
        &[],
        &["--max", "5", "--stall-timeout", "soon"],
        &["--max", "5", "--stall-timeout", "0s"],
        &["--max", "5", "--max-attempts", "0"],
        &["--max", "5", "--inject", "nonsense"],
        &["--max", "5", "--inject", "hang"],
        &["--max", "5", "--procs", "2", "--inject", "hang:9"],
        &["--max", "5", "--inject", "boom:1"],
        &["--max", "5", "--inject", "crash-at:0"],
        &["--max", "5", "--heartbeat", "soon"],
        &[
            "--max",
            "5",
            "--events",
            "/nonexistent/directory/events.jsonl",
        ],
    ];
    for args in cases {
        let done = run(args);
        assert_eq!(done.code, Some(2), "{args:?}: {done:?}");
        assert_eq!(done.stdout, "", "{args:?}: nothing on stdout");
        assert_eq!(
            done.stderr.lines().count(),
            1,
            "{args:?}: one line: {done:?}"
        );
        assert!(done.stderr.ends_with('\n'), "{args:?}: {done:?}");
        assert!(
            !done.stderr.contains("panicked") && !done.stderr.contains("RUST_BACKTRACE"),
            "{args:?}: {done:?}"
        );
    }
    for flag in ["--help", "--version"] {
        let done = run(&[flag]);
        assert_eq!(done.code, Some(0), "{flag}: {done:?}");
        assert!(!done.stdout.is_empty(), "{flag}: {done:?}");
    }
}

/// SIGKILL to the supervisor: every worker dies with it.
fn killed_supervisor_leaves_no_worker(method: &str) {
    let run = Run::start_with_events(&[
        "--max",
        "1000000000000",
        "--procs",
        "3",
        "--start-method",
        method,
        "--json",
        "--quiet",
    ]);
    run.wait_for_workers(3);
    std::thread::sleep(Duration::from_millis(200));
    let mut pids = run.workers();
    pids.extend(started_pids(&run.events()));
    pids.sort();
    pids.dedup();
    let idents: Vec<Ident> = pids.iter().filter_map(|&p| ident(p)).collect();
    assert!(idents.len() >= 3, "{pids:?}");
    run.signal(libc::SIGKILL);
    let done = run.wait();
    assert_eq!(done.code, None, "killed by a signal: {done:?}");
    wait_until(Duration::from_secs(20), "the workers to die", || {
        idents.iter().all(|&id| dead(id))
    });
}

per_start_method! {
    killed_supervisor_leaves_no_worker => killed_supervisor_leaves_no_worker;
}

/// During a run full of worker deaths (injected faults, and workers killed
/// from outside), no child of the supervisor stays a zombie for long.
fn no_lasting_zombie(method: &str) {
    let max = long_max(2.0);
    let max_s = max.to_string();
    let mut run = Run::start(&[
        "--max",
        &max_s,
        "--procs",
        "2",
        "--start-method",
        method,
        "--inject",
        "abort:0",
        "--inject",
        "exit:1",
        "--inject",
        "segv:0",
        "--inject",
        "garbage:1",
        "--inject",
        "oversize:0",
        "--inject",
        "exit:1",
        "--max-restarts",
        "100000",
        "--max-attempts",
        "1000000",
        "--json",
        "--quiet",
    ]);
    let mut zombie_since: HashMap<(i32, u64), Instant> = HashMap::new();
    let mut longest = Duration::ZERO;
    let mut zombies_seen = 0;
    let mut kills = 0;
    let mut last_kill = Instant::now();
    let mut rng = Rng::seeded();
    let deadline = Instant::now() + PATIENCE;
    while run.running() {
        assert!(Instant::now() < deadline, "the run did not end");
        let now = Instant::now();
        let kids = run.children();
        let mut zombies_now = Vec::new();
        for &(pid, state) in &kids {
            if state != 'Z' {
                continue;
            }
            let Some(id) = ident(pid) else { continue };
            let key = (pid, id.starttime);
            let since = *zombie_since.entry(key).or_insert_with(|| {
                zombies_seen += 1;
                now
            });
            longest = longest.max(now - since);
            zombies_now.push(key);
        }
        zombie_since.retain(|k, _| zombies_now.contains(k));
        assert!(
            longest <= Duration::from_secs(1),
            "a child of the supervisor stayed a zombie for {longest:?}"
        );
        if now - last_kill >= Duration::from_millis(150) && kills < 10 {
            let live: Vec<i32> = kids.iter().filter(|k| k.1 != 'Z').map(|k| k.0).collect();
            if !live.is_empty() {
                signal(live[rng.below(live.len())], libc::SIGKILL);
                kills += 1;
            }
            last_kill = now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let done = run.wait();
    assert_eq!(done.code, Some(0), "{done:?}");
    let json = done.json();
    assert_eq!(Counts::of(&json), ladder_counts(max), "{json}");
    assert!(json["restarts"].as_u64().unwrap() >= 1, "{json}");
    eprintln!("{method}: {kills} kills, {zombies_seen} zombies seen, longest {longest:?}");
}

per_start_method! {
    no_lasting_zombie => no_lasting_zombie;
}

#[test]
fn sigma_sum_is_a_json_number_near_the_bound() {
    let _serial = serial();
    // Σσ is a u128 in the program: it must still be written as a JSON
    // number, not a string.
    let json = run_clean(&[
        "--min",
        "9999999999000",
        "--max",
        "10000000000000",
        "--procs",
        "2",
    ]);
    let v: &Value = &json["sigma_sum"];
    assert!(v.is_number(), "{json}");
    assert_eq!(json["checked"], 1001);
}

/// The worker program, started the way a launcher starts it (no
/// arguments), says Hello before anything else, takes its Setup, counts a
/// chunk and leaves at Shutdown; a command before the Setup is refused.
#[test]
fn the_worker_program_says_hello_first_and_takes_its_settings_in_a_frame() {
    use std::process::{Command, Stdio};
    use supervisor::protocol::{
        FromWorker, PROGRAM_VERSION, PROTOCOL_VERSION, Setup, ToWorker, frame,
    };
    let program = env!("CARGO_BIN_EXE_supervisor-worker");
    let start = || {
        Command::new(program)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut worker = start();
    let mut to = worker.stdin.take().unwrap();
    let mut from = worker.stdout.take().unwrap();
    let hello = frame::read_frame::<FromWorker>(&mut from).unwrap();
    assert_eq!(
        hello,
        Some(FromWorker::Hello {
            protocol: PROTOCOL_VERSION,
            version: PROGRAM_VERSION.into(),
            pid: worker.id(),
        })
    );
    let setup = Setup {
        max: 10_000,
        heartbeat_ms: 100,
        ..Default::default()
    };
    frame::write_frame(&mut to, &ToWorker::Setup(setup)).unwrap();
    let assign = ToWorker::Assign {
        chunk: 1,
        lo: 1,
        hi: 10_000,
    };
    frame::write_frame(&mut to, &assign).unwrap();
    let result = loop {
        match frame::read_frame::<FromWorker>(&mut from).unwrap() {
            Some(FromWorker::Progress { .. }) => {}
            Some(FromWorker::Done { chunk: 1, result }) => break result,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(result.perfect, vec![6, 28, 496, 8128]);
    assert_eq!(result.checked(), 10_000);
    frame::write_frame(&mut to, &ToWorker::Shutdown).unwrap();
    assert_eq!(worker.wait().unwrap().code(), Some(0));

    // A worker past its Hello: the process and its two pipes.
    let past_hello = || {
        let mut worker = start();
        let to = worker.stdin.take().unwrap();
        let mut from = worker.stdout.take().unwrap();
        assert!(matches!(
            frame::read_frame::<FromWorker>(&mut from).unwrap(),
            Some(FromWorker::Hello { .. })
        ));
        (worker, to, from)
    };
    let (mut worker, mut to, _from) = past_hello();
    frame::write_frame(&mut to, &assign).unwrap();
    assert_eq!(
        worker.wait().unwrap().code(),
        Some(supervisor::worker::exit::PROTOCOL)
    );

    // A Setup past the kernel's bound is a broken conversation, not a panic.
    let (mut worker, mut to, _from) = past_hello();
    let setup = Setup {
        max: u64::MAX,
        ..Default::default()
    };
    frame::write_frame(&mut to, &ToWorker::Setup(setup)).unwrap();
    // The worker may be gone already: a refused write is fine.
    let _ = frame::write_frame(&mut to, &assign);
    assert_eq!(
        worker.wait().unwrap().code(),
        Some(supervisor::worker::exit::PROTOCOL)
    );
}

/// The worker program started by hand on a terminal (stdin or stdout a
/// real pseudo-terminal) says in one line what it is, writes no frame, and
/// exits 2; with pipes it says Hello (the test above).
#[test]
fn the_worker_program_on_a_terminal_says_what_it_is_and_exits_2() {
    use std::os::fd::OwnedFd;
    use std::process::{Command, Stdio};
    for program in [
        env!("CARGO_BIN_EXE_supervisor-worker"),
        env!("CARGO_BIN_EXE_supervisor"),
    ] {
        for terminal_on in ["stdin", "stdout"] {
            let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
            let tty = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
            let mut command = Command::new(program);
            if program.ends_with("/supervisor") {
                command.arg("worker");
            }
            let (stdin, stdout) = match terminal_on {
                "stdin" => (tty(&pty.slave), Stdio::piped()),
                _ => (Stdio::null(), tty(&pty.slave)),
            };
            let done = command
                .stdin(stdin)
                .stdout(stdout)
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&done.stderr);
            assert_eq!(
                done.status.code(),
                Some(2),
                "{program} {terminal_on}: {stderr}"
            );
            assert_eq!(stderr.lines().count(), 1, "{program}: {stderr}");
            assert!(stderr.contains("not run by hand"), "{stderr}");
            assert!(done.stdout.is_empty(), "no frame on a pipe stdout");
        }
    }
}

/// A program name (argv[0]) that is not UTF-8 is shown as well as it can
/// be, not a panic: the worker program on a terminal still exits 2.
#[test]
fn the_worker_program_by_hand_under_a_name_not_utf8_exits_2() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    let done = Command::new(env!("CARGO_BIN_EXE_supervisor-worker"))
        .arg0(OsStr::from_bytes(b"/odd/worker-\xff"))
        .stdin(Stdio::from(pty.slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("worker-\u{fffd}: ") && stderr.contains("not run by hand"),
        "{stderr}"
    );
}

/// The README's flags table and `--help` give the same default for every
/// flag, word for word (a flag without one is `off`, `none` or `required`
/// in the README).
#[test]
fn the_readme_and_help_agree_on_defaults() {
    use clap::CommandFactory;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    // `| `--flag ...` | default | meaning |` rows.
    let mut table = HashMap::new();
    for line in readme.lines().filter(|l| l.starts_with("| `--")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let flag = cells[0]
            .trim_start_matches("| `")
            .split([' ', '`', ','])
            .next()
            .unwrap();
        table.insert(flag.to_string(), cells[1].trim_matches('`').to_string());
    }
    let command = supervisor::cli::Cli::command();
    let mut checked = 0;
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if ["help", "version"].contains(&long) {
            continue;
        }
        let flag = format!("--{long}");
        let readme_default = table
            .get(&flag)
            .unwrap_or_else(|| panic!("{flag} is not in the README's flags table"));
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let help_default = match arg.get_default_values() {
            [value] => Some(value.to_string_lossy().into_owned()),
            _ => help
                .split_once("[default: ")
                .map(|(_, rest)| rest.split_once(']').unwrap().0.to_string()),
        };
        match help_default.as_deref() {
            // A switch (off unless given).
            Some("false") => assert_eq!(readme_default, "off", "{flag}"),
            Some(default) => assert_eq!(readme_default, default, "{flag}"),
            None => assert!(
                ["off", "none", "required"].contains(&readme_default.as_str()),
                "{flag}: the README says '{readme_default}', --help gives no default"
            ),
        }
        checked += 1;
    }
    assert!(checked >= 25, "{checked} flags checked");
}
