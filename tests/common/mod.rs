//! Shared helpers for the integration tests of the `supervisor` binary: run
//! it as a real process, read its JSON summary and event file, and look at
//! its worker processes through `/proc`. No mocks: real processes, real
//! signals. Every wait has a generous bound; nothing depends on timing luck.

#![allow(dead_code)] // each test file uses a different subset

use serde_json::Value;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub mod slurm;
pub mod sshd;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_supervisor");

/// The lowest number of the extra descriptor [`Run::start_with_extra_fd`]
/// passes on.
pub const EXTRA_FD: i32 = 100;

/// Long enough that only a bug reaches it.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// One test per start method for each behaviour: `per_start_method! {
/// name => body; }` defines `mod name` with the tests `fork` and `spawn`,
/// each holding [`serial`] and calling `body(method)` (a function or a
/// closure of the file, taking the start method's name).
#[macro_export]
macro_rules! per_start_method {
    ($($name:ident => $body:expr;)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn fork() {
                let _serial = serial();
                ($body)("fork");
            }

            #[test]
            fn spawn() {
                let _serial = serial();
                ($body)("spawn");
            }
        }
    )*};
}

/// The tests of one file run one at a time: they start many processes, and
/// the calibrated run lengths assume the machine is not shared with a
/// sibling test of the same file.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many numbers a checkpoint journal at `path` holds as finished (0
/// while it is missing or unreadable).
pub fn finished_in(path: &Path) -> u64 {
    let text = fs::read_to_string(path).unwrap_or_default();
    let body = text.lines().nth(1).unwrap_or("{}");
    let json: Value = serde_json::from_str(body).unwrap_or_default();
    json["done"]
        .as_array()
        .map(|ranges| {
            ranges
                .iter()
                .map(|r| r[1].as_u64().unwrap() - r[0].as_u64().unwrap() + 1)
                .sum()
        })
        .unwrap_or(0)
}

/// Counts a run reports, to compare runs with each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    pub perfect: Vec<u64>,
    pub abundant: u64,
    pub deficient: u64,
    pub sigma_sum: u64,
    pub checked: u64,
}

impl Counts {
    /// The counts of a JSON summary (panics on a malformed one).
    pub fn of(json: &Value) -> Counts {
        let n = |k: &str| {
            json[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k} is not an integer in {json}"))
        };
        Counts {
            perfect: json["perfect"]
                .as_array()
                .unwrap_or_else(|| panic!("perfect is not an array in {json}"))
                .iter()
                .map(|v| v.as_u64().expect("a perfect number"))
                .collect(),
            abundant: n("abundant"),
            deficient: n("deficient"),
            sigma_sum: n("sigma_sum"),
            checked: n("checked"),
        }
    }
}

/// Reference results for [1, max], from clean runs cross-checked between
/// the start methods, chunk sizes and process counts (Σσ also verified by
/// the program's identity check): the ladder the calibrated long runs pick
/// from.
pub const LADDER: [(u64, u64, u64, u64); 7] = [
    // (max, abundant, deficient, sigma_sum)
    (20_000_000, 4_953_984, 15_046_012, 328_986_828_547_826),
    (50_000_000, 12_382_841, 37_617_154, 2_056_167_622_673_029),
    (100_000_000, 24_760_668, 75_239_327, 8_224_670_422_194_237),
    (200_000_000, 49_520_312, 150_479_683, 32_898_681_501_837_052),
    (
        400_000_000,
        99_044_850,
        300_955_145,
        131_594_725_745_072_598,
    ),
    (
        800_000_000,
        198_090_372,
        601_909_623,
        526_378_902_084_019_150,
    ),
    (
        1_600_000_000,
        396_175_789,
        1_203_824_206,
        2_105_515_607_321_425_038,
    ),
];

/// The expected counts for [1, max] where max is on the [`LADDER`].
pub fn ladder_counts(max: u64) -> Counts {
    let &(_, abundant, deficient, sigma_sum) = LADDER
        .iter()
        .find(|r| r.0 == max)
        .expect("max is on the ladder");
    let mut perfect = vec![6, 28, 496, 8128];
    if max >= 33_550_336 {
        perfect.push(33_550_336);
    }
    Counts {
        perfect,
        abundant,
        deficient,
        sigma_sum,
        checked: max,
    }
}

/// Numbers per second of this build of the binary on two worker processes,
/// measured once (debug builds are several times slower than release).
pub fn rate() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(|| {
        let done = run(&["--max", "20000000", "--procs", "2", "--json", "--quiet"]);
        assert_eq!(done.code, Some(0), "calibration run: {done:?}");
        let json = done.json();
        let elapsed = json["elapsed_s"].as_f64().expect("elapsed_s").max(0.01);
        20_000_000.0 / elapsed
    })
}

