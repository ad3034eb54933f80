//! Python's `Lock` example, ported: several worker processes print under one
//! `Lock`, so each worker's lines come out together, never interleaved.
//!
//! `cargo run --example lock`

use std::io::Write;
use supervisor::mp::{Lock, Process};

fn main() -> std::io::Result<()> {
    let lock = Lock::new()?;
    let mut workers = Vec::new();
    for i in 0..6 {
        let lock = &lock;
        workers.push(Process::fork(move || {
            let _held = lock.acquire();
            let mut out = std::io::stdout().lock();
            for line in 0..3 {
                // Flush each line, so any interleaving would show.
                writeln!(out, "hello world {i} (line {line})").unwrap();
                out.flush().unwrap();
                std::thread::yield_now();
            }
            0
        })?);
    }
    for w in &mut workers {
        assert_eq!(w.join()?, 0);
    }
    Ok(())
}
