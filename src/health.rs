//! Worker health: when a silent worker counts as stuck, and when restarts
//! come too fast to go on (Erlang/OTP's restart intensity: more than
//! `max_restarts` within `window` stops the run instead of crash-looping).
//!
//! Wall-clock silence alone is not stuckness: on an oversubscribed machine a
//! healthy worker can wait seconds for a core. So a local worker silent past
//! the stall timeout is looked at in `/proc/<pid>/stat`:
//! - stopped (SIGSTOP), or asleep by its own choice (`S`: a lock, a read)
//!   although it owes a frame: stuck;
//! - runnable, or waiting uninterruptibly in the kernel (`D`: a page fault
//!   on a slow disk or under memory pressure, the machine's slowness and
//!   not the worker's): a [`Probe`] counts the CPU it gets from then on;
//!   once it has had more than an honest worker needs to send a heartbeat
//!   (`--heartbeat` plus [`HONEST_SLACK`]) without a word, it is spinning:
//!   stuck. Until then it is starved, and looked at again every window.
//!   (An honest worker that had that much CPU since the probe began was
//!   silent for more than a heartbeat of wall time too, so it would have
//!   crossed a segment boundary and said something.)
//! - whatever it looks like, silence past [`HARD_BOUND_STALLS`] stall
//!   timeouts is stuck, so nothing waits forever.
//!
//! A remote worker cannot be looked at: its silence is wall-clock, and so
//! is its pace: one busy on a chunk past the hard bound that, at its pace so
//! far, is still more than the hard bound from the chunk's end is stuck,
//! however often it says it progresses (it creeps, and never finishes).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a busy worker may stay silent before it is declared stuck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StallTimeout(pub Duration);

impl StallTimeout {
    /// The moment a worker last heard from at `heard` becomes stalled.
    pub fn deadline(self, heard: Instant) -> Instant {
        heard + self.0
    }

    /// Whether a worker last heard from at `heard` is stalled at `now`.
    pub fn expired(self, heard: Instant, now: Instant) -> bool {
        now >= self.deadline(heard)
    }
}

/// CPU time an honest worker may use beyond one heartbeat before it must
/// have sent a frame: the kernel checks the clock between segments, and a
/// segment takes milliseconds.
pub const HONEST_SLACK: Duration = Duration::from_millis(100);

/// Silence this many stall timeouts long is stuck, however starved the
/// worker looks.
pub const HARD_BOUND_STALLS: u32 = 30;

/// What `/proc/<pid>/stat` says of a process (or a thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// The state letter: R running or runnable, S or D asleep, T or t
    /// stopped, Z a zombie, ...
    pub state: char,
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Where in the kernel it sleeps (`wchan`), when asleep.
    pub wchan: Option<String>,
    /// Resident memory.
    pub rss_bytes: u64,
}

impl ProcStat {
    /// Reads `/proc/<pid>/stat` (or a thread's: `dir` is the directory
    /// holding `stat`); `None` if it is gone or unreadable.
    pub fn read(dir: &str) -> Option<ProcStat> {
        let text = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
        let mut stat = ProcStat::parse(&text)?;
        if matches!(stat.state, 'S' | 'D') {
            stat.wchan = std::fs::read_to_string(format!("{dir}/wchan"))
                .ok()
                .filter(|w| !w.is_empty() && w != "0");
        }
        Some(stat)
    }

    /// Parses the stat line. The command name (field 2) may hold spaces and
    /// parentheses, so fields are counted from its last ')'.
    pub fn parse(text: &str) -> Option<ProcStat> {
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After the name: state is field 3, utime 14 and stime 15.
        let state = fields.first()?.chars().next()?;
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        // rss is field 24, in pages.
        let rss_pages: u64 = fields.get(21).and_then(|f| f.parse().ok()).unwrap_or(0);
        Some(ProcStat {
            state,
            cpu: ticks(utime.saturating_add(stime)),
            wchan: None,
            rss_bytes: rss_pages.saturating_mul(page_size()),
        })
    }
}

/// The memory page size.
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

/// Clock ticks as a duration.
fn ticks(n: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Duration::from_nanos(n.saturating_mul(1_000_000_000 / hz))
}

/// A window over which a silent, runnable worker's CPU use is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub since: Instant,
    pub cpu: Duration,
}

/// What is to be made of a worker silent past the stall timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It is stuck: kill it, and why.
    Stuck(String),
    /// It is starved of CPU, or being measured: look again at `next` with
    /// this probe.
    Watch { probe: Probe, next: Instant },
}

