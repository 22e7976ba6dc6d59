//! Runs the configured engines. Engines that read lossy take the ring ([`lossy`]); engines that must see
//! every sample read the durable store from a saved position ([`lossless`]). Either host dispatches each
//! sample to the engines that read its tag, ticks each engine at its own period, sends what they derive
//! back into the ring, and routes their writes through the write router.
//!
//! Nothing waits in a circle: the store is the only lossless reader of the ring and it waits for nobody,
//! so a host blocked publishing derived samples is always released by the store moving on.

mod audit;
pub mod control;
mod flood;
pub mod looping;
pub mod lossless;
pub mod lossy;
mod set;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::supervise::{Component, supervise};

use drivers::{Clock, Publisher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use control::EngineControl;
pub use set::EngineSet;

use crate::config::Config;
use crate::engine::{Emitter, EngineInput, Event, Gauges, WriteIntent};
use crate::ring::{ReadPolicy, Ring};
use crate::runtime::writes::WriteRouter;
use crate::store::persist::Persist;
use control::Requests;
use protocols::TextPool;

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub engines: AtomicU64,
    pub derived_samples: AtomicU64,
    pub events: AtomicU64,
    pub writes: AtomicU64,
    pub writes_failed: AtomicU64,
    /// Samples the lossy host skipped, kept after its ring reader is gone.
    pub lossy_skipped: AtomicU64,
    /// The latest view of each engine that publishes one, for `GET /<section>`.
    pub views: EngineViews,
    /// Events left out of the log during an alarm flood (summarised instead).
    pub events_summarised: AtomicU64,
    /// What each host's engines add to /metrics, by host, refreshed about once a second.
    gauges: Mutex<BTreeMap<&'static str, Gauges>>,
}

impl EngineStats {
    pub(crate) fn publish_gauges(&self, host: &'static str, gauges: Gauges) {
        self.gauges.lock().unwrap_or_else(|e| e.into_inner()).insert(host, gauges);
    }

    /// Every host's engine figures, summed.
    pub fn gauges(&self) -> Gauges {
        let mut all = Gauges::default();
        for g in self.gauges.lock().unwrap_or_else(|e| e.into_inner()).values() {
            all.merge(g);
        }
        all
    }
}

