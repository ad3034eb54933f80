//! Worker health: when a silent worker counts as stalled, and when restarts
//! come too fast to go on (Erlang/OTP's restart intensity: more than
//! `max_restarts` within `window` stops the run instead of crash-looping).

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

    #[test]
    fn stall_deadline() {
        let t0 = Instant::now();
        let st = StallTimeout(Duration::from_secs(2));
        assert!(!st.expired(t0, t0 + Duration::from_millis(1999)));
        assert!(st.expired(t0, t0 + Duration::from_secs(2)));
    }
}