/// The stall judgement's settings.
#[derive(Clone, Copy, Debug)]
pub struct StallRule {
    pub timeout: StallTimeout,
    pub heartbeat: Duration,
}

impl StallRule {
    /// How long a probe window lasts: long enough that a spinning worker
    /// with half a core uses more than an honest worker's allowance in it.
    pub fn window(&self) -> Duration {
        (self.heartbeat + HONEST_SLACK).saturating_mul(2)
    }

    /// Whether a worker busy for `busy` on a chunk of `len` numbers, `done`
    /// of them done, creeps: past the hard bound, and at its pace so far
    /// still more than the hard bound from the end. An honest worker that
    /// slow would need over twice the bound for one chunk.
    pub fn creeping(&self, busy: Duration, done: u64, len: u64) -> Option<String> {
        let bound = self.timeout.0.saturating_mul(HARD_BOUND_STALLS);
        if busy < bound {
            return None;
        }
        let busy_s = busy.as_secs_f64();
        let more_s = busy_s * len.saturating_sub(done) as f64 / done.max(1) as f64;
        (more_s > bound.as_secs_f64()).then(|| {
            format!(
                "too slow to finish: {done} of {len} numbers in {busy_s:.1}s, {more_s:.0}s \
                 more at that pace, past the bound of {HARD_BOUND_STALLS} stall timeouts"
            )
        })
    }

    /// Judges a worker silent for `silent` (past the stall timeout) whose
    /// process looks like `stat` now (`None`: it cannot be looked at, as a
    /// remote worker), given the probe started earlier, if any.
    pub fn judge(
        &self,
        silent: Duration,
        stat: Option<ProcStat>,
        probe: Option<Probe>,
        now: Instant,
    ) -> Verdict {
        let bound = self.timeout.0.saturating_mul(HARD_BOUND_STALLS);
        let Some(stat) = stat.as_ref() else {
            return Verdict::Stuck(format!("silent {:.1}s", silent.as_secs_f64()));
        };
        if silent >= bound {
            return Verdict::Stuck(format!(
                "silent {:.1}s, past the bound of {HARD_BOUND_STALLS} stall timeouts \
                 however starved it is (state {}{})",
                silent.as_secs_f64(),
                stat.state,
                stat.wchan
                    .as_ref()
                    .map(|w| format!(" in {w}"))
                    .unwrap_or_default()
            ));
        }
        match stat.state {
            'T' | 't' => {
                return Verdict::Stuck(format!("stopped, silent {:.1}s", silent.as_secs_f64()));
            }
            'S' | 'I' => {
                return Verdict::Stuck(format!(
                    "asleep although it owes a frame, silent {:.1}s{}",
                    silent.as_secs_f64(),
                    stat.wchan
                        .as_ref()
                        .map(|w| format!(" (in {w})"))
                        .unwrap_or_default()
                ));
            }
            'Z' | 'X' => return Verdict::Stuck("dead, not yet reaped".to_string()),
            _ => {}
        }
        let Some(probe) = probe else {
            return Verdict::Watch {
                probe: Probe {
                    since: now,
                    cpu: stat.cpu,
                },
                next: now + self.window(),
            };
        };
        if now < probe.since + self.window() {
            return Verdict::Watch {
                probe,
                next: probe.since + self.window(),
            };
        }
        let used = stat.cpu.saturating_sub(probe.cpu);
        if used >= self.heartbeat + HONEST_SLACK {
            return Verdict::Stuck(format!(
                "spinning: {:.2}s of CPU in {:.2}s without a word, silent {:.1}s",
                used.as_secs_f64(),
                (now - probe.since).as_secs_f64(),
                silent.as_secs_f64()
            ));
        }
        // Starved so far: runnable, but little CPU came its way. The probe
        // keeps counting from its start, so a spinning worker on a busy
        // machine is found once it has had its allowance, however slowly.
        Verdict::Watch {
            probe,
            next: now + self.window(),
        }
    }
}

/// The restart intensity limit and the recent restarts it watches.
#[derive(Debug)]
pub struct RestartPolicy {
    max_restarts: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartPolicy {
    /// At most `max_restarts` restarts within any `window`.
    pub fn new(max_restarts: u32, window: Duration) -> RestartPolicy {
        RestartPolicy {
            max_restarts,
            window,
            recent: VecDeque::new(),
        }
    }

    /// The limit in words: "at most 20 restarts within 10s".
    pub fn describe(&self) -> String {
        format!(
            "at most {} restarts within {}",
            self.max_restarts,
            humantime::format_duration(self.window)
        )
    }

    /// Records a restart at `now`; `false` when it is one too many.
    pub fn allow(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|&t| now.duration_since(t) > self.window)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent.len() <= self.max_restarts as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intensity_counts_restarts_inside_the_window_only() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut p = RestartPolicy::new(2, 10 * s);
        assert!(p.allow(t0));
        assert!(p.allow(t0 + s));
        assert!(!p.allow(t0 + 2 * s), "third within 10 s");
        let mut p = RestartPolicy::new(2, 10 * s);
        assert!(p.allow(t0));
        assert!(p.allow(t0 + s));
        assert!(p.allow(t0 + 11 * s), "the first has left the window");
    }