/// Engine views by engine name, with the kind that made each: written by the hosts after each step,
/// read by the HTTP listener. A poisoned lock only means a writer panicked mid-update of a map of
/// whole values, so readers take it as it is.
#[derive(Debug, Default)]
pub struct EngineViews(Mutex<BTreeMap<String, (&'static str, serde_json::Value)>>);

impl EngineViews {
    pub fn publish(&self, views: Vec<(&'static str, String, serde_json::Value)>) {
        if views.is_empty() {
            return;
        }
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (kind, name, view) in views {
            map.insert(name, (kind, view));
        }
    }

    /// The views of every engine of `kind`, by engine name.
    pub fn of_kind(&self, kind: &str) -> BTreeMap<String, serde_json::Value> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().filter(|(_, (k, _))| *k == kind).map(|(n, (_, v))| (n.clone(), v.clone())).collect()
    }
}

/// Logs an engine event: alarms are what operators look for in the journal.
pub fn log_event(e: &Event) {
    tracing::warn!(source = %e.source, "{}", e.message);
}

/// The outcome of an engine's write, on its way back to the engine that asked.
pub(crate) type WriteOutcome = (usize, WriteIntent, Result<(), String>);

/// What both hosts do with an emitter's contents after each step.
pub(crate) struct Outlet {
    pub publisher: Publisher,
    pub texts: Arc<TextPool>,
    pub stats: Arc<EngineStats>,
    pub router: WriteRouter,
    pub results: mpsc::UnboundedSender<WriteOutcome>,
    pub flood: Mutex<flood::FloodGate>,
}

impl Outlet {
    /// An emitter whose text samples use the generation's pool.
    pub fn emitter(&self) -> Emitter {
        Emitter::with_texts(self.texts.clone())
    }

    /// Logs and counts events, starts writes, publishes derived samples. False once the ring is closed.
    pub async fn flush(&self, set: &mut EngineSet, out: &mut Emitter) -> bool {
        {
            let mut flood = self.flood.lock().unwrap_or_else(|e| e.into_inner());
            for e in out.events.drain(..) {
                self.stats.events.fetch_add(1, Ordering::Relaxed);
                if flood.admit(&e) {
                    log_event(&e);
                } else {
                    self.stats.events_summarised.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        out.writes.clear();
        self.stats.views.publish(set.take_views());
        for (engine, intent) in set.take_writes() {
            self.stats.writes.fetch_add(1, Ordering::Relaxed);
            let name = set.tag_name(intent.tag).to_owned();
            let router = self.router.clone();
            let results = self.results.clone();
            let stats = self.stats.clone();
            // A write waits for the device; the engine goes on and hears the outcome later.
            tokio::spawn(async move {
                let result = router.write(&name, intent.value).await.map_err(|e| e.to_string());
                if result.is_err() {
                    stats.writes_failed.fetch_add(1, Ordering::Relaxed);
                }
                let _ = results.send((engine, intent, result));
            });
        }
        if out.samples.is_empty() {
            return true;
        }
        self.stats.derived_samples.fetch_add(out.samples.len() as u64, Ordering::Relaxed);
        let open = self.publisher.publish(&out.samples).await;
        out.samples.clear();
        open
    }
}

/// Starts the engine hosts of `config` under supervision: lossy engines on a ring reader (pushed to
/// `readers`: it ends when the ring closes), lossless ones on the store (returned: it stops on `stop`,
/// before the ring closes). A host that panics or fails is restarted: lossy engines afresh, lossless ones
/// from their checkpoint.
/// What the engine hosts share with the rest of a generation.
pub(crate) struct HostWiring<'a> {
    pub config: &'a Arc<Config>,
    pub ring: &'a Arc<Ring>,
    pub router: &'a WriteRouter,
    pub stats: &'a Arc<EngineStats>,
    pub clock: &'a Arc<dyn Clock>,
    pub texts: &'a Arc<TextPool>,
    /// Each host's end of the command path.
    pub requests: HashMap<EngineInput, Requests>,
}

pub(crate) fn start_engines(
    wiring: HostWiring<'_>,
    store: Option<&Persist>,
    stop: watch::Receiver<bool>,
    readers: &mut Vec<JoinHandle<()>>,
    components: &mut Vec<Arc<Component>>,
) -> Option<JoinHandle<()>> {
    let HostWiring { config, ring, router, stats, clock, texts, mut requests } = wiring;
    let outlet = {
        let (ring, stats, router, texts) = (ring.clone(), stats.clone(), router.clone(), texts.clone());
        let flood = config.agent.alarm_flood;
        move |results| Outlet {
            flood: Mutex::new(flood::FloodGate::new(flood)),
            publisher: ring.publisher(),
            texts: texts.clone(),
            stats: stats.clone(),
            router: router.clone(),
            results,
        }
    };
    let lossy_count = config.engines.iter().filter(|e| e.input() == EngineInput::Lossy).count();
    if lossy_count > 0 {
        stats.engines.fetch_add(lossy_count as u64, Ordering::Relaxed);
        let component = Component::new("engines", "lossy");
        components.push(component.clone());
        let (config, ring2, clock, outlet) = (config.clone(), ring.clone(), clock.clone(), outlet.clone());
        let lossy_requests = requests.remove(&EngineInput::Lossy);
        // Kept only where samples are kept: `edge-agent test` and unit tests leave no state behind.
        let state = store.map(|p| p.shared.dir().join("engines").join("lossy.json"));
        let start = move || {
            let set = EngineSet::build(&config, Some(EngineInput::Lossy));
            let (tx, rx) = mpsc::unbounded_channel();
            let reader = ring2.reader("engines", ReadPolicy::Lossy);
            let host = lossy::LossyHost {
                set,
                reader,
                outlet: outlet(tx),
                results: rx,
                requests: lossy_requests.clone(),
                clock: clock.clone(),
                state: state.clone(),
            }
            .run();
            async move {
                host.await;
                Ok(())
            }
        };
        let closed = ring.clone();
        readers.push(supervise(component, start, move || closed.is_closed(), |_| {}));
    }
    let lossless_count = config.engines.iter().filter(|e| e.input() == EngineInput::Lossless).count();
    if lossless_count == 0 {
        return None;
    }
    let Some(persist) = store else {
        tracing::error!(
            "{lossless_count} lossless engine(s) not started: they read the durable store, and this run has none"
        );
        return None;
    };
    stats.engines.fetch_add(lossless_count as u64, Ordering::Relaxed);
    let component = Component::new("engines", "lossless");
    components.push(component.clone());
    let (config, store, clock, stop2) = (config.clone(), persist.shared.clone(), clock.clone(), stop.clone());
    let lossless_requests = requests.remove(&EngineInput::Lossless);
    let start = move || {
        let (tx, rx) = mpsc::unbounded_channel();
        let host = lossless::LosslessHost {
            set: EngineSet::build(&config, Some(EngineInput::Lossless)),
            store: store.clone(),
            registry: config.tags.registry.clone(),
            outlet: outlet(tx),
            results: rx,
            requests: lossless_requests.clone(),
            clock: clock.clone(),
            stop: stop2.clone(),
        };
        async move {
            host.run().await;
            Ok(())
        }
    };
    Some(supervise(component, start, move || *stop.borrow(), |_| {}))
}
