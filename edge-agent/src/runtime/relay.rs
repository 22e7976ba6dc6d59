//! Where a link's samples go: the ring of the generation it currently belongs to. A reload keeps an
//! unchanged link running and moves its relay to the next generation's ring: while the old generation
//! drains, the relay holds what the link acquires, and hands it on, in order, once the next ring is
//! there. The link never waits and never loses a scan.

use std::sync::{Arc, Mutex};

use drivers::{BoxFuture, PushOutcome, SampleSink};
use protocols::{Sample, TagId, TagRegistry};
use tokio::sync::Notify;

/// Samples held per link while generations swap: minutes of a fast link, a few MB at most.
const MAX_HELD: usize = 65_536;

pub struct Relay {
    route: Mutex<Route>,
    /// Wakes a link that filled the hold (or the ring) once the next ring is there.
    resumed: Notify,
}

struct Route {
    /// The current ring, or none while generations swap.
    ring: Option<Arc<dyn SampleSink>>,
    /// The link's tag ids (fixed when its driver was built) to the current generation's, when they
    /// differ; a tag the current config no longer has maps to none and is dropped.
    remap: Option<Vec<Option<TagId>>>,
    held: Vec<Sample>,
}

impl Relay {
    pub fn new(ring: Arc<dyn SampleSink>) -> Arc<Relay> {
        Arc::new(Relay {
            route: Mutex::new(Route { ring: Some(ring), remap: None, held: Vec::new() }),
            resumed: Notify::new(),
        })
    }

    fn route(&self) -> std::sync::MutexGuard<'_, Route> {
        self.route.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds what the link acquires from now on, until [`Relay::resume`].
    pub fn hold(&self) {
        self.route().ring = None;
    }

    /// Sends to `ring` from now on, first what was held. `origin` named the ids the link's driver was
    /// built with; `current` is the registry of the generation that adopts it.
    pub fn resume(&self, ring: Arc<dyn SampleSink>, origin: &TagRegistry, current: &TagRegistry) {
        let same =
            origin.len() == current.len() && origin.iter().all(|(id, name)| current.id(name) == Some(id));
        let remap: Option<Vec<Option<TagId>>> =
            (!same).then(|| origin.iter().map(|(_, name)| current.id(name)).collect());
        let mut route = self.route();
        // What was held is in the driver's ids: from here on `held` is in the ring's.
        if let Some(out) = mapped(&remap, &route.held) {
            route.held = out;
        }
        route.ring = Some(ring);
        route.remap = remap;
        drop(route);
        self.resumed.notify_waiters();
    }
}

fn mapped(remap: &Option<Vec<Option<TagId>>>, batch: &[Sample]) -> Option<Vec<Sample>> {
    let remap = remap.as_ref()?;
    Some(
        batch
            .iter()
            .filter_map(|s| {
                let tag = remap.get(s.tag.0 as usize).copied().flatten()?;
                Some(Sample { tag, ..*s })
            })
            .collect(),
    )
}

impl SampleSink for Relay {
    fn try_push(&self, batch: &[Sample]) -> PushOutcome {
        let mut route = self.route();
        let route = &mut *route;
        let Some(ring) = route.ring.clone() else {
            let room = MAX_HELD.saturating_sub(route.held.len()).min(batch.len());
            route.held.extend_from_slice(&batch[..room]);
            return PushOutcome::Accepted(room);
        };
        if !route.held.is_empty() {
            match ring.try_push(&route.held) {
                PushOutcome::Closed => return PushOutcome::Closed,
                PushOutcome::Accepted(n) => {
                    route.held.drain(..n);
                    if !route.held.is_empty() {
                        return PushOutcome::Accepted(0);
                    }
                }
            }
        }
        let Some(out) = mapped(&route.remap, batch) else { return ring.try_push(batch) };
        match ring.try_push(&out) {
            // The relay takes the whole batch once its mapped samples are in or held (a tag gone from
            // the config is dropped, not waited for).
            PushOutcome::Accepted(n) => {
                route.held.extend_from_slice(&out[n..]);
                PushOutcome::Accepted(batch.len())
            }
            closed => closed,
        }
    }

    fn wait_for_space(&self) -> BoxFuture<'_, ()> {
        // Created before looking, so a resume in between is not missed (notify_waiters wakes it).
        let resumed = self.resumed.notified();
        let ring = self.route().ring.clone();
        Box::pin(async move {
            match ring {
                Some(ring) => ring.wait_for_space().await,
                None => resumed.await,
            }
        })
    }

    fn note_back_pressure(&self) {
        if let Some(ring) = self.route().ring.clone() {
            ring.note_back_pressure();
        }
    }
}
