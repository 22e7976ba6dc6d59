//! A set of built engines: which engine reads which tag, when each is next ticked, whose writes are whose.

use std::collections::BTreeMap;
use std::time::Duration;

use protocols::{Sample, TagId, Timestamp};

use crate::config::Config;
use crate::engine::{Command, CommandError, Emitter, Engine, EngineConfig, EngineInput, Gauges, WriteIntent};

struct Slot {
    name: String,
    kind: &'static str,
    engine: Box<dyn Engine>,
    tick: Duration,
    /// When `on_tick` is next due; `None` until the first tick sets the phase.
    next_tick: Option<Timestamp>,
}

pub struct EngineSet {
    slots: Vec<Slot>,
    /// Indexed by tag id: the engines that read that tag.
    watchers: Vec<Vec<usize>>,
    /// Writes asked for since the last [`EngineSet::take_writes`], with the engine that asked.
    writes: Vec<(usize, WriteIntent)>,
    tag_names: Vec<String>,
}

impl EngineSet {
    /// Builds the engines of `config` that read `input` (every engine with `None`). An engine that cannot
    /// be built is logged and left out; validation makes that a bug, not a user error.
    pub fn build(config: &Config, input: Option<EngineInput>) -> EngineSet {
        Self::build_where(config, |e| input.is_none_or(|i| e.input() == i))
    }

    /// Builds the engines of `config` that `pick` chooses.
    pub fn build_where(config: &Config, pick: impl Fn(&dyn EngineConfig) -> bool) -> EngineSet {
        let registry = &config.tags.registry;
        let mut set = EngineSet {
            slots: Vec::new(),
            watchers: vec![Vec::new(); registry.len()],
            writes: Vec::new(),
            tag_names: registry.iter().map(|(_, n)| n.to_owned()).collect(),
        };
        for cfg in config.engines.iter().filter(|e| pick(e.as_ref())) {
            let engine = match cfg.build_in(&config.tags) {
                Ok(e) => e,
                Err(why) => {
                    tracing::error!(engine = %cfg.name(), "engine not started: {why}");
                    continue;
                }
            };
            let index = set.slots.len();
            for r in cfg.reads() {
                if let Some(w) =
                    registry.id(r.tag.get_ref()).and_then(|id| set.watchers.get_mut(id.0 as usize))
                {
                    w.push(index);
                }
            }
            set.slots.push(Slot {
                name: cfg.name(),
                kind: cfg.kind(),
                engine,
                tick: cfg.tick(),
                next_tick: None,
            });
        }
        set
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn tag_name(&self, tag: TagId) -> &str {
        self.tag_names.get(tag.0 as usize).map_or("", String::as_str)
    }

    pub fn on_samples(&mut self, batch: &[Sample], out: &mut Emitter) {
        for s in batch {
            if let Some(watchers) = self.watchers.get(s.tag.0 as usize) {
                for &i in watchers {
                    let before = out.writes.len();
                    let slot = &mut self.slots[i];
                    guarded(&slot.name, || slot.engine.on_sample(s, out));
                    claim(&mut self.writes, i, before, out);
                }
            }
        }
    }

    /// Ticks every engine whose period has come round by `now`.
    pub fn tick_due(&mut self, now: Timestamp, out: &mut Emitter) {
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let due = slot.next_tick.is_none_or(|t| t <= now);
            if due {
                let before = out.writes.len();
                guarded(&slot.name, || slot.engine.on_tick(now, out));
                claim(&mut self.writes, i, before, out);
                let step = i64::try_from(slot.tick.as_nanos()).unwrap_or(i64::MAX).max(1);
                // A late tick shifts the phase instead of ticking several times to catch up.
                let next = slot.next_tick.map_or(now.0, |t| t.0).saturating_add(step);
                slot.next_tick = Some(Timestamp(next.max(now.0.saturating_add(1))));
            }
        }
    }

    /// Ticks every engine once, whatever its period (`edge-agent test`).
    pub fn tick_all(&mut self, now: Timestamp, out: &mut Emitter) {
        for slot in &mut self.slots {
            slot.next_tick = None;
        }
        self.tick_due(now, out);
    }

