//! The durable store on this machine's disk: appending with group commit, and replaying from the start.
//!   cargo bench -p benches --bench store
//! Append: batches of 8192 samples (what the store thread takes from the ring at once), with an fsync
//! after every batch ("always") and with the default 100 ms window. Replay: a 1M-sample log read back by
//! an uplink's reader, checksums and all.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edge_agent::store::{Dictionary, LogReader, Store, StoreConfig, SyncPolicy};
use protocols::{Sample, TagId, TextPool, Timestamp, Value};

const BATCH: usize = 8192;

fn dict() -> Dictionary {
    Dictionary {
        site: "plant".into(),
        gateway: "gw".into(),
        tags: (0..1000).map(|i| ("line".to_string(), format!("tag{i}"))).collect(),
    }
}

fn batch(start: u64) -> Vec<Sample> {
    (0..BATCH as u64)
        .map(|i| {
            let n = start + i;
            Sample::good(
                TagId((n % 1000) as u32),
                Timestamp(1_700_000_000_000_000_000 + n as i64),
                Value::Float(n as f64),
            )
        })
        .collect()
}

fn store(dir: &std::path::Path, sync: SyncPolicy) -> Store {
    let cfg = StoreConfig { max_bytes: 8 << 30, segment_bytes: 64 << 20, sync };
    let mut s = Store::open(dir, &cfg).unwrap();
    s.set_dictionary(dict()).unwrap();
    s
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("store_append");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.measurement_time(Duration::from_secs(8));
    let texts = TextPool::new();
    for (name, sync) in
        [("sync_always", SyncPolicy::Always), ("sync_100ms", SyncPolicy::Every(Duration::from_millis(100)))]
    {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path(), sync);
        let samples = batch(0);
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                s.append(&samples, &texts, Instant::now()).unwrap();
                s.tick(Instant::now()).unwrap();
            })
        });
    }
    g.finish();
}

fn replay(c: &mut Criterion) {
    const TOTAL: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path(), SyncPolicy::Never);
    let texts = TextPool::new();
    for k in 0..TOTAL / BATCH as u64 {
        s.append(&batch(k * BATCH as u64), &texts, Instant::now()).unwrap();
    }
    s.sync().unwrap();
    let shared = s.shared();
    let mut g = c.benchmark_group("store_replay");
    g.throughput(Throughput::Elements(TOTAL));
    g.sample_size(20);
    g.bench_function("1M_samples", |b| {
        b.iter(|| {
            let mut r = LogReader::new(shared.clone(), 0);
            let mut n = 0;
            while let Some(batch) = r.read(5000).unwrap() {
                n += batch.samples.len() as u64;
            }
            assert_eq!(n, TOTAL);
        })
    });
    g.finish();
}

criterion_group!(benches, append, replay);
criterion_main!(benches);
