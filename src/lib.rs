//! `supervisor`: an explicit multi-process supervisor in the style of
//! Python's `multiprocessing`, running a perfect-number search on worker
//! processes and supervising them like an Erlang/OTP supervisor.

pub mod mp;
pub mod protocol;
pub mod sigma;
