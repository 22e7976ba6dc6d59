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
use crate::store::persist::{Feed, Persist};
use crate::uplink::UplinkStats;
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
    /// The durable store, when this generation feeds one (`run`, not `test`).
    pub store: Option<Arc<crate::store::Shared>>,
    pub uplinks: Vec<Arc<UplinkStats>>,
}

/// A running driver and the task that watches it.
struct LinkTask {
    name: String,
    driver: tokio::task::AbortHandle,
    monitor: JoinHandle<()>,
}

/// Watches a driver task: a driver that fails or panics (a bug) is logged once and its devices show
/// down with the reason, while every other link keeps running.
fn supervise(
    name: String,
    driver: JoinHandle<Result<(), drivers::DriverError>>,
    devices: Vec<Arc<DeviceStats>>,
) -> LinkTask {
    let abort = driver.abort_handle();
    let link = name.clone();
    let monitor = tokio::spawn(async move {
        let why = match driver.await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) if e.is_panic() => {
                let payload = e.into_panic();
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                format!(
                    "driver crashed: {text} (a bug: please report it); the link stays down until a reload"
                )
            }
            Err(_) => return,
        };
        tracing::error!(link = %link, "link stopped: {why}");
        for d in &devices {
            d.scan_failed(drivers::ErrorKind::Link, &why);
        }
    });
    LinkTask { name, driver: abort, monitor }
}

/// A started generation and the handles to stop it.
pub struct Running {
    pub generation: Arc<Generation>,
    stop_drivers: watch::Sender<bool>,
    drivers: Vec<LinkTask>,
    readers: Vec<JoinHandle<()>>,
    stop_uplinks: watch::Sender<bool>,
    uplinks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts every driver and reader of `config`, feeding `store` and its uplinks when given. Must be
    /// called inside the tokio runtime.
    pub fn start(
        config: Config,
        clock: Arc<dyn Clock>,
        process_start: Instant,
        store: Option<&Persist>,
    ) -> Running {
        Self::start_inner(config, clock, process_start, false, store).0
    }

    /// Starts the drivers only, with a lossless tap on the ring in place of the engines: `edge-agent test`
    /// runs the engines itself, once, on what one scan acquired.
    pub fn start_tapped(config: Config, clock: Arc<dyn Clock>) -> (Running, RingReader) {
        let (running, tap) = Self::start_inner(config, clock, Instant::now(), true, None);
        (running, tap.expect("a tapped start makes a tap"))
    }

    fn start_inner(
        config: Config,
        clock: Arc<dyn Clock>,
        process_start: Instant,
        tapped: bool,
        store: Option<&Persist>,
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
        if let Some(persist) = store {
            persist.feed(Feed {
                reader: ring.reader("store", ReadPolicy::Lossless),
                dict: crate::export::dictionary(&config),
                texts: texts.clone(),
            });
        }
        let (stop_uplinks, uplinks_stop) = watch::channel(false);
        let mut uplink_stats = Vec::new();
        let mut uplinks = Vec::new();
        for cfg in config.uplinks.iter().filter(|_| store.is_some()) {
            let stats = Arc::new(UplinkStats::new(&cfg.name));
            uplink_stats.push(stats.clone());
            let shared = store.expect("filtered").shared.clone();
            uplinks.push(cfg.start(shared, stats, uplinks_stop.clone()));
        }
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
            drivers.push(supervise(name, tokio::spawn(task), stats_of_link));
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
            store: store.map(|p| p.shared.clone()),
            uplinks: uplink_stats,
        });
        (Running { generation, stop_drivers, drivers, readers, stop_uplinks, uplinks }, tap)
    }

    /// Stops acquisition, lets every reader drain the ring, and waits at most `grace` in all.
    pub async fn stop(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let _ = self.stop_drivers.send(true);
        for link in self.drivers {
            if tokio::time::timeout_at(deadline, link.monitor).await.is_err() {
                tracing::warn!(link = %link.name, "link did not stop in time; aborted");
                link.driver.abort();
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
        // Uplinks save their position; what they had not sent is resent by the next generation or start.
        let _ = self.stop_uplinks.send(true);
        for task in self.uplinks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(
                    "an uplink did not stop in time; aborted (it resends from its saved position)"
                );
                abort.abort();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_crashing_driver_takes_only_its_own_devices_down() {
        let device = Arc::new(DeviceStats::new("press-7"));
        device.scan_ok(1, Duration::from_millis(1));
        let crashing = tokio::spawn(async { panic!("register map out of bounds") });
        let link = supervise("rs485-2".into(), crashing, vec![device.clone()]);
        link.monitor.await.unwrap();
        assert!(!device.is_up());
        let why = device.last_error().unwrap();
        assert!(why.contains("driver crashed: register map out of bounds"), "{why}");

        let failing = tokio::spawn(async {
            Err(drivers::DriverError::Setup { link: "rs485-3".into(), message: "port busy".into() })
        });
        let other = Arc::new(DeviceStats::new("press-8"));
        supervise("rs485-3".into(), failing, vec![other.clone()]).monitor.await.unwrap();
        assert!(other.last_error().unwrap().contains("link rs485-3: port busy"));
    }
}
