//! One generation of the running plant: the drivers, ring, readers and engines built from one config.
//! A reload stops one generation (drained, nothing lost) and starts the next.

pub mod engines;
pub mod history;
mod links;
pub mod plant;
mod relay;
mod reload;
pub use reload::ReloadReport;
pub mod snapshot;
pub mod supervise;
pub mod uplinks;
pub mod writes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::{Clock, DeviceStats};
use protocols::TextPool;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::ring::{ReadPolicy, Ring, RingReader};
use crate::store::persist::{Feed, Persist};
use crate::uplink::UplinkStats;
use engines::{EngineControl, EngineStats, HostWiring, start_engines};
use snapshot::Snapshot;
use supervise::Component;
use uplinks::UplinkRun;
use writes::WriteRouter;

/// Writes queued per link before a writer waits: control loops write a few values a second at most.
const WRITE_QUEUE: usize = 16;

/// What the HTTP listener and the status line read: shared, read-only.
pub struct Generation {
    pub config: Arc<Config>,
    pub ring: Arc<Ring>,
    /// In config order.
    pub devices: Vec<Arc<DeviceStats>>,
    /// Each device's protocol, beside `devices`.
    pub device_kinds: Vec<&'static str>,
    pub snapshot: Arc<Snapshot>,
    /// The last minutes of every numeric tag, for the console's sparklines.
    pub history: Arc<history::History>,
    pub engines: Arc<EngineStats>,
    /// Operators' commands to engines (acknowledge, shelve), and what engines show them.
    pub control: EngineControl,
    pub texts: Arc<TextPool>,
    pub writes: WriteRouter,
    pub started: Instant,
    /// The durable store, when this generation feeds one (`run`, not `test`).
    pub store: Option<Arc<crate::store::Shared>>,
    pub uplinks: Vec<Arc<UplinkStats>>,
    /// Every supervised task: links, engine hosts, uplinks.
    pub components: Vec<Arc<Component>>,
    /// Control loops, for the API's modes and setpoints and /metrics.
    pub loops: Arc<engines::looping::Loops>,
}

/// A link of a starting generation: kept running from the last one, or built from the config.
enum Slot {
    Kept(links::LinkRun),
    Planned(plant::LinkPlan, (mpsc::Sender<drivers::WriteRequest>, mpsc::Receiver<drivers::WriteRequest>)),
}

