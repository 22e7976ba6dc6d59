//! Loom models of the lock-free core: every interleaving (up to a preemption bound) of small rings.
//!
//! Run from the workspace root (RUSTFLAGS would also put cfg(loom) on tokio, which then lacks the
//! `net` module axum needs, hence a wrapper that sets it on edge-agent only):
//! `RUSTC_WORKSPACE_WRAPPER=$PWD/edge-agent/src/ring/loom-rustc.sh CARGO_TARGET_DIR=/tmp/target-loom \
//!  cargo test -p edge-agent --release --lib ring`

use loom::thread;

use super::*;
use drivers::PushOutcome;
use protocols::{Sample, TagId, Timestamp, Value};

fn numbered(w: u32, n: u64) -> Sample {
    Sample::good(TagId(w), Timestamp(n as i64), Value::UInt(n))
}

/// Explores `f` under loom and checks that more than one interleaving was actually explored.
fn model(f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check({
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, Relaxed);
            f()
        }
    });
    let runs = runs.load(Relaxed);
    eprintln!("loom explored {runs} interleavings");
    assert!(runs > 1, "the model ran a single interleaving: nothing was checked");
}

/// Pushes samples `from..to` of writer `w` one call per sample, yielding while the ring is full.
fn push_all(writer: &RingWriter, w: u32, from: u64, to: u64) {
    for n in from..to {
        while writer.try_push(&[numbered(w, n)]) == PushOutcome::Accepted(0) {
            thread::yield_now();
        }
    }
}

/// Reads until `want` samples arrived, yielding while empty; checks no sample is torn.
fn read_exactly(reader: &mut RingReader, want: usize) -> Vec<Sample> {
    let mut out = Vec::new();
    while out.len() < want {
        let room = want - out.len();
        if reader.try_read(&mut out, room).read == 0 {
            thread::yield_now();
        }
    }
    out
}

fn of_writer(samples: &[Sample], w: u32) -> Vec<u64> {
    samples.iter().filter(|s| s.tag.0 == w).map(|s| s.ts.0 as u64).collect()
}

/// (capacity, samples per writer): without back-pressure, and with one writer held back.
#[test]
fn two_writers_one_lossless_reader() {
    for (capacity, per_writer) in [(4, [2, 2]), (2, [2, 1])] {
        model(move || {
            let ring = Ring::new(capacity);
            let mut store = ring.reader("store", ReadPolicy::Lossless);
            let writers: Vec<_> = (0..2u32)
                .map(|w| {
                    let writer = ring.writer();
                    thread::spawn(move || push_all(&writer, w, 0, per_writer[w as usize]))
                })
                .collect();
            let got = read_exactly(&mut store, (per_writer[0] + per_writer[1]) as usize);
            for w in writers {
                w.join().unwrap();
            }
            for w in 0..2 {
                let all: Vec<u64> = (0..per_writer[w as usize]).collect();
                assert_eq!(of_writer(&got, w), all, "writer {w}: every sample once, in order");
            }
            assert_eq!(store.try_read(&mut Vec::new(), 4).read, 0, "nothing extra");
        });
    }
}

#[test]
fn batched_writers_share_a_lossless_reader_through_back_pressure() {
    model(|| {
        let ring = Ring::new(2);
        let mut store = ring.reader("store", ReadPolicy::Lossless);
        let writer = ring.writer();
        let other = thread::spawn(move || {
            let batch = [numbered(1, 0), numbered(1, 1), numbered(1, 2)];
            let mut done = 0;
            while done < batch.len() {
                match writer.try_push(&batch[done..]) {
                    PushOutcome::Accepted(0) => thread::yield_now(),
                    PushOutcome::Accepted(n) => done += n,
                    PushOutcome::Closed => panic!("closed"),
                }
            }
        });
        let got = read_exactly(&mut store, 3);
        other.join().unwrap();
        assert_eq!(of_writer(&got, 1), vec![0, 1, 2]);
    });
}

/// A lossless reader that takes one sample per call reads each claimed run in parts: it must find
/// the rest of a run it has seen the end of, and the next run only once that is published.
#[test]
fn a_lossless_reader_takes_runs_in_parts() {
    model(|| {
        let ring = Ring::new(4);
        let mut store = ring.reader("store", ReadPolicy::Lossless);
        let writers: Vec<_> = [(0u32, 2u64), (1, 1)]
            .into_iter()
            .map(|(w, n)| {
                let writer = ring.writer();
                thread::spawn(move || {
                    let batch: Vec<_> = (0..n).map(|i| numbered(w, i)).collect();
                    assert_eq!(writer.try_push(&batch), PushOutcome::Accepted(batch.len()), "room for all");
                })
            })
            .collect();
        let mut got = Vec::new();
        while got.len() < 3 {
            if store.try_read(&mut got, 1).read == 0 {
                thread::yield_now();
            }
        }
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(of_writer(&got, 0), vec![0, 1], "the run of two, in order");
        assert_eq!(of_writer(&got, 1), vec![0], "the run of one");
        assert_eq!(store.try_read(&mut Vec::new(), 4).read, 0, "nothing extra");
    });
}

#[test]
fn a_lapped_lossy_reader_counts_what_it_missed() {
    model(|| {
        let ring = Ring::new(2);
        let mut monitor = ring.reader("monitor", ReadPolicy::Lossy);
        let writer = ring.writer();
        // Two reads racing the writer, then a drain once the ring is closed.
        let racer = thread::spawn(move || {
            let mut got = Vec::new();
            let mut skipped = 0;
            for _ in 0..2 {
                skipped += monitor.try_read(&mut got, 2).skipped;
            }
            (monitor, got, skipped)
        });
        push_all(&writer, 0, 0, 4);
        let (mut monitor, mut got, mut skipped) = racer.join().unwrap();
        ring.close();
        loop {
            let r = monitor.try_read(&mut got, 2);
            skipped += r.skipped;
            if r.closed {
                break;
            }
        }
        let numbers = of_writer(&got, 0);
        assert_eq!(numbers.len(), got.len(), "no torn or foreign sample");
        for s in &got {
            assert_eq!(s.value, Value::UInt(s.ts.0 as u64), "torn sample {s:?}");
        }
        assert!(numbers.windows(2).all(|p| p[0] < p[1]), "in order: {numbers:?}");
        assert_eq!(numbers.len() as u64 + skipped, 4, "read + skipped == written: {numbers:?}");
        assert_eq!(monitor.skipped(), skipped);
    });
}

#[test]
fn a_lossless_reader_joining_mid_stream_is_never_overwritten() {
    model(|| {
        let ring = Ring::new(2);
        let writer = ring.writer();
        let done = loom::sync::Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let producer = thread::spawn({
            let done = done.clone();
            move || {
                push_all(&writer, 0, 0, 4);
                done.store(true, Ordering::SeqCst);
            }
        });
        let mut late = ring.reader("late", ReadPolicy::Lossless);
        let start = late.lag();
        let mut got = Vec::new();
        while !done.load(Ordering::SeqCst) {
            if late.try_read(&mut got, 4).read == 0 {
                thread::yield_now();
            }
        }
        producer.join().unwrap();
        late.try_read(&mut got, 4);
        let numbers = of_writer(&got, 0);
        let first = 4 - numbers.len() as u64;
        assert_eq!(numbers, (first..4).collect::<Vec<_>>(), "a gap-free tail; lag at start {start}");
    });
}