/// A `--max` on the [`LADDER`] that takes about `secs` (at least) on two
/// workers with this build, as far as the calibration can tell.
pub fn long_max(secs: f64) -> u64 {
    let want = rate() * secs;
    LADDER
        .iter()
        .map(|r| r.0)
        .find(|&m| m as f64 >= want)
        .unwrap_or(LADDER[LADDER.len() - 1].0)
}

/// A run of the binary, with its stdout, stderr and event file in a
/// temporary directory. Dropping it SIGKILLs and reaps a supervisor that is
/// still running (its workers die with it).
pub struct Run {
    child: Option<Child>,
    pub pid: i32,
    pub started: Instant,
    dir: tempfile::TempDir,
}

/// How a run ended, and what it wrote.
#[derive(Debug)]
pub struct Done {
    /// The exit status, `None` if a signal ended the supervisor.
    pub code: Option<i32>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// When it ended, since the start.
    pub elapsed: Duration,
    pub events: Vec<Value>,
}

impl Done {
    /// The JSON summary on stdout (one line).
    pub fn json(&self) -> Value {
        let line = self.stdout.trim_end_matches('\n');
        assert!(
            !line.is_empty() && !line.contains('\n'),
            "stdout is not one line: {self:?}"
        );
        serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

impl Run {
    /// Starts the binary with `args`. The supervisor inherits descriptors
    /// 0, 1 and 2 only, whatever this test process holds.
    pub fn start(args: &[&str]) -> Run {
        Run::launch(args, false, false)
    }

    /// Starts the binary with `args` and `--events` into this run's
    /// directory (read them with [`Run::events`]).
    pub fn start_with_events(args: &[&str]) -> Run {
        Run::launch(args, true, false)
    }

    /// Starts the binary with `args`, inheriting one more descriptor (not
    /// close-on-exec, numbered [`EXTRA_FD`] or above: /dev/null), as a
    /// program started from a shell or a build tool often does.
    pub fn start_with_extra_fd(args: &[&str]) -> Run {
        Run::launch(args, false, true)
    }

    /// Starts the binary with `args` (and `--events` if `events`), after
    /// `tweak` has set up the command further (a process group, rlimits or
    /// signal dispositions to inherit, through its own `pre_exec`).
    pub fn start_custom(args: &[&str], events: bool, tweak: impl FnOnce(&mut Command)) -> Run {
        let mut command = Command::new(BIN);
        command.args(args);
        Run::launch_command(command, events, false, tweak)
    }

    /// The run's directory (for a journal, say).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts `command`, which runs the binary with its last arguments
    /// (e.g. `salloc -n2 BIN ARGS`), with `--events` into this run's
    /// directory added at the end. The run's `pid` is the command's.
    pub fn start_command(command: Command) -> Run {
        Run::launch_command(command, true, false, |_| {})
    }

    fn launch(args: &[&str], events: bool, extra_fd: bool) -> Run {
        let mut command = Command::new(BIN);
        command.args(args);
        Run::launch_command(command, events, extra_fd, |_| {})
    }

    fn launch_command(
        mut command: Command,
        events: bool,
        extra_fd: bool,
        tweak: impl FnOnce(&mut Command),
    ) -> Run {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let stdout = File::create(dir.path().join("stdout")).expect("stdout file");
        let stderr = File::create(dir.path().join("stderr")).expect("stderr file");
        let devnull = File::open("/dev/null").expect("/dev/null");
        let devnull_fd = devnull.as_raw_fd();
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        if events {
            command.arg("--events").arg(dir.path().join("events.jsonl"));
        }
        // SAFETY: only async-signal-safe calls (fcntl, signal) between fork
        // and exec.
        unsafe {
            command.pre_exec(move || {
                // Whatever this process inherited (a harness's or a shell's
                // descriptors) is not passed on: close-on-exec for all.
                for fd in 3..4096 {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
                // Nor the stop signals' dispositions: a harness started as a
                // background job (`cargo test &` from a script) has SIGINT
                // ignored, and the supervisor keeps an ignored one ignored.
                for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGTSTP] {
                    libc::signal(sig, libc::SIG_DFL);
                }
                if extra_fd && libc::fcntl(devnull_fd, libc::F_DUPFD, EXTRA_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        tweak(&mut command);
        let child = command.spawn().expect("the supervisor binary starts");
        drop(devnull);
        Run {
            pid: child.id() as i32,
            child: Some(child),
            started: Instant::now(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The events written so far (whole lines only).
    pub fn events(&self) -> Vec<Value> {
        read_events(&self.path("events.jsonl"))
    }

    /// Whether the supervisor has not exited yet.
    pub fn running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends `sig` to the supervisor.
    pub fn signal(&self, sig: i32) {
        signal(self.pid, sig);
    }

    /// The supervisor's live children (its workers): pid and state, zombies
    /// included.
    pub fn children(&self) -> Vec<(i32, char)> {
        children_of(self.pid)
    }

    /// The supervisor's live (not zombie) children.
    pub fn workers(&self) -> Vec<i32> {
        self.children()
            .into_iter()
            .filter(|&(_, s)| s != 'Z')
            .map(|(p, _)| p)
            .collect()
    }

    /// Waits until at least `n` live workers are seen; returns them.
    pub fn wait_for_workers(&self, n: usize) -> Vec<i32> {
        let mut seen = Vec::new();
        wait_until(PATIENCE, &format!("{n} workers of {}", self.pid), || {
            seen = self.workers();
            seen.len() >= n
        });
        seen
    }

    /// Waits at most `timeout` for the supervisor to exit; panics (after
    /// killing it) if it does not.
    pub fn wait_timeout(mut self, timeout: Duration) -> Done {
        let mut child = self.child.take().expect("not waited yet");
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the supervisor did not exit within {timeout:?}; stderr: {}",
                    fs::read_to_string(self.path("stderr")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Done {
            code: status.code(),
            status,
            stdout: fs::read_to_string(self.path("stdout")).expect("stdout file"),
            stderr: fs::read_to_string(self.path("stderr")).expect("stderr file"),
            elapsed: self.started.elapsed(),
            events: self.events(),
        }
    }

    /// Waits (with [`PATIENCE`]) for the supervisor to exit.
    pub fn wait(self) -> Done {
        self.wait_timeout(PATIENCE)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the binary to its end.
pub fn run(args: &[&str]) -> Done {
    Run::start(args).wait()
}

/// Runs the binary with `--json --quiet` to its end, expecting exit 0 and a
/// complete, verified run; its summary.
pub fn run_clean(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--json", "--quiet"]);
    let done = run(&all);
    assert_eq!(done.code, Some(0), "{all:?}: {done:?}");
    let json = done.json();
    assert_eq!(json["complete"], true, "{all:?}: {json}");
    assert_eq!(json["sigma_sum_verified"], true, "{all:?}: {json}");
    json
}

/// JSON lines of an event file; a partly written last line is left out.
pub fn read_events(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event line {l:?}: {e}")))
        .collect()
}

/// The event names, in order.
pub fn event_names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Every pid a `started` event names.
pub fn started_pids(events: &[Value]) -> Vec<i32> {
    events
        .iter()
        .filter(|e| e["event"] == "started")
        .map(|e| e["pid"].as_i64().expect("a pid") as i32)
        .collect()
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    /// Clock ticks after boot: tells a process from a later one that got
    /// the same pid.
    pub starttime: u64,
}

/// The stat of `pid`, `None` if there is no such process.
pub fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces or ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        starttime: fields.get(19)?.parse().ok()?,
    })
}

/// The children of `parent` (pid, state), zombies included.
pub fn children_of(parent: i32) -> Vec<(i32, char)> {
    let mut kids = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return kids;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(s) = stat(pid)
            && s.ppid == parent
        {
            kids.push((pid, s.state));
        }
    }
    kids.sort();
    kids
}

/// A process identity that survives pid reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ident {
    pub pid: i32,
    pub starttime: u64,
}

/// The identity of a live pid.
pub fn ident(pid: i32) -> Option<Ident> {
    stat(pid).map(|s| Ident {
        pid,
        starttime: s.starttime,
    })
}

/// That very process's state, `None` if it is gone (reaped).
pub fn state_of(id: Ident) -> Option<char> {
    stat(id.pid)
        .filter(|s| s.starttime == id.starttime)
        .map(|s| s.state)
}

/// Whether a process is gone for good: reaped, or at least dead (a zombie
/// nobody reaped yet, e.g. under an init that does not reap orphans).
pub fn dead(id: Ident) -> bool {
    matches!(state_of(id), None | Some('Z') | Some('X'))
}

/// The open descriptors of `pid`, sorted.
pub fn fds(pid: i32) -> Option<Vec<i32>> {
    let dir = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let mut fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort();
    Some(fds)
}

/// The threads of `pid`.
pub fn threads(pid: i32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/task")).ok()?.count())
}

/// Sends `sig` to `pid`, ignoring a process that is already gone.
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) takes plain integers.
    unsafe { libc::kill(pid, sig) };
}

/// Polls `cond` every few milliseconds until it holds; panics naming `what`
/// after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A small xorshift generator: enough randomness for chaos, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng(nanos | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
