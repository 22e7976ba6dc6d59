//! The host of engines that must see every sample (energy totals, SPC, emission aggregates): it reads
//! the durable store like an uplink, from a saved position, and keeps the engines' state beside that
//! position in `<store>/engines/lossless.json`. After `kill -9` it restores the state and replays from
//! the position that state was taken at: nothing is counted twice and no interval is lost.
//!
//! It holds nobody back: the ring's only lossless reader is the store, which waits for nobody, so a
//! slow engine here only falls behind in the store (kept by a [`crate::store::Hold`] until read, up to
//! `max_bytes`).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::Clock;
use protocols::{Sample, TagId, TagRegistry};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use super::control::{self, Requests};
use super::lossy::until;
use super::{EngineSet, Outlet, WriteOutcome};
use crate::store::{Batch, Dictionary, LogReader, Shared};

/// Samples taken from the store per step.
const BATCH: usize = 8192;
/// How often the state is saved. What is saved is the state of one period earlier, whose derived samples
/// have had a whole period to reach the store: a crash may repeat a derived sample, never lose one.
const SAVE_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Store sequence number of the next sample the engines have not seen.
    pub position: u64,
    /// Each engine's state, by engine name.
    pub states: BTreeMap<String, serde_json::Value>,
}

impl Checkpoint {
    pub fn path(store_dir: &Path) -> PathBuf {
        store_dir.join("engines").join("lossless.json")
    }

    pub fn load(path: &Path) -> io::Result<Option<Checkpoint>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the file atomically: written beside it, fsynced, renamed over it.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}

/// Maps the tag ids of the segment a batch came from onto this generation's ids (a reload may have
/// renumbered tags since the sample was stored).
struct Translation {
    dict: Option<Arc<Dictionary>>,
    ids: Vec<Option<TagId>>,
}

impl Translation {
    fn apply(&mut self, batch: &Batch, registry: &TagRegistry, out: &mut Vec<Sample>) {
        if !self.dict.as_ref().is_some_and(|d| Arc::ptr_eq(d, &batch.dict)) {
            self.ids = batch.dict.tags.iter().map(|(_, name)| registry.id(name)).collect();
            self.dict = Some(batch.dict.clone());
        }
        out.extend(batch.samples.iter().filter_map(|s| {
            let tag = self.ids.get(s.tag.0 as usize).copied().flatten()?;
            Some(Sample { tag, ..*s })
        }));
    }
}

pub(crate) struct LosslessHost {
    pub set: EngineSet,
    pub store: Arc<Shared>,
    pub registry: TagRegistry,
    pub outlet: Outlet,
    pub results: mpsc::UnboundedReceiver<WriteOutcome>,
    pub requests: Option<Requests>,
    pub clock: Arc<dyn Clock>,
    pub stop: watch::Receiver<bool>,
}

impl LosslessHost {
    pub async fn run(mut self) {
        let path = Checkpoint::path(self.store.dir());
        let position = match Checkpoint::load(&path) {
            Ok(Some(saved)) => {
                self.set.restore(saved.states);
                saved.position
            }
            Ok(None) => self.store.head(),
            Err(e) => {
                tracing::error!(
                    "lossless engines: cannot read their saved state ({e}); they start fresh from now"
                );
                self.store.head()
            }
        };
        let hold = self.store.hold(position);
        let mut reader = Some(LogReader::new(self.store.clone(), position));
        let mut translation = Translation { dict: None, ids: Vec::new() };
        let mut samples = Vec::with_capacity(BATCH);
        let mut out = self.outlet.emitter();
        let mut pending: Option<Checkpoint> = None;
        let mut saved_at = Instant::now();
        let mut requests = control::take(&self.requests).await;
        self.outlet.stats.publish_gauges("lossless", self.set.gauges());
        loop {
            if *self.stop.borrow() {
                break;
            }
            let mut taken = reader.take().expect("the reader is put back after each read");
            let (back, read) = tokio::task::spawn_blocking(move || {
                let r = taken.read(BATCH);
                (taken, r)
            })
            .await
            .expect("the store reader does not panic");
            let at = back.position();
            reader = Some(back);
            match read {
                Ok(Some(batch)) => {
                    translation.apply(&batch, &self.registry, &mut samples);
                    self.set.on_samples(&samples, &mut out);
                    samples.clear();
                    hold.set(at);
                }
                Ok(None) => {
                    // Caught up: time passes for the engines only now, so a replay never ticks ahead.
                    self.set.tick_due(self.clock.now(), &mut out);
                    if out.is_empty() && !self.set.has_writes() {
                        self.idle(&mut requests).await;
                    }
                }
                Err(e) => {
                    tracing::error!("lossless engines: cannot read the store: {e}; retrying in 1s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            // While catching up, operators are served between batches.
            while let Some(request) = requests.as_mut().and_then(|r| r.try_recv().ok()) {
                control::serve(&mut self.set, request, self.clock.now(), &mut out, |_| {});
            }
            if !self.outlet.flush(&mut self.set, &mut out).await {
                break;
            }
            if saved_at.elapsed() >= SAVE_EVERY {
                saved_at = Instant::now();
                self.outlet.stats.publish_gauges("lossless", self.set.gauges());
                let now = Checkpoint { position: at, states: self.set.save() };
                if let Some(previous) = pending.replace(now) {
                    save(&previous, &path);
                }
            }
        }
        let position = reader.map_or(0, |r| r.position());
        // A clean stop: what was derived is in the ring, which the store drains before the agent exits.
        save(&Checkpoint { position, states: self.set.save() }, &path);
    }

    /// Waits for new samples, a write's outcome, an operator's request, the next tick, or stop.
    async fn idle(&mut self, requests: &mut Option<control::Held>) {
        let appended = self.store.appended.notified();
        let wait = until(self.set.next_tick(), self.clock.now()).min(SAVE_EVERY);
        let mut out = self.outlet.emitter();
        tokio::select! {
            _ = appended => {}
            _ = tokio::time::sleep(wait) => {}
            _ = self.stop.changed() => {}
            Some((engine, intent, result)) = self.results.recv() => {
                self.set.on_write_result(engine, intent, result, &mut out);
            }
            request = control::next(requests) => {
                control::serve(&mut self.set, request, self.clock.now(), &mut out, |_| {});
            }
        }
        let _ = self.outlet.flush(&mut self.set, &mut out).await;
    }
}

fn save(checkpoint: &Checkpoint, path: &Path) {
    if let Err(e) = checkpoint.save(path) {
        tracing::warn!(
            "lossless engines: cannot save their state to {}: {e}; a restart replays from the last saved state",
            path.display()
        );
    }
}
