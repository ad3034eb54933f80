//! The wire protocol between the supervisor and its workers: the messages
//! each side may send, and (in [`frame`]) how one message travels as a
//! length-prefixed bincode frame over a pipe.
//!
//! A conversation: the worker says `Hello` first, before anything that
//! could differ between versions (a worker takes no arguments that could
//! make it fail first), so a worker of any version can be refused by name.
//! Once its Hello is accepted, the supervisor sends one `Setup` with the
//! run's settings; then, for every `Assign`, the worker sends `Progress`
//! heartbeats while it works and one `Done` with the chunk's result.
//! `Ping`s keep a worker's watchdog quiet (remote workers have one: they end
//! when no frame arrives for a while). `Shutdown`, or the end of its input,
//! ends it, even in the middle of a chunk.

pub mod frame;

use crate::fault::Fault;
use crate::sigma::ChunkResult;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Bumped whenever a message changes shape. A worker that says another
/// version in its `Hello` is refused.
pub const PROTOCOL_VERSION: u32 = 3;

/// The program's version, carried in `Hello` so a mismatched worker program
/// can be named in the error.
pub const PROGRAM_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A worker's settings for the run, sent once, after its Hello.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// The run's upper bound, so the kernel's prime table is built once.
    pub max: u64,
    /// The longest a busy worker stays silent, in milliseconds.
    pub heartbeat_ms: u64,
    /// End the worker when no frame has come from the supervisor for this
    /// many milliseconds (remote workers: a cut network shows no end of
    /// file). The supervisor pings more often.
    pub watchdog_ms: Option<u64>,
    /// An address-space limit in bytes (a worker process only).
    pub mem_limit: Option<u64>,
    /// A fault to inflict on itself once, partway through its first chunk.
    pub fault: Option<Fault>,
    /// Abort on reaching this number (a poison chunk).
    pub crash_at: Option<u64>,
}

impl Setup {
    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// The watchdog period, if it has one.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog_ms.map(|ms| Duration::from_millis(ms.max(1)))
    }
}

/// Supervisor to worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToWorker {
    /// The run's settings: the first command, and only once.
    Setup(Setup),
    /// Check every n in `[lo, hi]` (inclusive) and answer with `Done`.
    Assign { chunk: u64, lo: u64, hi: u64 },
    /// Exit now, successfully.
    Shutdown,
    /// Nothing to do; the supervisor is still there (for the watchdog).
    Ping,
}

/// Worker to supervisor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromWorker {
    /// The first frame of every worker. Its shape never changes (it is the
    /// first variant, with the same three fields in every protocol version),
    /// so a worker of any version can be decoded far enough to be refused
    /// by name.
    Hello {
        protocol: u32,
        version: String,
        pid: u32,
    },
    /// A heartbeat while working: `done` numbers of the chunk are finished.
    Progress { chunk: u64, done: u64 },
    /// The chunk is finished.
    Done { chunk: u64, result: ChunkResult },
}

/// Checks a worker's `Hello` against this program: the same protocol and
/// the same program version (a worker built from other source might count
/// differently). The error says both versions.
pub fn check_hello(protocol: u32, version: &str) -> Result<(), String> {
    if protocol == PROTOCOL_VERSION && version == PROGRAM_VERSION {
        Ok(())
    } else {
        // The version comes from the worker: it may carry escape codes.
        let version = crate::sanitize::text(version);
        Err(format!(
            "the worker is version {version} (protocol {protocol}), \
             this supervisor is version {PROGRAM_VERSION} (protocol {PROTOCOL_VERSION}); \
             install the worker from the same source"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let msgs = vec![
            FromWorker::Hello {
                protocol: PROTOCOL_VERSION,
                version: PROGRAM_VERSION.into(),
                pid: 4121,
            },
            FromWorker::Progress {
                chunk: 3,
                done: 32768,
            },
            FromWorker::Done {
                chunk: 3,
                result: ChunkResult {
                    perfect: vec![6, 28],
                    abundant: 5,
                    deficient: 93,
                    sigma_sum: u128::MAX,
                },
            },
        ];
        for m in msgs {
            let bytes = frame::encode(&m).unwrap();
            let back: FromWorker = frame::decode_payload(&bytes[frame::HEADER..]).unwrap();
            assert_eq!(back, m);
        }
        let a = ToWorker::Assign {
            chunk: 1,
            lo: 1,
            hi: 10,
        };
        let bytes = frame::encode(&a).unwrap();
        assert_eq!(frame::decode_payload::<ToWorker>(&bytes[4..]).unwrap(), a);
        let setup = ToWorker::Setup(Setup {
            max: 10,
            heartbeat_ms: 100,
            watchdog_ms: Some(2000),
            mem_limit: Some(1 << 30),
            fault: Some(Fault::Hang),
            crash_at: None,
        });
        let bytes = frame::encode(&setup).unwrap();
        assert_eq!(
            frame::decode_payload::<ToWorker>(&bytes[4..]).unwrap(),
            setup
        );
    }

    #[test]
    fn version_mismatch_names_both_versions() {
        assert!(check_hello(PROTOCOL_VERSION, PROGRAM_VERSION).is_ok());
        let err = check_hello(PROTOCOL_VERSION + 1, "9.9.9").unwrap_err();
        assert!(
            err.contains(&format!(
                "version 9.9.9 (protocol {})",
                PROTOCOL_VERSION + 1
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "version {PROGRAM_VERSION} (protocol {PROTOCOL_VERSION})"
            )),
            "{err}"
        );
        let err = check_hello(PROTOCOL_VERSION, "0.0.0-other").unwrap_err();
        assert!(err.contains("0.0.0-other"), "{err}");
        let long = format!("1.0\x1b[2J\x1b]0;pwned\x07{}", "x".repeat(1 << 20));
        let err = check_hello(PROTOCOL_VERSION, &long).unwrap_err();
        assert!(
            !err.chars().any(|c| c.is_control()),
            "no escape codes: {err}"
        );
        assert!(err.len() < 4096, "bounded");
    }
}
