//! A real OpenSSH server for the integration tests, and a network namespace
//! to put one "on another host".
//!
//! This module owns:
//! - [`Sshd`]: a private `/usr/sbin/sshd` started by the test itself, with
//!   its own host key, client key, `authorized_keys`, config and log in a
//!   temporary directory; it accepts the client key for the current user
//!   (root here; any user works: `StrictModes no`, `UsePAM no`). It reports
//!   its per-connection processes and the commands they run, and its `Drop`
//!   kills all of them.
//! - [`Netns`]: a network namespace joined to the root namespace by a veth
//!   pair, whose link can be cut so that packets silently vanish (a host
//!   that stops answering, not one that refuses).
//! - [`sshd_for`], [`sshd_in_for`], [`netns_for`]: start these for a test,
//!   or fail it saying why. Tests that need them are `#[ignore]`d with the
//!   reason where `build.rs` found them missing (the `has_sshd` and
//!   `has_netns` cfgs), so a test that cannot run is never reported as
//!   passed.
//! - [`processes_running`]: the live processes of one executable anywhere
//!   on the machine, to check that no remote worker outlives a test.
//!
//! No mocks: real sshd, real ssh, real veth. Every wait is bounded.

use std::fs::{self, File};
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The OpenSSH server binary.
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long [`Sshd::start`] waits for a working login.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one helper command (`ip`, `ssh-keygen`, one `ssh`) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How many ports [`Sshd::start`] tries when sshd cannot bind the first.
const PORT_ATTEMPTS: usize = 5;

/// Lines of the sshd log quoted in an error.
const LOG_TAIL_LINES: usize = 12;

/// A private OpenSSH server, listening on one address and port, running
/// as the current user.
///
/// The listener is made a child subreaper (`PR_SET_CHILD_SUBREAPER`, set
/// just before exec and kept across it): a remote command whose sshd
/// session died is reparented to the listener instead of to init, so it is
/// still among [`Sshd::session_children`] and `Drop` still kills it. This
/// changes only who the orphan's parent is, never whether it lives: on a
/// real host the orphan would live on under init.
pub struct Sshd {
    /// The listener (`ip netns exec` became sshd by exec: same pid).
    child: Option<Child>,
    pid: i32,
    host: String,
    port: u16,
    key: PathBuf,
    log: PathBuf,
    /// Keys, config, `authorized_keys`, log; removed on drop (`None` only
    /// while a failed start hands it on to the next attempt).
    dir: Option<tempfile::TempDir>,
}

impl Sshd {
    /// Starts an sshd listening on 127.0.0.1 (a free high port), and waits
    /// (at most [`START_TIMEOUT`]) until a real `ssh ... true` through it
    /// succeeds. The error is one paragraph saying why, with the sshd log
    /// tail.
    pub fn start() -> Result<Sshd, String> {
        Sshd::launch("127.0.0.1", None)
    }

    /// Like [`Sshd::start`], but sshd runs inside `netns` (through
    /// `ip netns exec`) and listens on the namespace's address, reachable
    /// from here over the veth pair.
    pub fn start_in(netns: &Netns) -> Result<Sshd, String> {
        Sshd::launch(&netns.address(), Some(netns.name()))
    }

