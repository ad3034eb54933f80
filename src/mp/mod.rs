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
