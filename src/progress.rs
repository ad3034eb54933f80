//! The live view: an overall bar (percent, numbers/s, ETA, perfect numbers
//! so far) and one line per worker slot (pid, state, chunks and numbers done
//! and its rate, the current chunk and, when chunks are long enough, its
//! progress; restarts, host), redrawn in place on stderr a few times a second. It is drawn
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

/// What a slot has done so far, for its line: something that moves even
/// when every chunk takes less than a redraw.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlotTally {
    /// Chunks finished in the slot, by all its processes.
    pub chunks: u64,
    /// Numbers those chunks held.
    pub numbers: u64,
    /// The slot's numbers per second while it worked (0 when not known).
    pub rate: f64,
}

/// A chunk's own progress is shown only when a chunk lasts at least this
/// long at its slot's rate: a shorter one is over before the next redraw,
/// and its percentage would only ever show its first report.
pub const CHUNK_PROGRESS_MIN: Duration = Duration::from_secs(2);

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

/// Renders the view as lines of text (no escape codes), without per-slot
/// tallies.
pub fn render(s: &Snapshot, width: usize) -> Vec<String> {
    render_tallied(s, &[], width)
}

/// Renders the view with what each slot has done (`tallies[slot]`, where
/// known): its chunks, its numbers and its rate; the current chunk's
/// progress only when its chunks are long enough to show it (see
/// [`CHUNK_PROGRESS_MIN`]; always when no rate is known).
pub fn render_tallied(s: &Snapshot, tallies: &[SlotTally], width: usize) -> Vec<String> {
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
        let tally = tallies.get(l.slot).copied();
        if let Some(t) = tally {
            let _ = write!(
                line,
                " {:>5} chunks {:>8} {:>7}",
                t.chunks,
                short(t.numbers as f64),
                if t.rate > 0.0 {
                    format!("{}/s", short(t.rate))
                } else {
                    "-".to_string()
                }
            );
        }
        if let Some((lo, hi, done)) = l.chunk {
            let len = hi - lo + 1;
            let _ = write!(line, "  [{lo}, {hi}]");
            let long_enough = match tally {
                Some(t) if t.rate > 0.0 => len as f64 / t.rate >= CHUNK_PROGRESS_MIN.as_secs_f64(),
                _ => true,
            };
            if long_enough {
                let _ = write!(line, " {:3.0}%", done.min(len) as f64 * 100.0 / len as f64);
            }
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

/// A count in a few characters: `950`, `12.3k`, `4.5M`, `1.2G`, `3.0T`.
fn short(n: f64) -> String {
    match n {
        n if n < 1e3 => format!("{n:.0}"),
        n if n < 1e6 => format!("{:.1}k", n / 1e3),
        n if n < 1e9 => format!("{:.1}M", n / 1e6),
        n if n < 1e12 => format!("{:.1}G", n / 1e9),
        n => format!("{:.1}T", n / 1e12),
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

        // With tallies: chunks, numbers and rate move; a chunk far shorter
        // than CHUNK_PROGRESS_MIN at that rate shows no percentage.
        let fast = SlotTally {
            chunks: 12,
            numbers: 4_500_000,
            rate: 1.5e8,
        };
        let lines = render_tallied(&s, &[fast, SlotTally::default()], 100);
        assert!(
            lines[1].contains("12 chunks")
                && lines[1].contains("4.5M")
                && lines[1].contains("150.0M/s"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains("[1, 100]") && !lines[1].contains('%'),
            "{}",
            lines[1]
        );
        let slow = SlotTally { rate: 10.0, ..fast };
        let lines = render_tallied(&s, &[slow], 100);
        assert!(lines[1].contains("[1, 100]  50%"), "{}", lines[1]);
    }
}