/// A started generation and the handles to stop it.
pub struct Running {
    pub generation: Arc<Generation>,
    /// In config order.
    links: Vec<links::LinkRun>,
    /// Kept links' write queues, forwarded with the tag ids their drivers were built with.
    forwarders: Vec<JoinHandle<()>>,
    readers: Vec<JoinHandle<()>>,
    stop_engines: watch::Sender<bool>,
    lossless: Option<JoinHandle<()>>,
    uplinks: Vec<UplinkRun>,
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
        Self::start_inner(config, clock, process_start, false, store, reload::Carried::default()).0
    }

    /// Starts the drivers only, with a lossless tap on the ring in place of the engines: `edge-agent test`
    /// runs the engines itself, once, on what one scan acquired.
    pub fn start_tapped(config: Config, clock: Arc<dyn Clock>) -> (Running, RingReader) {
        let (running, tap) =
            Self::start_inner(config, clock, Instant::now(), true, None, reload::Carried::default());
        (running, tap.expect("a tapped start makes a tap"))
    }

    fn start_inner(
        config: Config,
        clock: Arc<dyn Clock>,
        process_start: Instant,
        tapped: bool,
        store: Option<&Persist>,
        mut carried: reload::Carried,
    ) -> (Running, Option<RingReader>) {
        let config = Arc::new(config);
        let links = plant::plan_links(&config, |i| carried.kept.contains_key(&i));
        let ring = Ring::new(*config.agent.ring_capacity.get_ref());
        // Kept links intern texts in the pool they started with.
        let texts = carried.texts.take().unwrap_or_else(|| Arc::new(TextPool::new()));
        let tag_ids: Arc<HashMap<String, protocols::TagId>> =
            Arc::new(config.tags.registry.iter().map(|(id, n)| (n.to_owned(), id)).collect());
        let snapshot = Arc::new(Snapshot::new(config.tags.registry.len()));
        let history = Arc::new(history::History::new(config.tags.registry.len()));
        let engine_stats = Arc::new(EngineStats::default());

        // Readers first, so they start at sequence 0 and see the very first sample.
        let mut readers = Vec::new();
        readers.push(tokio::spawn(snapshot::run(
            snapshot.clone(),
            history.clone(),
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
        // Every link's write queue first: the write router exists before any engine starts.
        let mut slots = Vec::new();
        let mut routes = Vec::new();
        let mut forwarders = Vec::new();
        for (i, plan) in links.into_iter().enumerate() {
            match (carried.kept.remove(&i), plan) {
                (Some(kept), _) => {
                    let (tx, forwarder) = reload::forward_writes(&kept, &config);
                    forwarders.extend(forwarder);
                    routes.push((plant::writable(&config, &*kept.config), tx));
                    slots.push(Slot::Kept(kept));
                }
                (None, Some(plan)) => {
                    let (write_tx, write_rx) = mpsc::channel(WRITE_QUEUE);
                    routes.push((plan.writable.clone(), write_tx.clone()));
                    slots.push(Slot::Planned(plan, (write_tx, write_rx)));
                }
                (None, None) => {}
            }
        }
        let writes = WriteRouter::new(&config, tag_ids.clone(), &routes);

        let mut components = Vec::new();
        let (stop_engines, engines_stop) = watch::channel(false);
        let (control, requests) = EngineControl::new(&config);
        let lossless = if tapped {
            None
        } else {
            let wiring = HostWiring {
                config: &config,
                ring: &ring,
                router: &writes,
                stats: &engine_stats,
                clock: &clock,
                texts: &texts,
                requests,
            };
            start_engines(wiring, store, engines_stop, &mut readers, &mut components)
        };

        // Control loops on threads of their own: a loop's period is not the async runtime's to keep.
        let loops = if tapped {
            Arc::default()
        } else {
            engines::looping::start(
                &config,
                &ring,
                &writes,
                &engine_stats,
                &clock,
                &mut readers,
                &mut components,
            )
        };

        let mut uplink_stats = Vec::new();
        let mut uplinks = Vec::new();
        for cfg in config.uplinks.iter().filter(|_| store.is_some()) {
            let run = match carried.uplinks.remove(&cfg.name) {
                Some(kept) => {
                    kept.route_through(writes.clone());
                    kept
                }
                None => UplinkRun::start(cfg, store.expect("filtered").shared.clone(), writes.clone()),
            };
            uplink_stats.push(run.stats.clone());
            components.push(run.component.clone());
            uplinks.push(run);
        }
        // A reload carries only uplinks the next config has; one left over must not run unowned.
        carried.uplinks.values().for_each(UplinkRun::signal_stop);

        let shared = Arc::new(links::Shared {
            config: config.clone(),
            clock: clock.clone(),
            texts: texts.clone(),
            tag_ids,
        });
        let mut devices = Vec::new();
        let mut device_kinds = Vec::new();
        let mut running_links = Vec::new();
        for slot in slots {
            let run = match slot {
                Slot::Kept(kept) => {
                    let (origin, current) = (&kept.origin.tags.registry, &config.tags.registry);
                    kept.relay.resume(Arc::new(ring.writer()), origin, current);
                    kept
                }
                Slot::Planned(plan, queue) => links::start(plan, queue, &ring, &shared),
            };
            device_kinds.extend(run.devices.iter().map(|_| run.kind));
            devices.extend(run.devices.iter().cloned());
            components.push(run.component.clone());
            running_links.push(run);
        }
        let generation = Arc::new(Generation {
            config,
            ring,
            devices,
            device_kinds,
            snapshot,
            history,
            engines: engine_stats,
            control,
            texts,
            writes,
            started: Instant::now(),
            store: store.map(|p| p.shared.clone()),
            uplinks: uplink_stats,
            components,
            loops,
        });
        let running = Running {
            generation,
            links: running_links,
            forwarders,
            readers,
            stop_engines,
            lossless,
            uplinks,
        };
        (running, tap)
    }

    /// Stops acquisition, lets every reader drain the ring, and waits at most `grace` in all.
    pub async fn stop(mut self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        for link in &self.links {
            let _ = link.stop.send(true);
        }
        for link in std::mem::take(&mut self.links) {
            link.stop(deadline).await;
        }
        self.forwarders.drain(..).for_each(|f| f.abort());
        // Lossless engines take what the store holds and save their state while the ring still takes
        // what they derive.
        let _ = self.stop_engines.send(true);
        if let Some(task) = self.lossless.take() {
            if !supervise::finish_by(task, deadline).await {
                tracing::warn!(
                    "lossless engines did not stop in time; aborted (they replay from their saved state)"
                );
            }
        }
        // No writer is left: closing lets readers take what remains and then end.
        self.generation.ring.close();
        for task in std::mem::take(&mut self.readers) {
            if !supervise::finish_by(task, deadline).await {
                tracing::warn!("a ring reader did not drain in time; aborted");
            }
        }
        // Uplinks save their position; what they had not sent is resent by the next generation or start.
        self.uplinks.iter().for_each(UplinkRun::signal_stop);
        for uplink in std::mem::take(&mut self.uplinks) {
            uplink.stop(deadline).await;
        }
    }
}

/// A generation dropped without [`Running::stop`] (a test that failed midway, a bug) must not leave the
/// store thread waiting for a ring that never closes: everything is told to stop.
impl Drop for Running {
    fn drop(&mut self) {
        for link in &self.links {
            let _ = link.stop.send(true);
        }
        self.forwarders.iter().for_each(|f| f.abort());
        let _ = self.stop_engines.send(true);
        self.generation.ring.close();
        self.uplinks.iter().for_each(UplinkRun::signal_stop);
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_reload;
