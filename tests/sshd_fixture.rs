//! Tests of the sshd fixture itself (`tests/common/sshd.rs`): a real
//! OpenSSH server runs commands through the launcher template, reports its
//! sessions and their commands, cleans up after itself; a network
//! namespace can be cut so that a session stalls silently. They also
//! record, in their output (run with `--nocapture`), what sshd does to a
//! remote command whose ssh client is SIGKILLed, and timings.

mod common;

use common::sshd::{
    Netns, Sshd, netns_for, processes_running, run_bounded, ssh_command, sshd_for, sshd_in_for,
};
use common::{Ident, PATIENCE, dead, ident, serial, signal, stat, state_of, wait_until};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};
use std::{fs, thread};

/// A child process that is SIGKILLed and reaped when dropped, so that a
/// failing test leaves no ssh client behind (one whose link was cut would
/// otherwise wait for TCP to give up, for many minutes).
struct Reaped(Child);

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command`, to be killed when dropped.
fn spawn(command: &mut Command, what: &str) -> Reaped {
    Reaped(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("{what} does not start: {e}")),
    )
}

/// Waits at most `timeout` for `child` to exit.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `worker` through the server's launcher; its stdout (asserting
/// success).
fn ssh_output(sshd: &Sshd, worker: &str) -> String {
    let out = run_bounded(
        &mut ssh_command(&sshd.launcher(), &sshd.host(), worker),
        PATIENCE,
    )
    .unwrap_or_else(|e| panic!("ssh {worker:?}: {e}"));
    assert!(
        out.status.success(),
        "ssh {worker:?}: {}: {}; sshd log: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        sshd.log_tail()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A copy of a system program under a unique path, so that its processes
/// can be told from every other process on the machine.
fn unique_copy(dir: &Path, program: &str) -> PathBuf {
    let source = ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no {program} in /usr/bin or /bin"));
    let copy = dir.join(program);
    fs::copy(&source, &copy).expect("copy a program");
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod");
    copy
}

#[test]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd (.ci/run installs one)"
)]
fn sshd_runs_a_command_through_the_launcher() {
    let _serial = serial();
    let began = Instant::now();
    let sshd = sshd_for("sshd_runs_a_command_through_the_launcher");
    let startup = began.elapsed();
    let template = sshd.launcher();
    assert!(
        template.contains(" {host} ") && template.ends_with(" {worker}"),
        "{template}"
    );
    assert_eq!(sshd.host(), "127.0.0.1");
    assert!(
        template.contains(&format!("-p {} ", sshd.port())),
        "{template}"
    );
    assert!(sshd.key().is_file(), "{:?}", sshd.key());

    assert_eq!(ssh_output(&sshd, "echo hi"), "hi\n");

    let n = 5;
    let timed = Instant::now();
    for _ in 0..n {
        ssh_output(&sshd, "true");
    }
    let per_login = timed.elapsed() / n;
    println!(
        "TIMING: Sshd::start took {startup:?} (keys, config, sshd up, first login); \
         one `ssh ... true` takes {per_login:?} (mean of {n})"
    );

    // Finished sessions leave nothing behind.
    wait_until(PATIENCE, "the sessions to end", || {
        sshd.sessions().is_empty() && sshd.session_children().is_empty()
    });

    // Drop kills and reaps the listener and removes the directory.
    let listener = ident(sshd.pid()).expect("the listener runs");
    let dir = sshd.key().parent().expect("a directory").to_path_buf();
    drop(sshd);
    assert!(dead(listener), "the listener survived the drop");
    assert!(!dir.exists(), "{dir:?} survived the drop");
}

/// The signals pending for `pid` (thread and process), by number.
fn pending_signals(pid: i32) -> Vec<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mask = status
        .lines()
        .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .fold(0, |a, b| a | b);
    (1..=64).filter(|n| mask & (1 << (n - 1)) != 0).collect()
}

/// What became of one remote command after its ssh client was SIGKILLed.
struct Fate {
    survived: bool,
    /// What was observed, in words.
    detail: String,
}

/// Starts `program args` on the server (no pty, stdin a pipe from the
/// client kept open, as a worker's frames would be), optionally SIGSTOPs
/// it, SIGKILLs the local ssh client and watches the remote command for a
/// few seconds. Kills the remote command afterwards whatever happened.
fn fate_after_client_sigkill(sshd: &Sshd, program: &Path, args: &str, stop: bool) -> Fate {
    let mut client = spawn(
        ssh_command(
            &sshd.launcher(),
            &sshd.host(),
            &format!("{} {args}", program.display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null()),
        "ssh",
    );

    // Only the session's own child: the command may fork (a shell's fork
    // that has not exec'd yet runs the same program for a moment), and its
    // fork is a descendant of the session too, but not its child.
    let mut remote = Vec::new();
    wait_until(PATIENCE, "the remote command to start", || {
        let sessions = sshd.sessions();
        remote = processes_running(program);
        remote.retain(|&pid| stat(pid).is_some_and(|s| sessions.contains(&s.ppid)));
        !remote.is_empty()
    });
    assert_eq!(remote.len(), 1, "one remote {program:?}: {remote:?}");
    let remote_pid = remote[0];
    assert!(
        sshd.session_children().contains(&remote_pid),
        "remote pid {remote_pid} is not among the session children {:?}",
        sshd.session_children()
    );
    let sessions = sshd.sessions();
    assert!(!sessions.is_empty(), "no sshd session process");
    let parent = stat(remote_pid).expect("the remote command runs").ppid;
    assert!(
        sessions.contains(&parent),
        "the remote command's parent {parent} is not a session {sessions:?}"
    );
    let remote_id: Ident = ident(remote_pid).expect("the remote command runs");

    if stop {
        signal(remote_pid, libc::SIGSTOP);
        wait_until(PATIENCE, "the remote command to stop", || {
            state_of(remote_id) == Some('T')
        });
    }

    let killed = Instant::now();
    client.kill().expect("SIGKILL the ssh client");
    let status = wait_child(&mut client, PATIENCE).expect("the killed client is reaped");
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    // Watch: does the remote command die, do its sessions go?
    let watch = Duration::from_secs(3);
    let mut died_after = None;
    let mut sessions_gone_after = None;
    while killed.elapsed() < watch {
        if died_after.is_none() && dead(remote_id) {
            died_after = Some(killed.elapsed());
        }
        if sessions_gone_after.is_none() && sessions.iter().all(|&p| stat(p).is_none()) {
            sessions_gone_after = Some(killed.elapsed());
        }
        if died_after.is_some() && sessions_gone_after.is_some() {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let sessions_word = match sessions_gone_after {
        Some(t) => format!("its sshd session process(es) {sessions:?} exited within {t:?}"),
        None => format!("its sshd session process(es) {sessions:?} still ran after {watch:?}"),
    };
    let fate = match died_after {
        Some(t) => Fate {
            survived: false,
            detail: format!("DIED within {t:?} of the client's SIGKILL; {sessions_word}"),
        },
        None => {
            let now = stat(remote_pid).expect("it survived");
            let whose = if now.ppid == sshd.pid() {
                "the sshd listener (the fixture's subreaper; init on a real host)".to_string()
            } else {
                format!("pid {}", now.ppid)
            };
            // A stopped process holds a SIGHUP or SIGTERM pending instead
            // of dying of it: look, then let it run and see.
            let pending = pending_signals(remote_pid);
            let mut detail = format!(
                "SURVIVED: still there {watch:?} after the client's SIGKILL, state {}, \
                 reparented to {whose}, pending signals {pending:?}",
                now.state
            );
            let mut survived = true;
            if stop {
                signal(remote_pid, libc::SIGCONT);
                let resumed = Instant::now();
                while resumed.elapsed() < Duration::from_secs(1) && !dead(remote_id) {
                    thread::sleep(Duration::from_millis(5));
                }
                survived = !dead(remote_id);
                detail += if survived {
                    "; after SIGCONT it runs on"
                } else {
                    "; after SIGCONT it DIED"
                };
            }
            Fate {
                survived,
                detail: format!("{detail}; {sessions_word}"),
            }
        }
    };

    signal(remote_pid, libc::SIGKILL);
    wait_until(PATIENCE, "the remote command to die", || dead(remote_id));
    fate
}

#[test]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd (.ci/run installs one)"
)]
fn what_sshd_does_to_a_remote_command_when_the_client_is_sigkilled() {
    let _serial = serial();
    let test = "what_sshd_does_to_a_remote_command_when_the_client_is_sigkilled";
    let sshd = sshd_for(test);
    let programs = tempfile::tempdir().expect("a temporary directory");
    // Unique copies: `processes_running` must find these and nothing else.
    let sleep = unique_copy(programs.path(), "sleep");
    let cat = unique_copy(programs.path(), "cat");
    let sh = unique_copy(programs.path(), "sh");
    assert!(processes_running(&sleep).is_empty());

    let busy = fate_after_client_sigkill(&sshd, &sleep, "300", false);
    println!(
        "FINDING (b1) OpenSSH 9.2, no pty: remote `sleep 300` (running, never touching \
         stdin/stdout) when its ssh client is SIGKILLed: {}",
        busy.detail
    );
    let stopped = fate_after_client_sigkill(&sshd, &sleep, "300", true);
    println!(
        "FINDING (b2) OpenSSH 9.2, no pty: remote `sleep 300` SIGSTOPped before its ssh \
         client is SIGKILLed: {}",
        stopped.detail
    );
    let reader = fate_after_client_sigkill(&sshd, &cat, "", false);
    println!(
        "FINDING (b3) OpenSSH 9.2, no pty: remote `cat` (blocked reading its stdin, the \
         client's stdin) when its ssh client is SIGKILLed: {}",
        reader.detail
    );
    let writer =
        fate_after_client_sigkill(&sshd, &sh, "-c 'while sleep 0.2; do echo x; done'", false);
    println!(
        "FINDING (b4) OpenSSH 9.2, no pty: remote `sh -c 'while sleep 0.2; do echo x; \
         done'` (writing to its stdout every 0.2 s) when its ssh client is SIGKILLed: {}",
        writer.detail
    );
    println!(
        "FINDING (b) summary: sshd {} a non-pty command whose client was SIGKILLed; \
         a command blocked reading stdin {}; a command writing to stdout {}",
        if busy.survived && stopped.survived {
            "neither kills nor signals"
        } else {
            "does end (see above)"
        },
        if reader.survived {
            "survives too"
        } else {
            "ends (EOF on stdin)"
        },
        if writer.survived {
            "survives too"
        } else {
            "ends at its next write (SIGPIPE / EPIPE)"
        }
    );

    // Nothing remote is left once the fixture is dropped.
    let listener = ident(sshd.pid()).expect("the listener runs");
    drop(sshd);
    assert!(dead(listener));
    assert!(processes_running(&sleep).is_empty());
    assert!(processes_running(&cat).is_empty());
    assert!(processes_running(&sh).is_empty());
}

#[test]
fn processes_running_finds_a_program_by_its_path() {
    let _serial = serial();
    let programs = tempfile::tempdir().expect("a temporary directory");
    let sleep = unique_copy(programs.path(), "sleep");
    assert!(processes_running(&sleep).is_empty());
    let mut local = spawn(Command::new(&sleep).arg("300"), "sleep");
    let pid = local.id() as i32;
    wait_until(PATIENCE, "the sleep to be found", || {
        processes_running(&sleep) == [pid]
    });
    local.kill().expect("SIGKILL");
    // A zombie is not running.
    wait_until(PATIENCE, "the zombie", || {
        stat(pid).is_some_and(|s| s.state == 'Z')
    });
    assert!(processes_running(&sleep).is_empty());
    wait_child(&mut local, PATIENCE).expect("reaped");
}

#[test]
#[cfg_attr(
    not(has_sshd),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd (.ci/run installs one)"
)]
fn sshd_drop_kills_running_sessions_and_their_commands() {
    let _serial = serial();
    let test = "sshd_drop_kills_running_sessions_and_their_commands";
    let sshd = sshd_for(test);
    let programs = tempfile::tempdir().expect("a temporary directory");
    let sleep = unique_copy(programs.path(), "sleep");
    let mut clients: Vec<Reaped> = (0..3)
        .map(|_| {
            spawn(
                ssh_command(
                    &sshd.launcher(),
                    &sshd.host(),
                    &format!("{} 300", sleep.display()),
                )
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
                "ssh",
            )
        })
        .collect();
    wait_until(PATIENCE, "three remote sleeps", || {
        sshd.session_children().len() == 3 && processes_running(&sleep).len() == 3
    });
    let ids: Vec<Ident> = sshd
        .sessions()
        .into_iter()
        .chain(sshd.session_children())
        .chain([sshd.pid()])
        .filter_map(ident)
        .collect();
    drop(sshd);
    for id in &ids {
        assert!(dead(*id), "{id:?} survived the drop");
    }
    assert!(processes_running(&sleep).is_empty());
    // The clients see their connection close.
    for client in &mut clients {
        assert!(
            wait_child(client, PATIENCE).is_some(),
            "an ssh client outlived its server"
        );
    }
}

#[test]
#[cfg_attr(
    not(all(has_sshd, has_netns)),
    ignore = "needs an OpenSSH server at /usr/sbin/sshd and network namespaces (root)"
)]
fn netns_cut_stalls_an_ssh_session_silently_and_restore_resumes_it() {
    let _serial = serial();
    let test = "netns_cut_stalls_an_ssh_session_silently_and_restore_resumes_it";
    let ns = netns_for(test);
    let began = Instant::now();
    let sshd = sshd_in_for(test, &ns);
    println!(
        "TIMING: Sshd::start_in took {:?} (namespace {} at {})",
        began.elapsed(),
        ns.name(),
        ns.address()
    );
    assert_eq!(sshd.host(), ns.address());
    assert_ne!(ns.address(), ns.host_address());
    assert_eq!(ssh_output(&sshd, "echo hi"), "hi\n");
    // The session really is on the other side of the veth.
    let seen_from = ssh_output(&sshd, "echo $SSH_CONNECTION");
    assert!(
        seen_from.starts_with(&format!("{} ", ns.host_address())),
        "{seen_from}"
    );
    let template = sshd.launcher();

    // A process left running inside: the namespace's drop must kill it.
    let mut inside = spawn(
        Command::new("ip")
            .args(["netns", "exec", ns.name(), "sleep", "300"])
            .stdin(Stdio::null()),
        "ip netns exec sleep",
    );

    // A stream: one line every 0.1 s, read on a thread.
    let mut client = spawn(
        ssh_command(&template, &sshd.host(), "while sleep 0.1; do echo x; done")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "ssh",
    );
    let stdout = client.stdout.take().expect("a pipe");
    let (tx, rx) = mpsc::channel::<Instant>();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if line.is_err() || tx.send(Instant::now()).is_err() {
                break;
            }
        }
        // Dropping `tx` tells the test the stream hit EOF.
    });
    for i in 0..5 {
        rx.recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("line {i} of the stream: {e}"));
    }

    ns.cut();
    let cut = Instant::now();
    // Lines already on their way may still arrive for a moment.
    let mut late = 0;
    loop {
        let left = Duration::from_millis(500).saturating_sub(cut.elapsed());
        match rx.recv_timeout(left) {
            Ok(_) => late += 1,
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => panic!("the stream hit EOF when cut"),
        }
    }
    let quiet = Duration::from_millis(2500);
    match rx.recv_timeout(quiet) {
        Ok(at) => panic!(
            "the stream went on {:?} after the cut",
            at.duration_since(cut)
        ),
        Err(RecvTimeoutError::Disconnected) => panic!("the stream hit EOF while cut"),
        Err(RecvTimeoutError::Timeout) => {}
    }
    assert!(
        matches!(client.try_wait(), Ok(None)),
        "the ssh client exited while cut"
    );
    println!(
        "FINDING (c1) after Netns::cut(): the stream stalled: no line and no EOF for \
         {:?} ({late} line(s) arrived in the first 0.5 s), the ssh client still running",
        cut.elapsed()
    );

    // A new connection while cut: no refusal, no "no route": a timeout.
    let connect_timeout = 2;
    let attempt = Instant::now();
    let out = run_bounded(
        &mut ssh_command(
            &template.replacen(
                " -T ",
                &format!(" -o ConnectTimeout={connect_timeout} -T "),
                1,
            ),
            &sshd.host(),
            "true",
        ),
        PATIENCE,
    )
    .expect("ssh runs");
    let took = attempt.elapsed();
    let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
    println!(
        "FINDING (c2) a new ssh connection while cut fails after {took:?} \
         (ConnectTimeout={connect_timeout}): {why}"
    );
    assert!(!out.status.success(), "ssh got through a cut link");
    assert!(
        took >= Duration::from_millis(connect_timeout * 1000 - 500),
        "the connection failed fast ({took:?}: {why}): packets did not vanish silently"
    );

    ns.restore();
    let restored = Instant::now();
    let resumed = match rx.recv_timeout(PATIENCE) {
        Ok(at) => at.duration_since(restored),
        Err(e) => panic!("the stream did not resume after restore: {e}"),
    };
    println!(
        "FINDING (c3) after Netns::restore() the stalled stream resumed in {resumed:?} \
         (at TCP's next retransmission); total stall {:?}",
        cut.elapsed()
    );
    assert_eq!(ssh_output(&sshd, "echo again"), "again\n");

    let _ = client.kill();
    wait_child(&mut client, PATIENCE).expect("the ssh client is reaped");
    reader.join().expect("the reader thread");

    // Dropping: sshd first, then the namespace (and what runs inside).
    let name = ns.name().to_string();
    let host_end = ns.host_end().to_string();
    drop(sshd);
    drop(ns);
    let status = wait_child(&mut inside, PATIENCE).expect("the process inside was killed");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    let list = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        !list
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str())),
        "{name} is still listed: {list}"
    );
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("ip link show");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(&format!(" {host_end}@")) && !links.contains(&format!(" {host_end}:")),
        "{host_end} is still there: {links}"
    );
}

#[test]
#[cfg_attr(not(has_netns), ignore = "needs network namespaces (root, and `ip`)")]
fn netns_names_and_addresses_are_distinct_and_dropped() {
    let _serial = serial();
    let test = "netns_names_and_addresses_are_distinct_and_dropped";
    let a = netns_for(test);
    let b = Netns::create().expect("a second namespace");
    assert_ne!(a.name(), b.name());
    assert_ne!(a.address(), b.address());
    assert_ne!(a.host_end(), b.host_end());
    let names = [a.name().to_string(), b.name().to_string()];
    drop(a);
    drop(b);
    let list = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let list = String::from_utf8_lossy(&list.stdout);
    for name in names {
        assert!(
            !list
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name.as_str())),
            "{name} is still listed: {list}"
        );
    }
}