    fn launch(listen: &str, netns: Option<&str>) -> Result<Sshd, String> {
        let mut dir = tempfile::Builder::new()
            .prefix("sshd-fixture.")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let base = dir.path().to_path_buf();
        match base.to_str() {
            Some(s) if !s.contains(char::is_whitespace) => {}
            _ => {
                return Err(format!(
                    "the temporary directory {base:?} has whitespace or is not UTF-8: \
                     the launcher template cannot hold its key path (set TMPDIR)"
                ));
            }
        }
        let host_key = base.join("host_key");
        let key = base.join("client_key");
        for k in [&host_key, &key] {
            run_bounded(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", "sshd-fixture", "-f"])
                    .arg(k),
                COMMAND_TIMEOUT,
            )
            .and_then(succeeded)
            .map_err(|e| format!("cannot make an ed25519 key: {e}"))?;
        }
        let authorized = base.join("authorized_keys");
        fs::copy(base.join("client_key.pub"), &authorized)
            .map_err(|e| format!("cannot write {authorized:?}: {e}"))?;
        // sshd insists on its privilege separation directory when it runs
        // as root; a user's sshd does not need it (and cannot make it).
        if !Path::new("/run/sshd").is_dir()
            && let Err(e) = fs::create_dir_all("/run/sshd")
            && is_root()
        {
            return Err(format!("cannot create /run/sshd: {e}"));
        }

        let config = base.join("sshd_config");
        let log = base.join("sshd.log");
        // Sessions get an empty home of their own: the user's shell then
        // reads no ~/.bashrc. (root's runs `pyenv init`, whose rehash takes
        // a lock file; a session killed mid-rehash, as these tests do,
        // leaves it behind, and every later login waits a minute on it.)
        let home = base.join("home");
        fs::create_dir_all(&home).map_err(|e| format!("cannot create {home:?}: {e}"))?;
        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let text = format!(
                "Port {port}\n\
                 ListenAddress {listen}\n\
                 AddressFamily inet\n\
                 HostKey {host_key}\n\
                 AuthorizedKeysFile {authorized}\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 PidFile {pidfile}\n\
                 PermitRootLogin prohibit-password\n\
                 MaxStartups 100\n\
                 PrintMotd no\n\
                 X11Forwarding no\n\
                 SetEnv HOME={home}\n\
                 LogLevel ERROR\n",
                home = home.display(),
                host_key = host_key.display(),
                authorized = authorized.display(),
                pidfile = base.join("sshd.pid").display(),
            );
            fs::write(&config, text).map_err(|e| format!("cannot write {config:?}: {e}"))?;
            let log_file = File::create(&log).map_err(|e| format!("cannot create {log:?}: {e}"))?;
            let log_out = log_file
                .try_clone()
                .map_err(|e| format!("cannot duplicate a descriptor: {e}"))?;

            let mut command = match netns {
                Some(name) => {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", name, SSHD]);
                    c
                }
                None => Command::new(SSHD),
            };
            command
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_out)
                .stderr(log_file);
            // SAFETY: only async-signal-safe calls (fcntl, prctl) between
            // fork and exec.
            unsafe {
                command.pre_exec(|| {
                    // Whatever this test process holds is not passed on.
                    for fd in 3..4096 {
                        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                    }
                    // Orphaned remote commands stay below the listener.
                    if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let child = command
                .spawn()
                .map_err(|e| format!("cannot start {command:?}: {e}"))?;
            // From here on, dropping `sshd` (an early return) kills it.
            let mut sshd = Sshd {
                pid: child.id() as i32,
                child: Some(child),
                host: listen.to_string(),
                port,
                key: key.clone(),
                log: log.clone(),
                dir: Some(dir),
            };
            match sshd.wait_ready() {
                Ok(()) => return Ok(sshd),
                Err(Ready::PortTaken(why)) => {
                    last_failure = why;
                    dir = sshd.into_dir().ok_or("the temporary directory is gone")?;
                }
                Err(Ready::Failed(why)) => return Err(why),
            }
        }
        Err(format!(
            "sshd could not bind a free port in {PORT_ATTEMPTS} attempts; last: {last_failure}"
        ))
    }

    /// Waits until `ssh ... true` through this server succeeds.
    fn wait_ready(&mut self) -> Result<(), Ready> {
        let started = Instant::now();
        let deadline = started + START_TIMEOUT;
        let mut last_ssh = String::from("no ssh attempt finished");
        loop {
            let exited = match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(status))) => Some(format!("{status}")),
                Some(Ok(None)) => None,
                Some(Err(e)) => Some(format!("unknown status ({e})")),
                None => Some("gone".into()),
            };
            if let Some(status) = exited {
                let tail = self.log_tail();
                let why = format!(
                    "sshd ({}) exited during startup ({status}) listening on {}:{}; sshd log: {tail}",
                    self.pid, self.host, self.port
                );
                return Err(
                    if tail.contains("Address already in use") || tail.contains("Cannot bind") {
                        Ready::PortTaken(why)
                    } else {
                        Ready::Failed(why)
                    },
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Ready::Failed(format!(
                    "sshd ({}) on {}:{} did not accept a login within {START_TIMEOUT:?}; \
                     last ssh attempt: {last_ssh}; sshd log: {}",
                    self.pid,
                    self.host,
                    self.port,
                    self.log_tail()
                )));
            }
            let mut ssh = ssh_command(&self.launcher(), &self.host, "true");
            match run_bounded(&mut ssh, left.min(COMMAND_TIMEOUT)) {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => {
                    last_ssh = format!(
                        "{} ({})",
                        String::from_utf8_lossy(&out.stderr).trim(),
                        out.status
                    )
                }
                Err(e) => last_ssh = e,
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills this (failed) server and hands back its directory for the
    /// next attempt.
    fn into_dir(mut self) -> Option<tempfile::TempDir> {
        self.kill_all();
        self.dir.take()
    }

    /// The address to pass as `{host}`: 127.0.0.1, or the namespace's.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The client's private key (sshd accepts it for the current user).
    pub fn key(&self) -> &Path {
        &self.key
    }

    /// The launcher template for this server: an `ssh` command line with
    /// the literal placeholders `{host}` and `{worker}`, no quoting (split
    /// it on whitespace). No configuration file, no known hosts, no agent
    /// keys, no password prompt, no pty.
    pub fn launcher(&self) -> String {
        let key = self.key.display().to_string();
        assert!(
            !key.contains(char::is_whitespace),
            "the key path {key:?} has whitespace: it cannot go into the template"
        );
        format!(
            "ssh -F /dev/null -p {port} -i {key} -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes \
             -o LogLevel=ERROR -T {{host}} {{worker}}",
            port = self.port
        )
    }

    /// The listener's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The live sshd processes below the listener, all of them. With
    /// OpenSSH 9.2 a connection is served by a re-executed child of the
    /// listener (`sshd: [accepted]`, then `sshd: USER [priv]`), which
    /// before authentication has an unprivileged child (`[net]` /
    /// `[preauth]`). After authentication, as root (privilege separation
    /// is skipped for root), the first one alone remains, as
    /// `sshd: root@notty`, the parent of the command; as another user it
    /// stays as `sshd: USER [priv]` with a child `sshd: USER@notty` that
    /// runs the command. So: one (root) or two (other users) per
    /// authenticated connection; two for a connection still logging in.
    pub fn sessions(&self) -> Vec<i32> {
        descendants(self.pid)
            .into_iter()
            .filter(|p| p.live() && p.comm == "sshd")
            .map(|p| p.pid)
            .collect()
    }

    /// The live processes below the listener that are not sshd: the
    /// commands the sessions run (remote workers) and their children,
    /// including commands whose session is gone (see [`Sshd`]).
    pub fn session_children(&self) -> Vec<i32> {
        descendants(self.pid)
            .into_iter()
            .filter(|p| p.live() && p.comm != "sshd")
            .map(|p| p.pid)
            .collect()
    }

    /// The last lines of the sshd log, on one line.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            return "(empty)".into();
        }
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join(" / ")
    }

    /// SIGKILLs every process below the listener, then the listener, and
    /// reaps it. While the listener lives it is the subreaper of its tree,
    /// so a process forked during the sweep is caught by the next round.
    fn kill_all(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let rest: Vec<i32> = descendants(self.pid)
                .into_iter()
                .filter(Proc::live)
                .map(|p| p.pid)
                .collect();
            if rest.is_empty() || Instant::now() >= deadline {
                break;
            }
            for pid in rest {
                super::signal(pid, libc::SIGKILL);
            }
            thread::sleep(Duration::from_millis(10));
        }
        // Give the listener a moment to reap the zombies (it reaps any
        // child), so none is left to an init that might not.
        let deadline = Instant::now() + Duration::from_secs(1);
        while !descendants(self.pid).is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Why a started sshd is not serving.
