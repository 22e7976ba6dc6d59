//! One link's driver built from agent.toml text exactly as the agent builds it, run in-process into a
//! [`TestSink`], so a test can read every sample, send writes straight to the driver, and time its stop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::testing::TestSink;
use drivers::{
    BuildContext, DeviceStats, DriverContext, DriverError, Publisher, Shutdown, SystemClock, WriteError,
    WriteRequest,
};
use edge_agent::config::Config;
use protocols::{Sample, TagId, TextPool, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub struct Harness {
    pub config: Config,
    pub sink: Arc<TestSink>,
    pub devices: HashMap<String, Arc<DeviceStats>>,
    pub texts: Arc<TextPool>,
    writes: mpsc::Sender<WriteRequest>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), DriverError>>,
}

impl Harness {
    /// Checks `text` as `edge-agent check` would (panicking with its errors) and runs its first link.
    pub fn start(text: &str) -> Harness {
        let config = edge_agent::config::parse(text, "agent.toml", &|n| std::env::var(n).ok())
            .unwrap_or_else(|e| panic!("the test's config is invalid:\n{e}\n{text}"));
        let link = config.links.first().expect("a config with a link").clone();
        let registry = &config.tags.registry;
        let tag_id = |t: &str| registry.id(t);
        let driver = link
            .build(&BuildContext { tag_id: &tag_id, data_dir: &config.agent.data_dir })
            .unwrap_or_else(|e| panic!("link {} does not build: {e}", link.name()));
        let devices: HashMap<String, Arc<DeviceStats>> = link
            .devices()
            .iter()
            .map(|d| d.name.get_ref().clone())
            .map(|n| (n.clone(), Arc::new(DeviceStats::new(&n))))
            .collect();
        let sink = Arc::new(TestSink::default());
        let texts = Arc::new(TextPool::new());
        let (writes, rx) = mpsc::channel(4);
        let (stop, shutdown) = Shutdown::new();
        let cx = DriverContext {
            publisher: Publisher::new(sink.clone()),
            writes: rx.into(),
            shutdown,
            clock: Arc::new(SystemClock),
            devices: devices.clone(),
            texts: texts.clone(),
            tag_ids: Arc::new(registry.iter().map(|(id, n)| (n.to_owned(), id)).collect()),
        };
        let task = tokio::spawn(driver.run(cx));
        Harness { config, sink, devices, texts, writes, stop, task }
    }

    pub fn tag(&self, name: &str) -> TagId {
        self.config.tags.registry.id(name).unwrap_or_else(|| panic!("no tag {name}"))
    }

    /// Every sample of `tag` so far, oldest first.
    pub fn samples(&self, tag: &str) -> Vec<Sample> {
        self.sink.of(self.tag(tag))
    }

    pub fn latest(&self, tag: &str) -> Option<Sample> {
        self.samples(tag).last().copied()
    }

    pub fn device(&self, name: &str) -> &DeviceStats {
        &self.devices[name]
    }

    /// Waits up to `within` for `cond`, polling; panics with `what` if it never holds.
    pub async fn until(&self, within: Duration, what: &str, cond: impl Fn(&Harness) -> bool) {
        let deadline = Instant::now() + within;
        while !cond(self) {
            assert!(Instant::now() < deadline, "not within {within:?}: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends a write straight to the driver, past the agent's own limit check: the driver must check again.
    pub async fn write(&self, tag: &str, value: Value) -> Result<(), WriteError> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(WriteRequest { tag: self.tag(tag), value, reply })
            .await
            .expect("the driver serves writes");
        tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .expect("the driver answers a write within 10 s")
            .expect("the driver answers every write")
    }

    /// Stops the driver; returns how long it took, panicking unless it stopped cleanly.
    pub async fn stop(self) -> Duration {
        let started = Instant::now();
        self.stop.send(true).expect("the driver listens for shutdown");
        let outcome = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        assert!(matches!(outcome, Ok(Ok(Ok(())))), "the driver stops cleanly on shutdown: {outcome:?}");
        started.elapsed()
    }
}
