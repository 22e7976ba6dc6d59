//! The generic sender against a sink in memory: what every uplink kind gets for free.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocols::{Sample, TagId, TextPool, Timestamp, Value};
use tokio::sync::watch;

use super::sink::{BoxFuture, Delivery, Encoded, Replay, Sink, Unencodable};
use super::task::{self, UplinkContext};
use super::{Pacing, UplinkStats};
use crate::store::{Batch, Dictionary, Store, StoreConfig};

/// Items are the samples' values. A run holding a `poisoned` value is refused, one holding `stuck` never
/// gets an answer, one holding `explode` panics; with `partial`, each write stores at most that many
/// items before the link fails (a peer acknowledging item by item on a flaky link). What is
/// acknowledged and each batch's replay flag are recorded.
#[derive(Default)]
struct Memory {
    poisoned: Vec<u64>,
    partial: Option<usize>,
    stuck: Option<u64>,
    explode: Option<u64>,
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
            if items.iter().any(|e| Some(e.item) == self.explode) {
                panic!("register map out of bounds");
            }
            if items.iter().any(|e| self.poisoned.contains(&e.item)) {
                return Delivery::Refused { reason: "400: bad count".into() };
            }
            if let Some(n) = self.partial.filter(|&n| n < items.len()) {
                self.acknowledged.lock().unwrap().extend(items[..n].iter().map(|e| e.item));
                return Delivery::Partly { delivered: n, reason: "the link broke".into(), after: None };
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

/// An uplink `mem` sending a store of `values` through a [`Memory`] sink.
struct Running {
    dir: tempfile::TempDir,
    store: Store,
    sink: Arc<Memory>,
    stats: Arc<UplinkStats>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

fn start(values: &[Option<u64>], sink: Memory, batch_size: usize, in_flight: usize) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of(dir.path(), values);
    let sink = Arc::new(sink);
    let stats = Arc::new(UplinkStats::new("mem"));
    let (stop, rx) = watch::channel(false);
    let pacing = Pacing { batch_size, batch_age: Duration::from_millis(20), in_flight, ..Pacing::default() };
    let cx = UplinkContext {
        name: "mem".into(),
        pacing,
        store: store.shared(),
        stats: stats.clone(),
        stop: rx,
        writes: Default::default(),
    };
    let task = task::spawn(cx, Ok(sink.clone()));
    Running { dir, store, sink, stats, stop, task }
}

impl Running {
    /// Stops the uplink and waits until it saved its cursor.
    async fn stop(&mut self) {
        self.stop.send(true).unwrap();
        (&mut self.task).await.unwrap().unwrap();
    }

    fn saved_cursor(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cursors/mem")).unwrap().trim().to_owned()
    }
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
    let values: Vec<Option<u64>> = (0..100u64).map(|v| (v % 9 != 4).then_some(v)).collect();
    let mut r = start(&values, Memory { poisoned: vec![17, 18, 55, 99], ..Memory::default() }, 32, 2);
    until("everything is acknowledged", || r.stats.acked.load(Relaxed) == 100).await;
    r.stop().await;

    let unencodable = values.iter().filter(|v| v.is_none()).count() as u64;
    let want: Vec<u64> = values.iter().flatten().copied().filter(|v| !r.sink.poisoned.contains(v)).collect();
    // Two writes at once: batches may land in either order, the cursor still moves in order.
    let mut got = r.sink.acknowledged.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, want, "every good item once");
    let s = &r.stats;
    assert_eq!(s.sent_samples.load(Relaxed), want.len() as u64);
    assert_eq!((s.refused_samples.load(Relaxed), s.quarantined_lines.load(Relaxed)), (4, 4));
    assert_eq!(s.unencodable_samples.load(Relaxed), unencodable);
    assert_eq!(want.len() as u64 + 4 + unencodable, 100, "each sample sent, refused or unencodable");
    let kept = std::fs::read_to_string(r.dir.path().join("quarantine/mem.txt")).unwrap();
    let mut kept: Vec<&str> = kept.lines().filter(|l| !l.starts_with('#')).collect();
    kept.sort_unstable();
    assert_eq!(kept, ["count 17", "count 18", "count 55", "count 99"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_stop_a_batch_not_delivered_holds_the_cursor_though_a_later_one_landed() {
    let values: Vec<Option<u64>> = (0..40).map(Some).collect();
    let mut r = start(&values, Memory { stuck: Some(0), ..Memory::default() }, 10, 2);
    until("the second batch is acknowledged", || r.stats.writes_accepted.load(Relaxed) == 1).await;
    r.stop().await;

    assert_eq!(*r.sink.acknowledged.lock().unwrap(), (10..20).collect::<Vec<u64>>());
    assert_eq!(r.saved_cursor(), "0", "samples 0..10 were never acknowledged: a restart must send them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_backlog_batches_are_flagged_and_live_ones_are_not() {
    // 200 behind with batches of 10 is past the split: the backlog goes beside live data.
    let values: Vec<Option<u64>> = (0..200).map(Some).collect();
    let mut r = start(&values, Memory::default(), 10, 1);
    until("the backlog is being sent", || !r.sink.replays.lock().unwrap().is_empty()).await;
    append(&mut r.store, 200, &(200..205).map(Some).collect::<Vec<_>>());
    // Live data stops before the backlog is through: once it is, the cursor moves past the live
    // batches too (it stalled at where live began, with the whole store delivered).
    until("everything is acknowledged", || r.stats.acked.load(Relaxed) == 205).await;
    r.stop().await;
    assert_eq!(r.saved_cursor(), "205");
    let mut got = r.sink.acknowledged.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, (0..205).collect::<Vec<u64>>(), "every sample once");

    let replays = r.sink.replays.lock().unwrap();
    for &(first, replay) in replays.iter() {
        let want = if first < 200 { Replay::Backlog } else { Replay::Live };
        assert_eq!(replay, want, "batch from {first}: {replays:?}");
    }
    assert!(replays.iter().any(|&(first, _)| first >= 200), "live data was sent: {replays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_panics_takes_the_uplink_down_visibly_and_moves_no_cursor() {
    let values: Vec<Option<u64>> = (0..30).map(Some).collect();
    let mut r = start(&values, Memory { explode: Some(12), ..Memory::default() }, 10, 1);
    // The uplink ends by itself, before any stop.
    let ended = tokio::time::timeout(Duration::from_secs(10), &mut r.task).await.expect("the uplink ended");
    let reason = ended.unwrap().unwrap_err();
    assert!(reason.contains("a delivery crashed"), "{reason}");

    let why = r.stats.last_error().unwrap_or_default();
    assert!(
        why.contains("uplink mem: a delivery crashed") && why.contains("register map out of bounds"),
        "{why}"
    );
    assert!(!r.stats.up.load(Relaxed));
    assert_eq!(r.saved_cursor(), "10", "only the batch before the crash is acknowledged");
}

/// A link that breaks after every third acknowledgement still gets a whole batch through, each item
/// once: what the peer acknowledged before a break is not sent again.
#[tokio::test]
async fn a_batch_acknowledged_in_part_goes_on_from_where_the_link_broke() {
    let values: Vec<Option<u64>> = (0..20).map(Some).collect();
    let mut up = start(&values, Memory { partial: Some(3), ..Memory::default() }, 20, 1);
    until("every sample acknowledged", || up.stats.acked.load(Relaxed) == 20).await;
    up.stop().await;
    assert_eq!(*up.sink.acknowledged.lock().unwrap(), (0..20).collect::<Vec<u64>>(), "each once, in order");
    assert_eq!(up.stats.sent_samples.load(Relaxed), 20);
    assert_eq!(up.stats.writes_failed.load(Relaxed), 6, "a break after each three of twenty");
    assert_eq!(up.saved_cursor(), "20");
}
