//! The generic sender against a sink in memory: what every uplink kind gets for free.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocols::{Sample, TagId, TextPool, Timestamp, Value};
use tokio::sync::watch;

use super::sink::{BoxFuture, Delivery, Encoded, Replay, Sink, Unencodable};
use super::{Pacing, UplinkStats, task};
use crate::store::{Batch, Dictionary, Store, StoreConfig};

/// Items are the samples' values. A run holding a `poisoned` value is refused; a run holding `stuck` never
/// gets an answer. Everything acknowledged, and every batch's replay flag, is recorded.
#[derive(Default)]
struct Memory {
    poisoned: Vec<u64>,
    stuck: Option<u64>,
    acknowledged: Mutex<Vec<u64>>,
    replays: Mutex<Vec<(u64, Replay)>>,
}

impl Sink for Arc<Memory> {
    type Item = u64;
    const QUARANTINE_EXT: &'static str = "txt";

    fn encode(&self, batch: &Batch, replay: Replay, out: &mut Vec<Encoded<u64>>) -> Unencodable {
        let mut skipped = Unencodable::default();
        self.replays.lock().unwrap().push((batch.first_seq, replay));
        for s in &batch.samples {
            match s.value {
                Value::UInt(v) => out.push(Encoded { item: v, samples: 1 }),
                other => skipped.add(|| format!("{other:?} is not a count")),
            }
        }
        skipped
    }

    fn deliver<'a>(&'a self, items: &'a [Encoded<u64>]) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            if items.iter().any(|e| Some(e.item) == self.stuck) {
                std::future::pending::<()>().await;
            }
            if items.iter().any(|e| self.poisoned.contains(&e.item)) {
                return Delivery::Refused { reason: "400: bad count".into() };
            }
            self.acknowledged.lock().unwrap().extend(items.iter().map(|e| e.item));
            Delivery::Acknowledged
        })
    }

    fn describe(&self, item: &u64) -> String {
        format!("count {item}")
    }

    fn peer(&self) -> String {
        "memory".into()
    }
}

/// A store holding `values` of one tag (`None` is a NaN float, which [`Memory`] cannot encode).
fn store_of(dir: &std::path::Path, values: &[Option<u64>]) -> Store {
    let mut store = Store::open(dir, &StoreConfig::default()).unwrap();
    store
        .set_dictionary(Dictionary {
            site: "厂区".into(),
            gateway: "网关".into(),
            tags: vec![("锅炉一号".into(), "锅炉一号.温度".into())],
        })
        .unwrap();
    append(&mut store, 0, values);
    store
}

fn append(store: &mut Store, first: usize, values: &[Option<u64>]) {
    let samples: Vec<Sample> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let value = v.map_or(Value::Float(f64::NAN), Value::UInt);
            Sample::good(TagId(0), Timestamp(1_700_000_000_000_000_000 + (first + i) as i64), value)
        })
        .collect();
    store.append(&samples, &TextPool::new(), Instant::now()).unwrap();
}

fn pacing(batch_size: usize, in_flight: usize) -> Pacing {
    Pacing { batch_size, batch_age: Duration::from_millis(20), in_flight, ..Pacing::default() }
}

async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_items_are_isolated_by_halving_and_every_sample_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<Option<u64>> = (0..100u64).map(|v| (v % 9 != 4).then_some(v)).collect();
    let store = store_of(dir.path(), &values);
    let sink = Arc::new(Memory { poisoned: vec![17, 18, 55, 99], ..Memory::default() });
    let stats = Arc::new(UplinkStats::new("mem"));
    let (stop_tx, stop) = watch::channel(false);
    let task =
        task::spawn("mem".into(), pacing(32, 2), Ok(sink.clone()), store.shared(), stats.clone(), stop);
    until("everything is acknowledged", || stats.acked.load(Relaxed) == 100).await;
    stop_tx.send(true).unwrap();
    task.await.unwrap();

    let unencodable = values.iter().filter(|v| v.is_none()).count() as u64;
    let want: Vec<u64> = values.iter().flatten().copied().filter(|v| !sink.poisoned.contains(v)).collect();
    // Two writes at once: batches may land in either order, the cursor still moves in order.
    let mut got = sink.acknowledged.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, want, "every good item once");
    assert_eq!(stats.sent_samples.load(Relaxed), want.len() as u64);
    assert_eq!(stats.refused_samples.load(Relaxed), 4);
    assert_eq!(stats.quarantined_lines.load(Relaxed), 4);
    assert_eq!(stats.unencodable_samples.load(Relaxed), unencodable);
    assert_eq!(want.len() as u64 + 4 + unencodable, 100, "each sample sent, refused or unencodable");
    let kept = std::fs::read_to_string(dir.path().join("quarantine/mem.txt")).unwrap();
    let mut kept: Vec<&str> = kept.lines().filter(|l| !l.starts_with('#')).collect();
    kept.sort_unstable();
    assert_eq!(kept, ["count 17", "count 18", "count 55", "count 99"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_stop_a_batch_not_delivered_holds_the_cursor_though_a_later_one_landed() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<Option<u64>> = (0..40).map(Some).collect();
    let store = store_of(dir.path(), &values);
    let sink = Arc::new(Memory { stuck: Some(0), ..Memory::default() });
    let stats = Arc::new(UplinkStats::new("mem"));
    let (stop_tx, stop) = watch::channel(false);
    let task =
        task::spawn("mem".into(), pacing(10, 2), Ok(sink.clone()), store.shared(), stats.clone(), stop);
    until("the second batch is acknowledged", || stats.writes_accepted.load(Relaxed) == 1).await;
    stop_tx.send(true).unwrap();
    task.await.unwrap();

    assert_eq!(*sink.acknowledged.lock().unwrap(), (10..20).collect::<Vec<u64>>());
    let saved = std::fs::read_to_string(dir.path().join("cursors/mem")).unwrap();
    assert_eq!(saved.trim(), "0", "samples 0..10 were never acknowledged: a restart must send them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_backlog_batches_are_flagged_and_live_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<Option<u64>> = (0..200).map(Some).collect();
    let mut store = store_of(dir.path(), &values);
    let sink = Arc::new(Memory::default());
    let stats = Arc::new(UplinkStats::new("mem"));
    let (stop_tx, stop) = watch::channel(false);
    // 200 behind with batches of 10 is past the split: the backlog goes beside live data.
    let task =
        task::spawn("mem".into(), pacing(10, 1), Ok(sink.clone()), store.shared(), stats.clone(), stop);
    until("the live reader started", || !sink.replays.lock().unwrap().is_empty()).await;
    append(&mut store, 200, &(200..205).map(Some).collect::<Vec<_>>());
    // Live batches do not move the cursor (the backlog's does), so wait for the historian's side.
    until("everything is acknowledged", || {
        stats.acked.load(Relaxed) >= 200 && sink.acknowledged.lock().unwrap().contains(&204)
    })
    .await;
    stop_tx.send(true).unwrap();
    task.await.unwrap();

    let replays = sink.replays.lock().unwrap();
    for &(first, replay) in replays.iter() {
        let want = if first < 200 { Replay::Backlog } else { Replay::Live };
        assert_eq!(replay, want, "batch from {first}: {replays:?}");
    }
    assert!(replays.iter().any(|&(first, _)| first >= 200), "live data was sent: {replays:?}");
}
