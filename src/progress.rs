//! The live view: an overall bar (percent, numbers/s, ETA, perfect numbers
//! so far) and one line per worker slot (pid, state, chunk, its progress,
//! restarts, host), redrawn in place on stderr a few times a second. It is drawn
//! from the supervisor's own event loop (no ticker thread: the process must
//! stay single-threaded to fork safely); this module only renders text.

use std::fmt::Write as _;
use std::time::Duration;

/// How often the view is redrawn.
pub const REDRAW: Duration = Duration::from_millis(200);

/// What a slot is doing, as the view shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// Waiting for a chunk (or for the run to end).
    Idle,
    /// Checking a chunk.
    Working,
    /// Busy but silent for longer than a few heartbeats.
    Stalled,
    /// A new process is starting in the slot.
    Restarting,
    /// The first process is starting.
    Starting,
    /// No worker in the slot.
    Empty,
    /// The slot's host was marked down.
    HostDown,
}

impl SlotState {
    fn name(self) -> &'static str {
        match self {
            SlotState::Idle => "idle",
            SlotState::Working => "working",
            SlotState::Stalled => "stalled",
            SlotState::Restarting => "restarting",
            SlotState::Starting => "starting",
            SlotState::Empty => "-",
            SlotState::HostDown => "host down",
        }
    }
}

/// One slot's line.
#[derive(Clone, Debug)]
pub struct SlotLine {
    pub slot: usize,
    pub pid: i32,
    pub state: SlotState,
    /// The chunk in flight and how many of its numbers are done.
    pub chunk: Option<(u64, u64, u64)>,
    pub restarts: u64,
    /// The slot's host, if it is not this machine.
    pub host: Option<String>,
}

/// The whole view's content.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub total: u64,
    pub done: u64,
    /// Numbers per second over this session.
    pub rate: f64,
    pub perfect: Vec<u64>,
    pub slots: Vec<SlotLine>,
}

/// Renders the view as lines of text (no escape codes).
pub fn render(s: &Snapshot, width: usize) -> Vec<String> {
    let frac = if s.total == 0 {
        1.0
    } else {
        s.done as f64 / s.total as f64
    };
    let eta = if s.rate > 0.0 && s.done < s.total {
        let secs = (s.total - s.done) as f64 / s.rate;
        humantime::format_duration(Duration::from_secs(secs.ceil() as u64)).to_string()
    } else {
        "-".to_string()
    };
    let perfect: Vec<String> = s.perfect.iter().map(u64::to_string).collect();
    let stats = format!(
        " {:5.1}%  {:.1}M/s  ETA {eta}  perfect: {}",
        frac * 100.0,
        s.rate / 1e6,
        if perfect.is_empty() {
            "-".to_string()
        } else {
            perfect.join(", ")
        }
    );
    let bar_width = width
        .saturating_sub(stats.chars().count() + 2)
        .clamp(10, 50);
    let filled = ((frac * bar_width as f64) as usize).min(bar_width);
    let mut lines = vec![format!(
        "[{}{}]{stats}",
        "#".repeat(filled),
        "-".repeat(bar_width - filled)
    )];
    for l in &s.slots {
        let mut line = format!(
            "  worker {:>3}  pid {:>7}  {:<10}",
            l.slot,
            l.pid,
            l.state.name()
        );
        if let Some((lo, hi, done)) = l.chunk {
            let len = hi - lo + 1;
            let _ = write!(
                line,
                " [{lo}, {hi}] {:3.0}%",
                done.min(len) as f64 * 100.0 / len as f64
            );
        }
        if l.restarts > 0 {
            let _ = write!(line, "  restarts {}", l.restarts);
        }
        if let Some(host) = &l.host {
            let _ = write!(line, "  on {host}");
        }
        lines.push(line);
    }
    lines
        .into_iter()
        .map(|l| l.chars().take(width.max(20)).collect())
        .collect()
}

/// The escape codes that erase a view of `lines` lines drawn just above the
/// cursor and leave the cursor where its first line was.
pub fn erase(lines: usize) -> String {
    if lines == 0 {
        String::new()
    } else {
        format!("\x1b[{lines}F\x1b[J")
    }
}

/// The terminal's width, from `COLUMNS` or the stderr terminal, else 100.
pub fn width() -> usize {
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return cols;
    }
    // SAFETY: TIOCGWINSZ fills a winsize struct we own.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_bar_and_a_line_per_slot() {
        let s = Snapshot {
            total: 1000,
            done: 250,
            rate: 2e6,
            perfect: vec![6, 28],
            slots: vec![
                SlotLine {
                    slot: 0,
                    pid: 4121,
                    state: SlotState::Working,
                    chunk: Some((1, 100, 50)),
                    restarts: 0,
                    host: None,
                },
                SlotLine {
                    slot: 1,
                    pid: 4122,
                    state: SlotState::Restarting,
                    chunk: None,
                    restarts: 2,
                    host: Some("node1".into()),
                },
            ],
        };
        let lines = render(&s, 100);
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].contains("25.0%") && lines[0].contains("perfect: 6, 28"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("pid    4121")
                && lines[1].contains("[1, 100]  50%")
                && !lines[1].contains(" on "),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains("restarting")
                && lines[2].contains("restarts 2")
                && lines[2].ends_with("on node1"),
            "{}",
            lines[2]
        );
        assert!(lines.iter().all(|l| !l.contains('\x1b')));
        assert_eq!(erase(3), "\x1b[3F\x1b[J");
    }
}
