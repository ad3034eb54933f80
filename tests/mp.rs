//! Integration tests of `mp::Queue` and `mp::Lock` with real processes and
//! real signals. This is a `harness = false` test binary: `fork()` is only
//! safe in a process with one thread, and `Process::fork` refuses to fork
//! in any other, so the tests run one after the other on the main thread
//! (a child forked by one test would otherwise also inherit another test's
//! pipe ends and hide their end of file). Waits have generous bounds;
//! nothing depends on timing luck.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};
use supervisor::mp::queue::{PIPE_BUF, QueueError};
use supervisor::mp::{Lock, Process, Queue, pipe};
use supervisor::protocol::frame::{self, FrameError};

/// Long enough that only a bug reaches it.
const PATIENCE: Duration = Duration::from_secs(60);

/// A child that never ends on its own.
fn sleep_forever() -> i32 {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Job {
    Square(u64),
    Text(String),
    Blob(Vec<u8>),
}

fn queue_round_trip_between_processes() {
    let mut to_child: Queue<Job> = Queue::new().unwrap();
    let mut from_child: Queue<Job> = Queue::new().unwrap();
    let mut child = Process::fork(|| {
        to_child.close_put();
        from_child.close_get();
        // Echo every job back, squares squared, until the parent is done.
        loop {
            let reply = match to_child.get() {
                Ok(Job::Square(n)) => Job::Square(n * n),
                Ok(other) => other,
                Err(QueueError::Disconnected) => return 0,
                Err(_) => return 2,
            };
            if from_child.put(&reply).is_err() {
                return 3;
            }
        }
    })
    .unwrap();
    to_child.close_get();
    from_child.close_put();

    let blob: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let jobs = [
        Job::Square(12),
        Job::Text("σ(n) = 2n".into()),
        Job::Blob(blob.clone()), // far over PIPE_BUF, one writer: fine
        Job::Square(u32::MAX as u64),
    ];
    for job in &jobs {
        to_child.put(job).unwrap();
    }
    assert_eq!(from_child.get().unwrap(), Job::Square(144));
    assert_eq!(from_child.get().unwrap(), Job::Text("σ(n) = 2n".into()));
    assert_eq!(from_child.get().unwrap(), Job::Blob(blob));
    assert_eq!(
        from_child.get().unwrap(),
        Job::Square((u32::MAX as u64).pow(2))
    );
    to_child.close_put(); // the child sees the end and exits 0
    assert_eq!(child.join().unwrap(), 0);
    assert!(matches!(from_child.get(), Err(QueueError::Disconnected)));
}

fn get_fails_after_the_writer_exits() {
    let mut q: Queue<u64> = Queue::new().unwrap();
    let mut producer = Process::fork(|| {
        q.close_get();
        for i in 0..3 {
            q.put(&i).unwrap();
        }
        0
    })
    .unwrap();
    q.close_put();
    for i in 0..3 {
        assert_eq!(q.get().unwrap(), i);
    }
    assert!(matches!(
        q.get_timeout(PATIENCE),
        Err(QueueError::Disconnected)
    ));
    assert!(matches!(q.get(), Err(QueueError::Disconnected)));
    assert_eq!(producer.join().unwrap(), 0);
}

fn get_fails_after_the_writer_is_killed() {
    let mut q: Queue<u64> = Queue::new().unwrap();
    let mut producer = Process::fork(|| {
        q.close_get();
        q.put(&1).unwrap();
        sleep_forever()
    })
    .unwrap();
    q.close_put();
    assert_eq!(q.get().unwrap(), 1);
    // Alive and silent: nothing comes, and no end either.
    assert_eq!(q.get_timeout(Duration::from_millis(50)).unwrap(), None);
    producer.kill().unwrap();
    assert_eq!(producer.join().unwrap(), -9);
    assert!(matches!(
        q.get_timeout(PATIENCE),
        Err(QueueError::Disconnected)
    ));
    assert!(matches!(q.get(), Err(QueueError::Disconnected)));
}

fn a_writer_killed_inside_a_frame_is_an_error_not_a_hang() {
    let (read_end, write_end) = pipe().unwrap();
    let mut q: Queue<Job> = Queue::from_fds(Some(read_end), None);
    let mut ready: Queue<()> = Queue::new().unwrap();
    let wire = frame::encode(&Job::Text("cut short".into())).unwrap();
    let mut producer = Process::fork(|| {
        let mut raw = fs::File::from(write_end);
        raw.write_all(&wire[..wire.len() / 2]).unwrap();
        ready.put(&()).unwrap();
        sleep_forever()
    })
    .unwrap();
    ready.close_put();
    ready.get().unwrap();
    assert_eq!(q.get_timeout(Duration::from_millis(20)).unwrap(), None);
    producer.kill().unwrap();
    assert_eq!(producer.join().unwrap(), -9);
    assert!(matches!(
        q.get_timeout(PATIENCE),
        Err(QueueError::Frame(FrameError::Truncated { .. }))
    ));
    assert!(matches!(q.get(), Err(QueueError::Disconnected)));
}

fn put_fails_once_every_reader_is_gone() {
    // This process ignores SIGPIPE (Rust programs do): an error.
    let mut q: Queue<u64> = Queue::new().unwrap();
    q.close_get();
    assert!(matches!(q.put(&1), Err(QueueError::Disconnected)));
    // A forked child has the default disposition: SIGPIPE kills it.
    let mut producer = Process::fork(|| {
        let _ = q.put(&2);
        0
    })
    .unwrap();
    assert_eq!(producer.join().unwrap(), -13);
}

fn get_timeout_returns_none_in_time() {
    // A live writer that never writes: the pipe neither has data nor ends.
    let mut q: Queue<u64> = Queue::new().unwrap();
    let mut idle = Process::fork(sleep_forever).unwrap();
    q.close_put();
    for timeout in [
        Duration::ZERO,
        Duration::from_millis(1),
        Duration::from_millis(200),
    ] {
        let start = Instant::now();
        assert_eq!(q.get_timeout(timeout).unwrap(), None);
        let took = start.elapsed();
        assert!(took >= timeout, "returned early: {took:?} < {timeout:?}");
        assert!(took < timeout + PATIENCE, "returned late: {took:?}");
    }
    idle.kill().unwrap();
    assert_eq!(idle.join().unwrap(), -9);
    assert!(matches!(
        q.get_timeout(PATIENCE),
        Err(QueueError::Disconnected)
    ));
}

fn a_partial_frame_survives_a_timeout() {
    let (read_end, write_end) = pipe().unwrap();
    let mut q: Queue<Job> = Queue::from_fds(Some(read_end), None);
    let mut go: Queue<()> = Queue::new().unwrap();
    let mut wrote_half: Queue<()> = Queue::new().unwrap();
    let job = Job::Text("in two pieces".into());
    let wire = frame::encode(&job).unwrap();
    let mut producer = Process::fork(|| {
        go.close_put();
        let mut raw = fs::File::from(write_end);
        let (a, b) = wire.split_at(3); // inside the header
        raw.write_all(a).unwrap();
        wrote_half.put(&()).unwrap();
        go.get().unwrap();
        raw.write_all(b).unwrap();
        0
    })
    .unwrap();
    go.close_get();
    wrote_half.close_put();
    wrote_half.get().unwrap();
    assert_eq!(q.get_timeout(Duration::from_millis(20)).unwrap(), None);
    go.put(&()).unwrap();
    assert_eq!(q.get_timeout(PATIENCE).unwrap(), Some(job));
    assert_eq!(producer.join().unwrap(), 0);
    assert!(matches!(q.get(), Err(QueueError::Disconnected)));
}

/// Writes `bytes` into a fresh queue's pipe from a child, and gets.
fn get_after_raw_bytes(bytes: &[u8]) -> Result<Job, QueueError> {
    let (read_end, write_end): (OwnedFd, OwnedFd) = pipe().unwrap();
    let mut q: Queue<Job> = Queue::from_fds(Some(read_end), None);
    let mut writer = Process::fork(|| {
        let mut raw = fs::File::from(write_end);
        raw.write_all(bytes).unwrap();
        0
    })
    .unwrap();
    let got = q.get();
    assert_eq!(writer.join().unwrap(), 0);
    got
}

fn malformed_frames_are_errors_not_panics() {
    // A well-formed header around a payload that is no Job.
    let got = get_after_raw_bytes(&[3, 0, 0, 0, 0xee, 0xee, 0xee]);
    assert!(
        matches!(got, Err(QueueError::Frame(FrameError::Malformed(_)))),
        "{got:?}"
    );
    // A header claiming more than MAX_FRAME.
    let got = get_after_raw_bytes(&u32::MAX.to_le_bytes());
    assert!(
        matches!(got, Err(QueueError::Frame(FrameError::TooLarge { .. }))),
        "{got:?}"
    );
    // A valid frame of another type.
    let got = get_after_raw_bytes(&frame::encode(&"just a string").unwrap());
    assert!(matches!(got, Err(QueueError::Frame(_))), "{got:?}");
    // The messages say what went wrong.
    let e = get_after_raw_bytes(&[1, 0, 0, 0, 0xee]).unwrap_err();
    assert!(e.to_string().starts_with("bad queue frame"), "{e}");
}

fn small_puts_from_many_producers_do_not_interleave() {
    const PRODUCERS: u64 = 4;
    const EACH: u64 = 500;
    // Each frame just under PIPE_BUF, so a torn write would be visible.
    let payload = "x".repeat(PIPE_BUF - 64);
    let mut q: Queue<(u64, u64, String)> = Queue::new().unwrap();
    let mut producers: Vec<Process> = (0..PRODUCERS)
        .map(|p| {
            Process::fork(|| {
                q.close_get();
                for i in 0..EACH {
                    q.put(&(p, i, payload.clone())).unwrap();
                }
                0
            })
            .unwrap()
        })
        .collect();
    q.close_put();
    let mut next = [0u64; PRODUCERS as usize];
    loop {
        match q.get() {
            Ok((p, i, text)) => {
                assert_eq!(i, next[p as usize], "producer {p} out of order");
                assert_eq!(text, payload);
                next[p as usize] += 1;
            }
            Err(QueueError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(next, [EACH; PRODUCERS as usize]);
    for p in &mut producers {
        assert_eq!(p.join().unwrap(), 0);
    }
}

fn large_puts_from_many_producers_under_a_lock() {
    const PRODUCERS: u8 = 4;
    const EACH: usize = 20;
    let lock = Lock::new().unwrap();
    let mut q: Queue<(u8, Vec<u8>)> = Queue::new().unwrap();
    let mut producers: Vec<Process> = (0..PRODUCERS)
        .map(|p| {
            Process::fork(|| {
                q.close_get();
                let blob = vec![p; 5 * PIPE_BUF];
                for _ in 0..EACH {
                    let _held = lock.acquire();
                    q.put(&(p, blob.clone())).unwrap();
                }
                0
            })
            .unwrap()
        })
        .collect();
    q.close_put();
    let mut counts = [0usize; PRODUCERS as usize];
    while let Ok((p, blob)) = q.get() {
        assert!(blob.len() == 5 * PIPE_BUF && blob.iter().all(|&b| b == p));
        counts[p as usize] += 1;
    }
    assert_eq!(counts, [EACH; PRODUCERS as usize]);
    for p in &mut producers {
        assert_eq!(p.join().unwrap(), 0);
    }
}

fn parent_and_child_do_not_share_a_lock() {
    let lock = Lock::new().unwrap();
    // Parent holds it: the child (which inherited every descriptor) cannot.
    let held = lock.acquire();
    let mut child = Process::fork(|| match lock.try_acquire() {
        Some(_) => 1,
        None => 0,
    })
    .unwrap();
    assert_eq!(child.join().unwrap(), 0);
    drop(held);

    // Child holds it: the parent cannot, until the child lets go.
    let mut holding: Queue<()> = Queue::new().unwrap();
    let mut release: Queue<()> = Queue::new().unwrap();
    let mut child = Process::fork(|| {
        holding.close_get();
        release.close_put();
        let _held = lock.acquire();
        holding.put(&()).unwrap();
        release.get().unwrap();
        0
    })
    .unwrap();
    holding.close_put();
    release.close_get();
    holding.get().unwrap();
    assert!(lock.try_acquire().is_none());
    assert!(lock.acquire_timeout(Duration::from_millis(20)).is_none());
    release.put(&()).unwrap();
    assert!(lock.acquire_timeout(PATIENCE).is_some());
    assert_eq!(child.join().unwrap(), 0);
}

fn a_lock_held_by_a_killed_child_is_released() {
    let lock = Lock::new().unwrap();
    let mut holding: Queue<()> = Queue::new().unwrap();
    let mut holder = Process::fork(|| {
        holding.close_get();
        let _held = lock.acquire();
        holding.put(&()).unwrap();
        sleep_forever()
    })
    .unwrap();
    holding.close_put();
    holding.get().unwrap();
    assert!(lock.try_acquire().is_none());

    // The next acquirer, another process, blocks until the holder dies.
    let mut next = Process::fork(|| {
        let _held = lock.acquire();
        0
    })
    .unwrap();
    assert_eq!(next.join_timeout(Duration::from_millis(50)).unwrap(), None);
    holder.kill().unwrap();
    assert_eq!(holder.join().unwrap(), -9);
    assert_eq!(next.join_timeout(PATIENCE).unwrap(), Some(0));
    assert!(lock.acquire_timeout(PATIENCE).is_some());
}

fn mutual_exclusion_between_processes() {
    const WORKERS: usize = 4;
    const ROUNDS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("counter");
    fs::write(&counter, "0").unwrap();
    let lock = Lock::new().unwrap();
    let mut workers: Vec<Process> = (0..WORKERS)
        .map(|_| {
            Process::fork(|| {
                for _ in 0..ROUNDS {
                    let _held = lock.acquire();
                    // Read, give others every chance to interleave, write.
                    let n: usize = fs::read_to_string(&counter).unwrap().parse().unwrap();
                    std::thread::yield_now();
                    fs::write(&counter, (n + 1).to_string()).unwrap();
                }
                0
            })
            .unwrap()
        })
        .collect();
    for w in &mut workers {
        assert_eq!(w.join().unwrap(), 0);
    }
    let total: usize = fs::read_to_string(&counter).unwrap().parse().unwrap();
    assert_eq!(total, WORKERS * ROUNDS);
}

/// Runs every test in turn on this (the only) thread; a failing test
/// panics, which fails the binary.
fn main() {
    let tests: &[(&str, fn())] = &[
        (
            "queue_round_trip_between_processes",
            queue_round_trip_between_processes,
        ),
        (
            "get_fails_after_the_writer_exits",
            get_fails_after_the_writer_exits,
        ),
        (
            "get_fails_after_the_writer_is_killed",
            get_fails_after_the_writer_is_killed,
        ),
        (
            "a_writer_killed_inside_a_frame_is_an_error_not_a_hang",
            a_writer_killed_inside_a_frame_is_an_error_not_a_hang,
        ),
        (
            "put_fails_once_every_reader_is_gone",
            put_fails_once_every_reader_is_gone,
        ),
        (
            "get_timeout_returns_none_in_time",
            get_timeout_returns_none_in_time,
        ),
        (
            "a_partial_frame_survives_a_timeout",
            a_partial_frame_survives_a_timeout,
        ),
        (
            "malformed_frames_are_errors_not_panics",
            malformed_frames_are_errors_not_panics,
        ),
        (
            "small_puts_from_many_producers_do_not_interleave",
            small_puts_from_many_producers_do_not_interleave,
        ),
        (
            "large_puts_from_many_producers_under_a_lock",
            large_puts_from_many_producers_under_a_lock,
        ),
        (
            "parent_and_child_do_not_share_a_lock",
            parent_and_child_do_not_share_a_lock,
        ),
        (
            "a_lock_held_by_a_killed_child_is_released",
            a_lock_held_by_a_killed_child_is_released,
        ),
        (
            "mutual_exclusion_between_processes",
            mutual_exclusion_between_processes,
        ),
        (
            "fork_is_refused_with_a_second_thread",
            fork_is_refused_with_a_second_thread,
        ),
        (
            "a_child_that_cannot_take_its_pipes_ends_without_a_byte",
            a_child_that_cannot_take_its_pipes_ends_without_a_byte,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut ran = 0;
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        print!("test {name} ... ");
        let _ = std::io::stdout().flush();
        test();
        println!("ok");
        ran += 1;
    }
    println!("\ntest result: ok. {ran} passed (harness = false: one thread, so forking is safe)");
}

/// `Process::fork` refuses in a process with more than one thread.
fn fork_is_refused_with_a_second_thread() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        let _ = rx.recv();
    });
    let err = Process::fork(|| 0).expect_err("a second thread is running");
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("2 threads"), "{err}");
    let err = Process::fork_piped(|| 0).expect_err("a second thread is running");
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    drop(tx);
    other.join().unwrap();
    // Alone again: forking works.
    let mut p = Process::fork(|| 3).unwrap();
    assert_eq!(p.join().unwrap(), 3);
}

/// With every descriptor below the limit in use, a child of `fork_piped`
/// cannot move its pipe ends into place (`F_DUPFD` fails): it ends at once
/// with `SETUP_FAILED`, without writing a byte to any descriptor (its
/// stdout is still the parent's until it has its own).
fn a_child_that_cannot_take_its_pipes_ends_without_a_byte() {
    use std::io::Read;
    use supervisor::mp::process::SETUP_FAILED;
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    // Our stdout, where a careless child would write: a pipe we can read.
    let (mut spy, spy_write) = {
        let (r, w) = pipe().unwrap();
        (std::fs::File::from(r), w)
    };
    let saved_stdout = unsafe { libc::dup(1) };
    assert!(saved_stdout >= 0);
    unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&spy_write), 1) };
    drop(spy_write);
    // Fill every free descriptor but the four the two pipes need and the
    // one `fork` reads /proc with (closed again before it forks): the child
    // then has one free descriptor, and needs two.
    let limit = 64;
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, limit, hard)
        .expect("setrlimit");
    let mut hoard = Vec::new();
    while let Ok(f) = fs::File::open("/dev/null") {
        hoard.push(f);
    }
    for _ in 0..5 {
        hoard.pop();
    }
    let result = Process::fork_piped(|| {
        println!("the target ran");
        0
    });
    drop(hoard);
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, soft, hard)
        .expect("setrlimit back");
    unsafe { libc::dup2(saved_stdout, 1) };
    unsafe { libc::close(saved_stdout) };
    let (mut child, mut pipes) = result.expect("the fork itself works");
    assert_eq!(child.join().unwrap(), SETUP_FAILED);
    let mut out = Vec::new();
    pipes.from_child.read_to_end(&mut out).unwrap();
    assert!(out.is_empty(), "the child wrote to its pipe: {out:?}");
    // Nothing reached our stdout either (the spy's only writer is gone now).
    let mut leaked = Vec::new();
    spy.read_to_end(&mut leaked).unwrap();
    assert!(
        leaked.is_empty(),
        "the child wrote to the parent's stdout: {leaked:?}"
    );
}
