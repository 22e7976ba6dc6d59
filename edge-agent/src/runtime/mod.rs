//! One generation of the running plant: the drivers, ring, readers and engines built from one config.
//! A reload stops one generation (drained, nothing lost) and starts the next.

pub mod engines;
pub mod plant;
pub mod snapshot;
pub mod writes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::{Clock, DeviceStats, DriverContext, Shutdown};
use protocols::TextPool;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::ring::{ReadPolicy, Ring, RingReader};
use engines::{EngineSet, EngineStats};
use snapshot::Snapshot;
use writes::WriteRouter;

/// Writes queued per link before a writer waits: control loops write a few values a second at most.
const WRITE_QUEUE: usize = 16;

/// What the HTTP listener and the status line read: shared, read-only.
pub struct Generation {
    pub config: Arc<Config>,
    pub ring: Arc<Ring>,
    /// In config order.
    pub devices: Vec<Arc<DeviceStats>>,
    pub snapshot: Arc<Snapshot>,
    pub engines: Arc<EngineStats>,
    pub texts: Arc<TextPool>,
    pub writes: WriteRouter,
    pub started: Instant,
}

/// A started generation and the handles to stop it.
pub struct Running {
    pub generation: Arc<Generation>,
    stop_drivers: watch::Sender<bool>,
    drivers: Vec<(String, JoinHandle<()>)>,
    readers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts every driver and reader of `config`. Must be called inside the tokio runtime.
    pub fn start(config: Config, clock: Arc<dyn Clock>, process_start: Instant) -> Running {
        Self::start_inner(config, clock, process_start, false).0
    }

    /// Starts the drivers only, with a lossless tap on the ring in place of the engines: `edge-agent test`
    /// runs the engines itself, once, on what one scan acquired.
    pub fn start_tapped(config: Config, clock: Arc<dyn Clock>) -> (Running, RingReader) {
        let (running, tap) = Self::start_inner(config, clock, Instant::now(), true);
        (running, tap.expect("a tapped start makes a tap"))
    }

    fn start_inner(
        config: Config,
        clock: Arc<dyn Clock>,
        process_start: Instant,
        tapped: bool,
    ) -> (Running, Option<RingReader>) {
        let config = Arc::new(config);
        let links = plant::plan_links(&config);
        let ring = Ring::new(*config.agent.ring_capacity.get_ref());
        let texts = Arc::new(TextPool::new());
        let tag_ids: Arc<HashMap<String, protocols::TagId>> =
            Arc::new(config.tags.registry.iter().map(|(id, n)| (n.to_owned(), id)).collect());
        let snapshot = Arc::new(Snapshot::new(config.tags.registry.len()));
        let engine_stats = Arc::new(EngineStats::default());

        // Readers first, so they start at sequence 0 and see the very first sample.
        let mut readers = Vec::new();
        readers.push(tokio::spawn(snapshot::run(
            snapshot.clone(),
            ring.reader("snapshot", ReadPolicy::Lossy),
            process_start,
        )));
        let tap = tapped.then(|| ring.reader("tap", ReadPolicy::Lossless));
        if !tapped {
            readers.push(tokio::spawn(engines::run(
                EngineSet::from_config(&config),
                ring.reader("engines", ReadPolicy::Lossy),
                ring.publisher(),
                clock.clone(),
                engine_stats.clone(),
            )));
        }

        let (stop_drivers, shutdown) = Shutdown::new();
        let mut devices = Vec::new();
        let mut routes = Vec::new();
        let mut drivers = Vec::new();
        for link in links {
            let stats: HashMap<String, Arc<DeviceStats>> =
                link.devices.iter().map(|d| (d.clone(), Arc::new(DeviceStats::new(d)))).collect();
            let stats_of_link: Vec<Arc<DeviceStats>> =
                link.devices.iter().map(|d| stats[d].clone()).collect();
            devices.extend(stats_of_link.iter().cloned());
            let (write_tx, write_rx) = mpsc::channel(WRITE_QUEUE);
            routes.push((link.writable, write_tx));
            let cx = DriverContext {
                publisher: ring.publisher(),
                writes: write_rx,
                shutdown: shutdown.clone(),
                clock: clock.clone(),
                devices: stats,
                texts: texts.clone(),
                tag_ids: tag_ids.clone(),
            };
            let name = link.name.clone();
            let task = match link.driver {
                Ok(driver) => driver.run(cx),
                Err(e) => {
                    tracing::error!(link = %name, "link not started: {e}");
                    for d in stats_of_link.iter() {
                        d.scan_failed(drivers::ErrorKind::Link, &e);
                    }
                    continue;
                }
            };
            drivers.push((
                link.name,
                tokio::spawn(async move {
                    if let Err(e) = task.await {
                        tracing::error!(link = %name, "link stopped: {e}");
                    }
                }),
            ));
        }
        let writes = WriteRouter::new(&config, &routes);
        let generation = Arc::new(Generation {
            config,
            ring,
            devices,
            snapshot,
            engines: engine_stats,
            texts,
            writes,
            started: Instant::now(),
        });
        (Running { generation, stop_drivers, drivers, readers }, tap)
    }

    /// Stops acquisition, lets every reader drain the ring, and waits at most `grace` in all.
    pub async fn stop(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let _ = self.stop_drivers.send(true);
        for (name, task) in self.drivers {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(link = %name, "link did not stop in time; aborted");
                abort.abort();
            }
        }
        // No writer is left: closing lets readers take what remains and then end.
        self.generation.ring.close();
        for task in self.readers {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!("a ring reader did not drain in time; aborted");
                abort.abort();
            }
        }
    }
}
