//! Python's producer/consumer example, ported: a producer process puts work
//! on a `Queue`, a consumer process gets it, and the consumer stops when the
//! producer is gone (its `get` returns `Disconnected`) — no sentinel needed.
//!
//! `cargo run --example queue`

use supervisor::mp::queue::QueueError;
use supervisor::mp::{Process, Queue};

fn main() -> std::io::Result<()> {
    let mut q: Queue<(u64, u64)> = Queue::new()?;

    let mut consumer = Process::fork(|| {
        // Give up this copy of the write end, or the pipe never ends.
        q.close_put();
        let mut total = 0;
        loop {
            match q.get() {
                Ok((n, square)) => {
                    println!("consumer got {n}² = {square}");
                    total += square;
                }
                Err(QueueError::Disconnected) => {
                    println!("consumer: the producer is gone; sum of squares {total}");
                    return if total == 285 { 0 } else { 1 };
                }
                Err(e) => {
                    eprintln!("consumer: {e}");
                    return 2;
                }
            }
        }
    })?;

    let mut producer = Process::fork(|| {
        q.close_get();
        for n in 0..10u64 {
            if let Err(e) = q.put(&(n, n * n)) {
                eprintln!("producer: {e}");
                return 1;
            }
        }
        println!("producer: done");
        0
    })?;

    // The parent neither puts nor gets: it must not keep the pipe open.
    drop(q);

    let produced = producer.join()?;
    let consumed = consumer.join()?;
    println!("producer exitcode {produced}, consumer exitcode {consumed}");
    assert_eq!((produced, consumed), (0, 0));
    Ok(())
}