    /// The earliest time an engine wants its next tick.
    pub fn next_tick(&self) -> Option<Timestamp> {
        self.slots.iter().map(|s| s.next_tick.unwrap_or(Timestamp(i64::MIN))).min()
    }

    pub fn on_write_result(
        &mut self,
        engine: usize,
        intent: WriteIntent,
        result: Result<(), String>,
        out: &mut Emitter,
    ) {
        if let Some(slot) = self.slots.get_mut(engine) {
            let before = out.writes.len();
            guarded(&slot.name, || slot.engine.on_write_result(intent, result, out));
            claim(&mut self.writes, engine, before, out);
        }
    }

    pub fn engine_name(&self, engine: usize) -> &str {
        self.slots.get(engine).map_or("", |s| s.name.as_str())
    }

    /// The status of each engine named in `names`, in that order.
    pub fn statuses(&self, names: &[&str]) -> Vec<Option<serde_json::Value>> {
        names
            .iter()
            .map(|n| self.slots.iter().find(|s| s.name == *n).and_then(|s| s.engine.status()))
            .collect()
    }

    pub fn has_writes(&self) -> bool {
        !self.writes.is_empty()
    }

    pub fn take_writes(&mut self) -> Vec<(usize, WriteIntent)> {
        std::mem::take(&mut self.writes)
    }

    /// The views that changed since last asked, as (kind, engine name, view).
    pub fn take_views(&mut self) -> Vec<(&'static str, String, serde_json::Value)> {
        let mut views = Vec::new();
        for slot in &mut self.slots {
            let mut view = None;
            guarded(&slot.name, || view = slot.engine.view());
            if let Some(v) = view {
                views.push((slot.kind, slot.name.clone(), v));
            }
        }
        views
    }

    /// Hands an operator's command to the engine named `engine`.
    pub fn command(
        &mut self,
        engine: &str,
        now: Timestamp,
        command: &Command,
        out: &mut Emitter,
    ) -> Result<serde_json::Value, CommandError> {
        let Some(i) = self.slots.iter().position(|s| s.name == engine) else {
            return Err(CommandError::NoSuchEngine(engine.to_owned()));
        };
        let before = out.writes.len();
        let slot = &mut self.slots[i];
        let mut answer = Err(CommandError::Unavailable);
        guarded(&slot.name, || answer = slot.engine.on_command(now, command, out));
        claim(&mut self.writes, i, before, out);
        answer
    }

    /// What each engine of `kind` shows an operator.
    pub fn status(&self, kind: &str) -> Vec<serde_json::Value> {
        self.slots.iter().filter(|s| s.kind == kind).filter_map(|s| s.engine.status()).collect()
    }

    /// Every engine's figures for /metrics, summed.
    pub fn gauges(&self) -> Gauges {
        let mut g = Gauges::default();
        for s in &self.slots {
            s.engine.gauges(&mut g);
        }
        g
    }

    /// Each engine's saved state, by engine name.
    pub fn save(&self) -> BTreeMap<String, serde_json::Value> {
        self.slots.iter().filter_map(|s| s.engine.save().map(|v| (s.name.clone(), v))).collect()
    }

    /// Gives each engine the state saved under its name; an engine whose state does not fit starts fresh.
    pub fn restore(&mut self, mut saved: BTreeMap<String, serde_json::Value>) {
        for slot in &mut self.slots {
            if let Some(state) = saved.remove(&slot.name)
                && let Err(why) = slot.engine.restore(state)
            {
                tracing::warn!(engine = %slot.name, "saved state not taken ({why}); the engine starts fresh");
            }
        }
    }
}

/// Runs one engine call; a panic inside it goes on as a panic that names the engine, for the supervisor
/// of the host to log and restart.
fn guarded(name: &str, call: impl FnOnce()) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        panic!("engine {name}: {}", crate::runtime::supervise::panic_text(&*payload));
    }
}

/// Notes which engine asked for the writes it just added to `out`.
fn claim(writes: &mut Vec<(usize, WriteIntent)>, engine: usize, before: usize, out: &Emitter) {
    writes.extend(out.writes[before..].iter().map(|w| (engine, *w)));
}
