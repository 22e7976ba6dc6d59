//! What the agent hands a driver: where samples go, which writes arrive, when to stop, what time it is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use protocols::{Sample, TagId, TextPool, Timestamp};
use tokio::sync::watch;

use crate::telemetry::DeviceStats;
use crate::write::WriteQueue;

/// Result of one non-blocking push into the sample ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// This many samples (a prefix of the batch) went in; the rest must wait for a lossless reader.
    Accepted(usize),
    /// The ring was shut down; nothing more will be read.
    Closed,
}

/// The agent's side of the ring as a driver sees it. Implemented by the ring's writer handle.
pub trait SampleSink: Send + Sync + 'static {
    /// Pushes as much of `batch` as fits without overwriting data a lossless reader has not taken.
    fn try_push(&self, batch: &[Sample]) -> PushOutcome;
    /// Resolves once space may have appeared (a lossless reader advanced) or the ring closed.
    fn wait_for_space(&self) -> crate::BoxFuture<'_, ()>;
    /// Counts one episode of a driver being held back by a full ring.
    fn note_back_pressure(&self);
}

/// A driver's handle on the ring. Cloneable, one per task that acquires.
#[derive(Clone)]
pub struct Publisher {
    sink: Arc<dyn SampleSink>,
}

impl Publisher {
    pub fn new(sink: Arc<dyn SampleSink>) -> Self {
        Publisher { sink }
    }

    /// Publishes the whole batch, waiting while the ring is full. Never drops a sample: a slow lossless
    /// reader slows the driver down instead. Returns `false` once the ring is closed.
    pub async fn publish(&self, mut batch: &[Sample]) -> bool {
        let mut held_back = false;
        while !batch.is_empty() {
            match self.sink.try_push(batch) {
                PushOutcome::Closed => return false,
                PushOutcome::Accepted(n) => {
                    batch = &batch[n..];
                    if !batch.is_empty() {
                        if !held_back {
                            self.sink.note_back_pressure();
                            held_back = true;
                        }
                        self.sink.wait_for_space().await;
                    }
                }
            }
        }
        true
    }
}

/// Wall-clock source for timestamps. Injected so tests can pin time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's real-time clock, as every sample's timestamp should come from in production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// Fires once when the agent stops or reloads this driver.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// A trigger and its listener.
    pub fn new() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown { rx })
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when shutdown is requested (or its trigger is dropped).
    pub async fn triggered(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

/// Everything a running driver gets from the agent.
pub struct DriverContext {
    pub publisher: Publisher,
    /// Validated writes for this link's writable tags (limits already checked by the agent).
    pub writes: WriteQueue,
    pub shutdown: Shutdown,
    pub clock: Arc<dyn Clock>,
    /// Per-device counters and health, keyed by device name, created by the agent from the config.
    pub devices: HashMap<String, Arc<DeviceStats>>,
    pub texts: Arc<TextPool>,
    /// Tag ids by name, for drivers that learn tag names at run time (MQTT topics, OPC UA browse).
    pub tag_ids: Arc<HashMap<String, TagId>>,
}

impl DriverContext {
    /// Stats of `device`, or a detached set if the agent did not register it (counted nowhere).
    pub fn device(&self, device: &str) -> Arc<DeviceStats> {
        self.devices.get(device).cloned().unwrap_or_else(|| Arc::new(DeviceStats::new(device)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Notify;

    /// A sink that takes at most `room` samples until `drain` is called.
    struct Tight {
        taken: Mutex<Vec<Sample>>,
        room: AtomicUsize,
        space: Notify,
        pressure: AtomicUsize,
    }

    impl SampleSink for Tight {
        fn try_push(&self, batch: &[Sample]) -> PushOutcome {
            let n = batch.len().min(self.room.load(Ordering::SeqCst));
            self.room.fetch_sub(n, Ordering::SeqCst);
            self.taken.lock().unwrap().extend_from_slice(&batch[..n]);
            PushOutcome::Accepted(n)
        }
        fn wait_for_space(&self) -> crate::BoxFuture<'_, ()> {
            Box::pin(self.space.notified())
        }
        fn note_back_pressure(&self) {
            self.pressure.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn publish_waits_for_space_and_loses_nothing() {
        let sink = Arc::new(Tight {
            taken: Mutex::new(Vec::new()),
            room: AtomicUsize::new(3),
            space: Notify::new(),
            pressure: AtomicUsize::new(0),
        });
        let publisher = Publisher::new(sink.clone());
        let batch: Vec<Sample> = (0..8)
            .map(|i| Sample::good(TagId(i), Timestamp(i as i64), protocols::Value::Int(i as i64)))
            .collect();
        let task = tokio::spawn({
            let batch = batch.clone();
            async move { publisher.publish(&batch).await }
        });
        // Free room step by step, as a lossless reader would.
        for _ in 0..10 {
            tokio::task::yield_now().await;
            sink.room.fetch_add(2, Ordering::SeqCst);
            sink.space.notify_waiters();
        }
        assert!(task.await.unwrap());
        assert_eq!(*sink.taken.lock().unwrap(), batch);
        assert_eq!(sink.pressure.load(Ordering::SeqCst), 1, "one episode, however many waits");
    }
}
