//! The contenders of the ring benches, shared by `ring` (criterion) and `ring_pairs` (paired runs).
//! See `ring.rs` for what each one does and why the comparison is fair.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use edge_agent::ring::{PushOutcome, ReadPolicy, Ring};
use protocols::{Sample, TagId, Timestamp, Value};

/// Slots per ring or queue, the same for every structure.
pub const CAPACITY: usize = 4096;
/// Samples per producer per measured iteration.
pub const PER_PRODUCER: usize = 1 << 17;
/// Run length for structures with batch calls.
pub const PUSH_BATCH: usize = 64;
pub const READ_BATCH: usize = 256;

pub fn samples(producer: u32) -> Vec<Sample> {
    (0..PER_PRODUCER)
        .map(|n| Sample::good(TagId(producer), Timestamp(n as i64), Value::Float(n as f64)))
        .collect()
}

/// The shared waiting step: spin a little, then give the core away.
fn idle(spins: &mut u32) {
    if *spins < 32 {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        thread::yield_now();
    }
}

pub fn run_ring(producers: usize, readers: usize) -> Duration {
    let ring = Ring::new(CAPACITY);
    let sources: Vec<_> = (0..producers as u32).map(samples).collect();
    let mut handles: Vec<_> =
        (0..readers).map(|i| ring.reader(&format!("reader-{i}"), ReadPolicy::Lossless)).collect();
    let want = producers * PER_PRODUCER;
    let start = Instant::now();
    thread::scope(|s| {
        for src in &sources {
            let writer = ring.writer();
            s.spawn(move || {
                let (mut at, mut spins) = (0, 0);
                while at < src.len() {
                    let end = src.len().min(at + PUSH_BATCH);
                    match writer.try_push(&src[at..end]) {
                        PushOutcome::Accepted(0) => idle(&mut spins),
                        PushOutcome::Accepted(n) => (at, spins) = (at + n, 0),
                        PushOutcome::Closed => unreachable!("nobody closes the bench ring"),
                    }
                }
            });
        }
        for reader in &mut handles {
            s.spawn(move || {
                let (mut got, mut spins, mut out) = (0, 0, Vec::with_capacity(READ_BATCH));
                while got < want {
                    out.clear();
                    match reader.try_read(&mut out, READ_BATCH).read {
                        0 => idle(&mut spins),
                        n => (got, spins) = (got + std::hint::black_box(&out).len().min(n), 0),
                    }
                }
            });
        }
    });
    start.elapsed()
}

pub fn run_rtrb(producers: usize, readers: usize) -> Duration {
    let sources: Vec<_> = (0..producers as u32).map(samples).collect();
    // queues[p][r]: producer p to reader r.
    let (mut txs, mut rxs): (Vec<Vec<_>>, Vec<Vec<_>>) =
        (Vec::new(), (0..readers).map(|_| Vec::new()).collect());
    for _ in 0..producers {
        let mut row = Vec::new();
        for rx in rxs.iter_mut() {
            let (tx, r) = rtrb::RingBuffer::<Sample>::new(CAPACITY);
            row.push(tx);
            rx.push(r);
        }
        txs.push(row);
    }
    let want = producers * PER_PRODUCER;
    let start = Instant::now();
    thread::scope(|s| {
        for (src, mut row) in sources.iter().zip(txs) {
            s.spawn(move || {
                let mut at = vec![0usize; row.len()];
                let (mut done, mut spins) = (0, 0);
                while done < row.len() {
                    let mut moved = false;
                    for (tx, at) in row.iter_mut().zip(at.iter_mut()) {
                        if *at == src.len() {
                            continue;
                        }
                        let end = src.len().min(*at + PUSH_BATCH);
                        let (pushed, _) = tx.push_partial_slice(&src[*at..end]);
                        *at += pushed.len();
                        moved |= !pushed.is_empty();
                        done += usize::from(*at == src.len());
                    }
                    if moved { spins = 0 } else { idle(&mut spins) }
                }
            });
        }
        for mut queues in rxs {
            s.spawn(move || {
                let (mut got, mut spins, mut out) = (0, 0, Vec::with_capacity(READ_BATCH));
                while got < want {
                    let mut moved = false;
                    for rx in queues.iter_mut() {
                        let n = rx.slots().min(READ_BATCH);
                        if n == 0 {
                            continue;
                        }
                        let chunk = rx.read_chunk(n).expect("slots() said so");
                        let (a, b) = chunk.as_slices();
                        out.clear();
                        out.extend_from_slice(a);
                        out.extend_from_slice(b);
                        chunk.commit_all();
                        got += std::hint::black_box(&out).len();
                        moved = true;
                    }
                    if moved { spins = 0 } else { idle(&mut spins) }
                }
            });
        }
    });
    start.elapsed()
}

