//! Benchmark of the σ kernel on one core.
//!
//! `cargo run --release --example kernel_bench -- LO HI [MAX [CHUNK [SEGMENT]]]`
//! classifies every n in `[LO, HI]` with a kernel sized for `MAX` (default
//! `HI`), in chunks of `CHUNK` numbers as a worker runs them (default: the
//! whole range as one), in segments of `SEGMENT` numbers (2^14, 2^15 or
//! 2^16; default: what the caches give), then prints the throughput, the
//! sizes and the result. Plain integers or `1e9`-style powers of ten are
//! accepted. `SUPERVISOR_KERNEL_PATH=scalar|avx2|avx512` caps the vector
//! path (the best the CPU has by default).

use std::time::Instant;
use supervisor::sigma::{ChunkResult, Kernel, sigma_sum_range};

fn parse(s: &str) -> u64 {
    let s = s.replace('_', "");
    if let Some((m, e)) = s.split_once(['e', 'E']) {
        let m: u64 = m.parse().expect("mantissa");
        let e: u32 = e.parse().expect("exponent");
        m * 10u64.pow(e)
    } else {
        s.parse().expect("a number")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: kernel_bench LO HI [MAX [CHUNK [SEGMENT]]]");
        std::process::exit(2);
    }
    let lo = parse(&args[0]);
    let hi = parse(&args[1]);
    let max = args.get(2).map(|s| parse(s)).unwrap_or(hi);
    let chunk = args.get(3).map(|s| parse(s)).unwrap_or(hi - lo + 1).max(1);
    let t0 = Instant::now();
    let mut kernel = match args.get(4).map(|s| parse(s)) {
        None => Kernel::new(max),
        Some(segment) => Kernel::with_segment(max, segment as usize).unwrap_or_else(|| {
            eprintln!("kernel_bench: SEGMENT must be 16384, 32768 or 65536");
            std::process::exit(2);
        }),
    };
    let setup = t0.elapsed();
    let t1 = Instant::now();
    let mut segments = 0u64;
    // The longest gap between progress calls (the first includes the
    // chunk's setup): what bounds a worker's heartbeat latency.
    let mut last = Instant::now();
    let mut longest = 0f64;
    let mut result = ChunkResult::default();
    let mut from = lo;
    loop {
        let to = hi.min(from.saturating_add(chunk - 1));
        let part = kernel.run(from, to, |_| {
            segments += 1;
            let now = Instant::now();
            longest = longest.max((now - last).as_secs_f64());
            last = now;
        });
        result.merge(&part).expect("counts below 2^64");
        if to == hi {
            break;
        }
        from = to + 1;
    }
    let secs = t1.elapsed().as_secs_f64();
    let n = hi - lo + 1;
    assert_eq!(result.checked(), n);
    println!(
        "range       [{lo}, {hi}] ({n} numbers, max {max}, {} chunks, {segments} segments)",
        n.div_ceil(chunk)
    );
    println!("path        {}", kernel.path().name());
    let (segment, sub_block) = kernel.sizes();
    println!("sizes       segments of {segment}, sub-blocks of {sub_block} numbers");
    println!("setup       {:.3} s", setup.as_secs_f64());
    println!("time        {secs:.3} s");
    println!("rate        {:.4e} numbers/s", n as f64 / secs);
    println!("segment     {:.2} ms at most", longest * 1e3);
    println!("perfect     {:?}", result.perfect);
    println!("abundant    {}", result.abundant);
    println!("deficient   {}", result.deficient);
    let expected = sigma_sum_range(lo, hi);
    let verdict = if expected == result.sigma_sum {
        "ok"
    } else {
        "MISMATCH"
    };
    println!(
        "sigma_sum   {} (Σ d·⌊n/d⌋ check: {verdict})",
        result.sigma_sum
    );
    if expected != result.sigma_sum {
        std::process::exit(1);
    }
}
