//! `supervisor`: an explicit multi-process supervisor in the style of
//! Python's `multiprocessing`, running a perfect-number search on worker
//! processes and supervising them like an Erlang/OTP supervisor.
//!
//! Data flows one way: [`cli`] → [`cli::Config`] → the event loop in
//! [`supervisor`] (with [`schedule`], [`health`], [`checkpoint`] and
//! [`launch`], on [`mp`], on the [`hosts`] it names or the [`slurm`]
//! allocation it is in) → the [`worker`] loop running the [`sigma`] kernel
//! (and [`fault`]s, when injected) → frames ([`protocol`]) → the event loop →
//! [`report`], [`events`] and the live view ([`progress`]).
//! [`isolation`] runs the threads-versus-processes experiments; [`timeline`]
//! draws a run from its events; [`stdio`] writes what they all print.

pub mod audit;
pub mod checkpoint;
pub mod cli;
pub mod events;
pub mod fault;
pub mod health;
pub mod hosts;
pub mod inherited;
pub mod isolation;
pub mod launch;
pub mod mp;
pub mod progress;
pub mod protocol;
pub mod ranges;
pub mod report;
pub mod rng;
pub mod sanitize;
pub mod schedule;
pub mod sigma;
pub mod slot;
pub mod slurm;
pub mod stdio;
pub mod supervisor;
pub mod timeline;
pub mod verify;
pub mod worker;