enum Ready {
    /// It could not bind its port: another port may work.
    PortTaken(String),
    /// Anything else.
    Failed(String),
}

/// The `ssh` command of a launcher `template` with `{host}` and `{worker}`
/// substituted, as the program does: the template is split on whitespace
/// (it has no quoting), `{host}` becomes `host`, `{worker}` becomes
/// `worker` (one argument; ssh joins the remote command's arguments with
/// spaces, so `worker` may be a whole shell command).
pub fn ssh_command(template: &str, host: &str, worker: &str) -> Command {
    let mut words = template.split_whitespace().map(|w| match w {
        "{host}" => host.to_string(),
        "{worker}" => worker.to_string(),
        other => other.to_string(),
    });
    let mut command = Command::new(words.next().expect("an empty launcher template"));
    command.args(words);
    command
}

/// Starts an [`Sshd`] on 127.0.0.1 for `test`, or fails the test saying
/// why. A test that needs it is `#[ignore]`d where the build found no sshd
/// (the `has_sshd` cfg, set by `build.rs`), so reaching this without one
/// means the requirement was asked for (`--include-ignored`) or is broken.
pub fn sshd_for(test: &str) -> Sshd {
    or_fail(test, "sshd cannot be started", Sshd::start())
}

/// [`sshd_for`] for an sshd inside `netns`.
pub fn sshd_in_for(test: &str, netns: &Netns) -> Sshd {
    or_fail(test, "sshd cannot be started", Sshd::start_in(netns))
}

