//! The sample ring against rtrb, crossbeam's ArrayQueue and tokio's broadcast, on `protocols::Sample`,
//! in one run: 1 producer -> 1 reader and 4 producers -> 5 readers.
//!
//! Throughput is samples *delivered* per second (every reader counts). rtrb and ArrayQueue are
//! single-consumer queues, so they fan out with one queue per (producer, reader) pair: each producer
//! copies each sample once per reader. Batches where the structure has them: the ring pushes and
//! reads runs (`try_push`/`try_read`), rtrb uses `push_partial_slice`/`read_chunk`; ArrayQueue and
//! broadcast move one sample per call. Broadcast producers wait on `Sender::len` so no reader lags
//! (it would otherwise drop samples and deliver less); every structure is run lossless.
//! Every thread waits the same way (a short spin, then `yield_now`): on 2 cores a pure spin starves.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edge_agent::ring::{PushOutcome, ReadPolicy, Ring};
use protocols::Sample;

#[path = "ring/runs.rs"]
mod runs;
use runs::*;

fn fan(c: &mut Criterion) {
    type Run = fn(usize, usize) -> Duration;
    let contenders: [(&str, Run); 4] = [
        ("ring", run_ring),
        ("rtrb", run_rtrb),
        ("crossbeam_array_queue", run_array_queue),
        ("tokio_broadcast", run_broadcast),
    ];
    for (producers, readers) in [(1, 1), (4, 5)] {
        let mut group = c.benchmark_group(format!("ring_{producers}p_{readers}r"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements((producers * readers * PER_PRODUCER) as u64));
        for (name, run) in contenders {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run(producers, readers)).sum())
            });
        }
        group.finish();
    }
}

/// One thread pushes a run, then reads it back: the per-sample cost of the calls themselves, with no
/// second core and no cache line moving between cores.
fn solo(c: &mut Criterion) {
    let src = samples(0);
    let mut group = c.benchmark_group("ring_solo");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(PER_PRODUCER as u64));
    group.bench_function("ring", |b| {
        let ring = Ring::new(CAPACITY);
        let writer = ring.writer();
        let mut reader = ring.reader("solo", ReadPolicy::Lossless);
        let mut out = Vec::with_capacity(READ_BATCH);
        b.iter(|| {
            for run in src.chunks(PUSH_BATCH) {
                assert_eq!(writer.try_push(run), PushOutcome::Accepted(run.len()));
                out.clear();
                reader.try_read(&mut out, READ_BATCH);
                std::hint::black_box(&out);
            }
        })
    });
    group.bench_function("rtrb", |b| {
        let (mut tx, mut rx) = rtrb::RingBuffer::<Sample>::new(CAPACITY);
        let mut out = Vec::with_capacity(READ_BATCH);
        b.iter(|| {
            for run in src.chunks(PUSH_BATCH) {
                assert_eq!(tx.push_partial_slice(run).0.len(), run.len());
                let chunk = rx.read_chunk(rx.slots().min(READ_BATCH)).expect("slots() said so");
                let (a, b) = chunk.as_slices();
                out.clear();
                out.extend_from_slice(a);
                out.extend_from_slice(b);
                chunk.commit_all();
                std::hint::black_box(&out);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, fan, solo);
criterion_main!(benches);
