//! A small multiprocessing layer with Python's names: [`Process`] (fork or
//! spawn a child), [`Queue`] (typed messages over a pipe) and
//! [`Lock`] (mutual exclusion between processes). It knows
//! nothing about perfect numbers; the supervisor is built on it.

pub mod lock;
pub mod process;
pub mod queue;

pub use lock::{Lock, LockGuard};
pub use process::{Pipes, Process, describe_exitcode, pipe};
pub use queue::Queue;

use nix::poll::PollTimeout;
use std::time::Duration;

/// `poll(2)`'s timeout for waiting up to `wait` (`None`: no limit), rounded
/// up to whole milliseconds so poll never wakes before the moment waited
/// for, and capped at poll's largest.
pub fn poll_timeout(wait: Option<Duration>) -> PollTimeout {
    match wait {
        None => PollTimeout::NONE,
        Some(d) => {
            let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}