/// Creates a [`Netns`] for `test`, or fails the test saying why (tests that
/// need one are `#[ignore]`d unless the build found them possible: the
/// `has_netns` cfg).
pub fn netns_for(test: &str) -> Netns {
    or_fail(
        test,
        "a network namespace cannot be created",
        Netns::create(),
    )
}

fn or_fail<T>(test: &str, what: &str, made: Result<T, String>) -> T {
    made.unwrap_or_else(|why| panic!("{test}: {what}: {why}"))
}

/// Distinguishes the namespaces one test process creates.
static NETNS_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace joined to the root namespace by a veth pair, with
/// a /30 of 10.213.0.0/16: the host end has its first address
/// ([`Netns::host_address`]), the peer inside its second
/// ([`Netns::address`]); `lo` is up inside. Dropping it
/// kills whatever still runs inside and deletes the namespace and the
/// pair. Needs root (`CAP_NET_ADMIN`, `CAP_SYS_ADMIN`).
///
/// The host end has a permanent neighbour entry for the peer, so the
/// host never needs ARP to reach it: while the link is cut, the host's
/// packets are always handed to the veth and dropped there, and no ARP
/// failure ever turns the silence into "No route to host".
pub struct Netns {
    name: String,
    host_end: String,
    peer_end: String,
    host_address: String,
    address: String,
    /// What [`Netns::create`] got to make, so `Drop` removes only that.
    made_ns: bool,
    made_link: bool,
}