    fn stat(state: char, cpu_ms: u64) -> Option<ProcStat> {
        Some(ProcStat {
            state,
            cpu: Duration::from_millis(cpu_ms),
            wchan: None,
            rss_bytes: 0,
        })
    }

    #[test]
    fn parses_proc_stat_with_a_hostile_name() {
        let line = "1234 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 5 6 7";
        let s = ProcStat::parse(line).unwrap();
        assert_eq!(s.state, 'R');
        assert_eq!(s.cpu, ticks(300));
        assert_eq!(ProcStat::parse("garbage"), None);
        let me = ProcStat::read("/proc/thread-self").unwrap();
        assert_eq!(me.state, 'R');
    }

    #[test]
    fn a_worker_that_creeps_is_stuck_past_the_bound() {
        let rule = StallRule {
            timeout: StallTimeout(Duration::from_secs(2)),
            heartbeat: Duration::from_millis(100),
        };
        let secs = Duration::from_secs;
        // Within the bound (60 s), however slow.
        assert_eq!(rule.creeping(secs(59), 1, 1 << 22), None);
        // Past it: near its end, or far from it.
        assert_eq!(rule.creeping(secs(61), 3 << 20, 1 << 22), None);
        assert_eq!(rule.creeping(secs(100), 3 << 20, 1 << 22), None);
        let why = rule.creeping(secs(61), 1000, 1 << 22).expect("creeps");
        assert!(why.contains("1000 of 4194304 numbers in 61.0s"), "{why}");
        assert!(rule.creeping(secs(61), 0, 1 << 22).is_some());
        assert!(rule.creeping(secs(130), 1 << 21, 1 << 22).is_some());
    }

    #[test]
    fn stuck_starved_and_spinning_are_told_apart() {
        let rule = StallRule {
            timeout: StallTimeout(Duration::from_secs(2)),
            heartbeat: Duration::from_millis(100),
        };
        let t0 = Instant::now();
        let silent = Duration::from_secs(2);
        let stuck = |v: &Verdict| matches!(v, Verdict::Stuck(_));
        assert!(stuck(&rule.judge(silent, None, None, t0)), "remote");
        assert!(stuck(&rule.judge(silent, stat('T', 0), None, t0)));
        assert!(stuck(&rule.judge(silent, stat('S', 0), None, t0)));
        // Waiting in the kernel (a page fault on a slow disk): measured like
        // a runnable worker, and stuck once past the hard bound.
        assert!(!stuck(&rule.judge(silent, stat('D', 0), None, t0)));
        let bound = rule.timeout.0 * HARD_BOUND_STALLS;
        let Verdict::Stuck(why) = rule.judge(bound, stat('D', 0), None, t0) else {
            panic!("the hard bound holds in the kernel too");
        };
        assert!(why.contains("state D"), "{why}");
        // Runnable: measured over a window first.
        let Verdict::Watch { probe, next } = rule.judge(silent, stat('R', 1000), None, t0) else {
            panic!("a runnable worker is measured first");
        };
        assert_eq!(next, t0 + rule.window());
        // Early looks keep the probe.
        assert_eq!(
            rule.judge(silent, stat('R', 1100), Some(probe), t0 + rule.window() / 2),
            Verdict::Watch { probe, next }
        );
        // Little CPU over the window: starved, watched again.
        let later = t0 + rule.window();
        assert!(!stuck(&rule.judge(
            silent,
            stat('R', 1010),
            Some(probe),
            later
        )));
        // A heartbeat's worth and more without a word: spinning.
        assert!(stuck(&rule.judge(
            silent,
            stat('R', 1300),
            Some(probe),
            later
        )));
        // Past the hard bound, even starved is stuck.
        assert!(stuck(&rule.judge(silent * 30, stat('R', 1000), None, t0)));
    }

    #[test]
    fn stall_deadline() {
        let t0 = Instant::now();
        let st = StallTimeout(Duration::from_secs(2));
        assert!(!st.expired(t0, t0 + Duration::from_millis(1999)));
        assert!(st.expired(t0, t0 + Duration::from_secs(2)));
    }
}