pub fn run_array_queue(producers: usize, readers: usize) -> Duration {
    let sources: Vec<_> = (0..producers as u32).map(samples).collect();
    let queues: Vec<Vec<ArrayQueue<Sample>>> =
        (0..producers).map(|_| (0..readers).map(|_| ArrayQueue::new(CAPACITY)).collect()).collect();
    let want = producers * PER_PRODUCER;
    let start = Instant::now();
    thread::scope(|s| {
        for (src, row) in sources.iter().zip(&queues) {
            s.spawn(move || {
                let mut at = vec![0usize; row.len()];
                let (mut done, mut spins) = (0, 0);
                while done < row.len() {
                    let mut moved = false;
                    for (q, at) in row.iter().zip(at.iter_mut()) {
                        let end = src.len().min(*at + PUSH_BATCH);
                        while *at < end && q.push(src[*at]).is_ok() {
                            *at += 1;
                            moved = true;
                        }
                    }
                    if moved {
                        spins = 0
                    } else {
                        idle(&mut spins)
                    }
                    done = at.iter().filter(|&&a| a == src.len()).count();
                }
            });
        }
        for r in 0..readers {
            let queues = &queues;
            s.spawn(move || {
                let (mut got, mut spins, mut out) = (0, 0, Vec::with_capacity(READ_BATCH));
                while got < want {
                    let mut moved = false;
                    for row in queues {
                        out.clear();
                        while out.len() < READ_BATCH {
                            match row[r].pop() {
                                Some(sample) => out.push(sample),
                                None => break,
                            }
                        }
                        got += std::hint::black_box(&out).len();
                        moved |= !out.is_empty();
                    }
                    if moved { spins = 0 } else { idle(&mut spins) }
                }
            });
        }
    });
    start.elapsed()
}

pub fn run_broadcast(producers: usize, readers: usize) -> Duration {
    let sources: Vec<_> = (0..producers as u32).map(samples).collect();
    let (tx, _) = tokio::sync::broadcast::channel::<Sample>(CAPACITY);
    let rxs: Vec<_> = (0..readers).map(|_| tx.subscribe()).collect();
    let want = producers * PER_PRODUCER;
    let lagged = AtomicUsize::new(0);
    let start = Instant::now();
    thread::scope(|s| {
        for src in &sources {
            let tx = tx.clone();
            s.spawn(move || {
                let mut spins = 0;
                for sample in src {
                    // Headroom of one slot per producer: the check and the send are not atomic.
                    while tx.len() + producers >= CAPACITY {
                        idle(&mut spins);
                    }
                    spins = 0;
                    tx.send(*sample).expect("receivers alive");
                }
            });
        }
        for mut rx in rxs {
            let lagged = &lagged;
            s.spawn(move || {
                let (mut got, mut spins, mut out) = (0, 0, Vec::with_capacity(READ_BATCH));
                while got < want {
                    out.clear();
                    loop {
                        match rx.try_recv() {
                            Ok(sample) => out.push(sample),
                            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                                lagged.fetch_add(n as usize, Ordering::Relaxed);
                                got += n as usize;
                            }
                            Err(_) => break,
                        }
                        if out.len() == READ_BATCH {
                            break;
                        }
                    }
                    got += std::hint::black_box(&out).len();
                    if out.is_empty() { idle(&mut spins) } else { spins = 0 }
                }
            });
        }
    });
    assert_eq!(lagged.load(Ordering::Relaxed), 0, "broadcast readers lagged: the figure would be unfair");
    start.elapsed()
}