impl Netns {
    /// Makes a uniquely named namespace (`sv-test-PID-N`), a veth pair
    /// (`svPIDhN` here, `svPIDpN` inside), a free /30 from 10.213.0.0/16
    /// chosen from pid and counter (skipping one an interface already
    /// has), both ends and `lo` up.
    pub fn create() -> Result<Netns, String> {
        let pid = std::process::id();
        let n = NETNS_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut ns = Netns {
            name: format!("sv-test-{pid}-{n}"),
            host_end: format!("sv{pid}h{n}"),
            peer_end: format!("sv{pid}p{n}"),
            host_address: String::new(),
            address: String::new(),
            made_ns: false,
            made_link: false,
        };
        if ns.host_end.len() > 15 {
            return Err(format!("interface name {} is too long", ns.host_end));
        }
        // 16384 /30s in 10.213.0.0/16; start from pid and counter, skip
        // any an interface already uses (another test process's).
        let used = ip(&["-o", "-4", "addr", "show"])?;
        let start = (u64::from(pid) * 40_503 + u64::from(n) * 977) % 16_384;
        let (host_address, address) = (0..16_384u64)
            .map(|i| {
                let block = (start + i) % 16_384;
                let (x, y) = (block / 64, (block % 64) * 4);
                (
                    format!("10.213.{x}.{}", y + 1),
                    format!("10.213.{x}.{}", y + 2),
                )
            })
            .find(|(h, a)| !used.contains(&format!(" {h}/")) && !used.contains(&format!(" {a}/")))
            .ok_or("no free /30 in 10.213.0.0/16")?;
        ns.host_address = host_address;
        ns.address = address;

        ip(&["netns", "add", &ns.name])?;
        ns.made_ns = true;
        ip(&[
            "link",
            "add",
            &ns.host_end,
            "type",
            "veth",
            "peer",
            "name",
            &ns.peer_end,
            "netns",
            &ns.name,
        ])?;
        ns.made_link = true;
        ip(&[
            "addr",
            "add",
            &format!("{}/30", ns.host_address),
            "dev",
            &ns.host_end,
        ])?;
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{}/30", ns.address),
            "dev",
            &ns.peer_end,
        ])?;
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns.name, "link", "set", &ns.peer_end, "up"])?;
        ip(&["link", "set", &ns.host_end, "up"])?;
        let link = ip(&["-n", &ns.name, "-o", "link", "show", &ns.peer_end])?;
        let mac = link
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .ok_or_else(|| format!("no MAC address for {} in: {link}", ns.peer_end))?
            .to_string();
        ip(&[
            "neigh",
            "replace",
            &ns.address,
            "lladdr",
            &mac,
            "dev",
            &ns.host_end,
            "nud",
            "permanent",
        ])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address inside the namespace (what sshd listens on there).
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// The address of the host end, in the root namespace.
    pub fn host_address(&self) -> String {
        self.host_address.clone()
    }

    /// The name of the host end of the veth pair, in the root namespace.
    pub fn host_end(&self) -> &str {
        &self.host_end
    }

    /// Makes the namespace unreachable: from now on packets between here
    /// and there silently vanish (no RST, no ICMP), for established
    /// connections (they stall) and new ones (they time out).
    ///
    /// How: the peer end, inside the namespace, goes down. Here the host
    /// end stays up and keeps its route (marked `linkdown`) and its
    /// permanent neighbour entry, so packets still go into the veth,
    /// which drops them because its peer is down. (Taking the host end
    /// down instead would remove the route here, and packets for the
    /// namespace would follow the default route out of the machine.)
    /// Inside, the namespace loses its route to us, so its packets are
    /// dropped before leaving. Panics if `ip` fails.
    pub fn cut(&self) {
        ip(&["-n", &self.name, "link", "set", &self.peer_end, "down"])
            .unwrap_or_else(|e| panic!("cutting {}: {e}", self.name));
    }

    /// Undoes [`Netns::cut`]: TCP connections that did not time out
    /// resume (at their next retransmission). Panics if `ip` fails.
    pub fn restore(&self) {
        ip(&["-n", &self.name, "link", "set", &self.peer_end, "up"])
            .unwrap_or_else(|e| panic!("restoring {}: {e}", self.name));
    }

    /// The pids of the processes in the namespace.
    pub fn pids(&self) -> Vec<i32> {
        ip(&["netns", "pids", &self.name])
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.made_ns {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let pids = self.pids();
                if pids.is_empty() || Instant::now() >= deadline {
                    break;
                }
                for pid in pids {
                    super::signal(pid, libc::SIGKILL);
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        // Deleting the namespace would destroy the pair too, but only once
        // nothing holds the namespace any more: delete it explicitly.
        if self.made_link
            && let Err(e) = ip(&["link", "del", &self.host_end])
        {
            eprintln!("dropping {}: {e}", self.name);
        }
        if self.made_ns
            && let Err(e) = ip(&["netns", "del", &self.name])
        {
            eprintln!("dropping {}: {e}", self.name);
        }
    }
}

/// The live (not zombie) processes running `exe`: `/proc/PID/exe`
/// resolves to it, or the first argument of their command line is it
/// (which also finds other users' processes, whose `exe` is unreadable
/// unless we are root).
pub fn processes_running(exe: &Path) -> Vec<i32> {
    let canonical = fs::canonicalize(exe).unwrap_or_else(|_| exe.to_path_buf());
    let canonical = canonical.as_os_str().as_encoded_bytes();
    let exe = exe.as_os_str().as_encoded_bytes();
    procs()
        .into_iter()
        .filter(Proc::live)
        .filter(|p| {
            let by_exe = fs::read_link(format!("/proc/{}/exe", p.pid)).is_ok_and(|target| {
                let target = target.as_os_str().as_encoded_bytes();
                // A binary replaced or removed since it started.
                target.strip_suffix(b" (deleted)").unwrap_or(target) == canonical
            });
            by_exe
                || fs::read(format!("/proc/{}/cmdline", p.pid))
                    .is_ok_and(|c| c.split(|&b| b == 0).next() == Some(exe))
        })
        .map(|p| p.pid)
        .collect()
}

/// One line of the process table.
#[derive(Clone, Debug)]
struct Proc {
    pid: i32,
    ppid: i32,
    state: char,
    /// The command name, as in `/proc/PID/comm` (at most 15 bytes).
    comm: String,
}

impl Proc {
    /// Not a zombie (nor dead).
    fn live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }
}

