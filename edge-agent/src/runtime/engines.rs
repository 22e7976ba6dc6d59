//! Runs the configured engines on a lossy ring reader: dispatches each sample to the engines that watch
//! its tag, ticks them once a second, and feeds what they derive back into the ring.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use drivers::{Clock, Publisher};
use protocols::{Sample, TagId, Timestamp};
use tokio::time::MissedTickBehavior;

use crate::config::Config;
use crate::engine::alarm::AlarmEngine;
use crate::engine::{Emitter, Engine, Event};
use crate::ring::RingReader;

/// Engines are ticked this often, which bounds how late a delay (an alarm's on_delay) can take effect.
pub const TICK: Duration = Duration::from_millis(250);

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub engines: AtomicU64,
    pub derived_samples: AtomicU64,
    pub events: AtomicU64,
}

/// The configured engines and which tags each one watches.
pub struct EngineSet {
    engines: Vec<Box<dyn Engine>>,
    /// Indexed by tag id: the engines that watch that tag.
    watchers: Vec<Vec<usize>>,
}

impl EngineSet {
    /// Builds every engine of `config`. Adding an engine kind adds one block here.
    pub fn from_config(config: &Config) -> EngineSet {
        let registry = &config.tags.registry;
        let mut set = EngineSet { engines: Vec::new(), watchers: vec![Vec::new(); registry.len()] };
        for alarm in &config.alarms {
            // Validation guarantees both tags exist; a missing one would be a bug, so skip rather than crash.
            let (Some(watched), Some(state)) =
                (registry.id(alarm.tag.get_ref()), registry.id(&alarm.state_tag()))
            else {
                tracing::error!(tag = %alarm.tag.get_ref(), "alarm skipped: its tags are not registered");
                continue;
            };
            set.add(&[watched], Box::new(AlarmEngine::new(alarm, watched, state)));
        }
        set
    }

    fn add(&mut self, watched: &[TagId], engine: Box<dyn Engine>) {
        let index = self.engines.len();
        self.engines.push(engine);
        for tag in watched {
            if let Some(w) = self.watchers.get_mut(tag.0 as usize) {
                w.push(index);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.engines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    pub fn on_samples(&mut self, batch: &[Sample], out: &mut Emitter) {
        for s in batch {
            if let Some(watchers) = self.watchers.get(s.tag.0 as usize) {
                for &i in watchers {
                    self.engines[i].on_sample(s, out);
                }
            }
        }
    }

    pub fn on_tick(&mut self, now: Timestamp, out: &mut Emitter) {
        for e in &mut self.engines {
            e.on_tick(now, out);
        }
    }
}

/// Logs an engine event: alarms are what operators look for in the journal.
pub fn log_event(e: &Event) {
    tracing::warn!(source = %e.source, "{}", e.message);
}

pub async fn run(
    mut set: EngineSet,
    mut reader: RingReader,
    publisher: Publisher,
    clock: Arc<dyn Clock>,
    stats: Arc<EngineStats>,
) {
    stats.engines.store(set.len() as u64, Ordering::Relaxed);
    if set.is_empty() {
        return;
    }
    let mut batch = Vec::with_capacity(1024);
    let mut out = Emitter::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            read = reader.read(&mut batch, 1024) => {
                if read.is_none() {
                    break;
                }
                set.on_samples(&batch, &mut out);
                batch.clear();
            }
            _ = tick.tick() => set.on_tick(clock.now(), &mut out),
        }
        for e in out.events.drain(..) {
            stats.events.fetch_add(1, Ordering::Relaxed);
            log_event(&e);
        }
        if !out.samples.is_empty() {
            stats.derived_samples.fetch_add(out.samples.len() as u64, Ordering::Relaxed);
            if !publisher.publish(&out.samples).await {
                break;
            }
            out.samples.clear();
        }
    }
}
