//! Python's first `multiprocessing` example, ported: start a few processes
//! running a function, join them and print their exit codes — one of them
//! killed, so its exit code is minus the signal number (-9).
//!
//! `cargo run --example process`

use std::time::Duration;
use supervisor::mp::{Process, describe_exitcode};

/// What each child runs: greet, then exit with `code`.
fn f(name: &str, code: i32) -> i32 {
    println!("hello {name}, from process {}", std::process::id());
    code
}

fn main() -> std::io::Result<()> {
    println!("parent process {}", std::process::id());
    let mut children = vec![
        ("bob", Process::fork(|| f("bob", 0))?),
        ("alice", Process::fork(|| f("alice", 3))?),
        (
            "sleeper",
            Process::fork(|| {
                std::thread::sleep(Duration::from_secs(3600));
                0
            })?,
        ),
    ];

    // Python's p.kill(): the sleeper would never end on its own.
    children[2].1.kill()?;

    for (name, p) in &mut children {
        let code = p.join()?;
        println!(
            "{name}: pid {}, exitcode {code} ({})",
            p.pid(),
            describe_exitcode(code)
        );
    }
    let codes: Vec<_> = children.iter().map(|(_, p)| p.exitcode()).collect();
    assert_eq!(codes, [Some(0), Some(3), Some(-9)]);
    Ok(())
}
