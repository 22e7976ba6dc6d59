//! The ring against rtrb in pairs: each round runs both, one right after the other (which goes first
//! alternates), and the figure is the median of the per-round ratios. On a shared, noisy machine this
//! holds up better than two criterion groups measured seconds apart, since both halves of a round
//! see the same neighbours.
//!
//! `cargo bench -p benches --bench ring_pairs` (rounds: `RING_PAIRS`, default 101). Prints, for
//! 1 producer -> 1 reader and 4 producers -> 5 readers, each side's median throughput and the median
//! ratio ring / rtrb (above 1.0: the ring delivers more samples per second).

use std::time::Duration;

// The criterion bench uses the other contenders.
#[allow(dead_code)]
#[path = "ring/runs.rs"]
mod runs;
use runs::{PER_PRODUCER, run_ring, run_rtrb};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used.
    let rounds: usize = std::env::var("RING_PAIRS").ok().and_then(|v| v.parse().ok()).unwrap_or(101);
    for (producers, readers) in [(1, 1), (4, 5)] {
        let delivered = (producers * readers * PER_PRODUCER) as f64;
        let rate = |d: Duration| delivered / d.as_secs_f64() / 1e6;
        let (mut ring, mut rtrb, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        // One unmeasured round warms caches, the allocator and the frequency governor.
        run_ring(producers, readers);
        run_rtrb(producers, readers);
        for round in 0..rounds {
            let (a, b) = if round % 2 == 0 {
                let a = run_ring(producers, readers);
                (a, run_rtrb(producers, readers))
            } else {
                let b = run_rtrb(producers, readers);
                (run_ring(producers, readers), b)
            };
            ring.push(rate(a));
            rtrb.push(rate(b));
            ratio.push(rate(a) / rate(b));
        }
        println!(
            "ring_pairs {producers}p_{readers}r: {rounds} rounds; median Melem/s ring {:.1}, rtrb {:.1}; \
             median ratio ring/rtrb {:.2}",
            median(ring),
            median(rtrb),
            median(ratio)
        );
    }
}
