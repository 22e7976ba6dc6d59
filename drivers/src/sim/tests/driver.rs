use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use protocols::{Quality, Reason, TextPool, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::*;
use crate::DriverError;
use crate::context::{Clock, DriverContext, Publisher, Shutdown};
use crate::telemetry::{DeviceStats, ErrorKind};
use crate::testing::TestSink;
use crate::write::{WriteError, WriteRequest};

/// Wall clock that follows tokio's paused clock, starting at `T0`.
struct PausedClock(tokio::time::Instant);

impl Clock for PausedClock {
    fn now(&self) -> Timestamp {
        Timestamp(T0 + self.0.elapsed().as_nanos() as i64)
    }
}

struct Running {
    sink: Arc<TestSink>,
    stats: Arc<DeviceStats>,
    writes: mpsc::Sender<WriteRequest>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), DriverError>>,
}

fn start(cfg: &SimDeviceConfig, sink: TestSink) -> Running {
    let sink = Arc::new(sink);
    let stats = Arc::new(DeviceStats::new("kiln"));
    let (writes, rx) = mpsc::channel(4);
    let (stop, shutdown) = Shutdown::new();
    let cx = DriverContext {
        publisher: Publisher::new(sink.clone()),
        writes: rx.into(),
        shutdown,
        clock: Arc::new(PausedClock(tokio::time::Instant::now())),
        devices: HashMap::from([("kiln".to_owned(), stats.clone())]),
        texts: Arc::new(TextPool::new()),
        tag_ids: Arc::new(HashMap::new()),
    };
    let names: Vec<String> = cfg.tags.iter().map(|t| t.name.get_ref().clone()).collect();
    let driver = cfg.build(|n| names.iter().position(|x| x == n).map(|i| TagId(i as u32))).unwrap();
    let task = tokio::spawn(driver.run(cx));
    Running { sink, stats, writes, stop, task }
}

fn kiln() -> SimDeviceConfig {
    let mut valve = tag("kiln.fuel_valve", Shape::Constant);
    (valve.offset, valve.writable) = (40.0, writable(0.0, 100.0));
    device(7, vec![valve, tag("kiln.sine", Shape::Sine)])
}

async fn write(r: &Running, value: f64) -> Result<(), WriteError> {
    let (reply, answer) = oneshot::channel();
    r.writes.send(WriteRequest { tag: TagId(0), value: Value::Float(value), reply }).await.unwrap();
    answer.await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn scans_at_the_configured_rate_from_the_first_instant_and_stops_on_shutdown() {
    let r = start(&kiln(), TestSink::default());
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let stamps: Vec<Timestamp> =
        r.sink.taken.lock().unwrap().iter().filter(|s| s.tag == TagId(0)).map(|s| s.ts).collect();
    let expected: Vec<Timestamp> = (0..=10).map(|s| at_s(s as f64)).collect();
    assert_eq!(stamps, expected, "first scan at once, then one a second");
    assert_eq!(r.sink.taken.lock().unwrap().len(), 22, "every tag in every scan");
    assert_eq!(r.stats.scans.load(std::sync::atomic::Ordering::Relaxed), 11);
    assert!(r.stats.is_up());

    r.stop.send(true).unwrap();
    let result = tokio::time::timeout(Duration::from_millis(1), r.task).await.expect("stops promptly");
    assert!(result.unwrap().is_ok());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(r.sink.taken.lock().unwrap().len(), 22, "no scan after shutdown");
}

#[tokio::test(start_paused = true)]
async fn writes_are_applied_between_scans_and_refusals_are_answered_and_counted() {
    let r = start(&kiln(), TestSink::default());
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(write(&r, 55.0).await, Ok(()));
    assert!(matches!(write(&r, 120.0).await, Err(WriteError::OutOfLimits { .. })));
    assert_eq!(r.stats.errors(ErrorKind::Write), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let valve: Vec<Value> =
        r.sink.taken.lock().unwrap().iter().filter(|s| s.tag == TagId(0)).map(|s| s.value).collect();
    assert_eq!(valve, [40.0, 40.0, 40.0, 55.0].map(Value::Float));
    r.stop.send(true).unwrap();
    assert!(r.task.await.unwrap().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_fault_window_publishes_bad_timeout_samples_and_counts_timeouts() {
    let mut cfg = kiln();
    cfg.fault = fault(10, 3);
    let r = start(&cfg, TestSink::default());
    tokio::time::sleep(Duration::from_millis(25_500)).await;
    let bad: Vec<Timestamp> = r
        .sink
        .taken
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.tag == TagId(0) && s.quality == Quality::Bad(Reason::Timeout))
        .map(|s| s.ts)
        .collect();
    assert_eq!(bad, [10.0, 11.0, 12.0, 20.0, 21.0, 22.0].map(at_s));
    assert_eq!(r.stats.errors(ErrorKind::Timeout), 6);
    assert_eq!(r.stats.last_error().as_deref(), Some("timeout: simulated fault: no answer"));
    assert!(r.stats.is_up(), "back up after the window");
    r.stop.send(true).unwrap();
    assert!(r.task.await.unwrap().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_ring_that_holds_the_driver_back_skips_the_scans_it_missed_and_counts_them() {
    let full_until = Some(tokio::time::Instant::now() + Duration::from_millis(3_500));
    let r = start(&kiln(), TestSink { full_until, ..TestSink::default() });
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let stamps: Vec<Timestamp> =
        r.sink.taken.lock().unwrap().iter().filter(|s| s.tag == TagId(0)).map(|s| s.ts).collect();
    // The scan at 0 s waits 3.5 s to be taken. Of the scans due at 1, 2 and 3 s one runs, late, at 3.5 s
    // and two are skipped (no burst to catch up); then the schedule keeps its whole seconds.
    assert_eq!(stamps, [0.0, 3.5, 4.0, 5.0, 6.0].map(at_s));
    assert_eq!(r.stats.scans_skipped.load(std::sync::atomic::Ordering::Relaxed), 2);
    r.stop.send(true).unwrap();
    assert!(r.task.await.unwrap().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_closed_ring_ends_the_driver_with_an_error() {
    let r = start(&kiln(), TestSink { closed: true, ..TestSink::default() });
    let result = tokio::time::timeout(Duration::from_secs(1), r.task).await.expect("ends at once");
    assert!(matches!(result.unwrap(), Err(DriverError::RingClosed { link }) if link == "kiln"));
}