/// A snapshot of every process, from `/proc/*/stat`.
fn procs() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "PID (COMM) STATE PPID ...": COMM may hold spaces or ')'.
            let open = text.find('(')?;
            let close = text.rfind(')')?;
            let mut rest = text[close + 1..].split_whitespace();
            Some(Proc {
                pid,
                comm: text[open + 1..close].to_string(),
                state: rest.next()?.chars().next()?,
                ppid: rest.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Every process below `root` (not `root` itself), zombies included.
fn descendants(root: i32) -> Vec<Proc> {
    let all = procs();
    let mut found: Vec<Proc> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for p in all.iter().filter(|p| p.ppid == parent) {
            if !found.iter().any(|f| f.pid == p.pid) {
                frontier.push(p.pid);
                found.push(p.clone());
            }
        }
    }
    found.sort_by_key(|p| p.pid);
    found
}

/// Whether this process runs as root.
fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A free TCP port on 127.0.0.1 (free now; sshd may still lose a race for
/// it, which [`Sshd::start`] retries).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Runs `ip ARGS` (bounded); its stdout, or why it failed.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = run_bounded(Command::new("ip").args(args), COMMAND_TIMEOUT)
        .and_then(succeeded)
        .map_err(|e| format!("`ip {}` failed: {e}", args.join(" ")))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `out` if its command succeeded, else why not.
fn succeeded(out: Output) -> Result<Output, String> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `command` with no stdin and its output captured, for at most
/// `timeout` (then kills it, and says so in the error).
pub fn run_bounded(command: &mut Command, timeout: Duration) -> Result<Output, String> {
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    // Readers on threads: a chatty command cannot block on a full pipe.
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                // The readers end when the pipes close; not waited for.
                return Err(format!("{what} did not finish within {timeout:?}"));
            }
            Err(e) => return Err(format!("waiting for {what}: {e}")),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}
