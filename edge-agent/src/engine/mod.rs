//! Engines: plain synchronous logic over samples and time. No sockets, no clocks, no threads.
//!
//! The seam: an engine kind implements [`EngineKind`] (its TOML section and how to read it) and
//! [`EngineConfig`] (one configured engine: the tags it reads, derives and writes, how it reads the
//! plant's samples, how often it is ticked, and how it builds its [`Engine`]). The config loader, `check`
//! and the runtime iterate [`registry::ENGINES`]. `docs/adding-an-engine.md` is the recipe.

pub mod alarm;
pub mod cems;
mod command;
pub mod control;
pub mod energy;
pub mod equipment;
pub mod expr;
mod gauges;
pub mod registry;
pub mod shifts;
pub mod spc;
pub mod stats;
pub mod vibration;
pub mod window;

use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use drivers::ConfigErrors;
use drivers::sections::Problem;
use protocols::{Quality, Sample, TagId, TextPool, Timestamp, Value};
use toml::Spanned;
use toml::de::DeValue;

pub use command::{Command, CommandError};
pub use gauges::{Family, Gauges};

/// Something an engine noticed that a person should see (an alarm raised, a limit hit).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub ts: Timestamp,
    /// Which engine instance, e.g. `alarm kiln.temp`.
    pub source: String,
    pub message: String,
}

/// A value an engine wants written to an actuator: routed through the same checks as any write (the tag
/// must be writable, the value inside its limits); the outcome comes back through
/// [`Engine::on_write_result`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteIntent {
    pub tag: TagId,
    pub value: Value,
    /// Why, in the audit log's words (`auto`, `manual`, `fail-safe`); empty when the engine gives none.
    pub reason: &'static str,
}

/// Where an engine puts what it derives: samples re-enter the ring, events are logged and counted,
/// writes go to the write router.
#[derive(Debug, Default)]
pub struct Emitter {
    pub samples: Vec<Sample>,
    pub events: Vec<Event>,
    pub writes: Vec<WriteIntent>,
    /// The generation's text values: a text sample carries an id into it, as a driver's would.
    pub texts: Arc<TextPool>,
}

impl Emitter {
    /// An emitter whose text samples are interned in `texts` (the hosts give the generation's pool).
    pub fn with_texts(texts: Arc<TextPool>) -> Emitter {
        Emitter { texts, ..Emitter::default() }
    }
    pub fn sample(&mut self, s: Sample) {
        self.samples.push(s);
    }
    /// A text-valued sample, e.g. an alarm event on its way to the historian.
    pub fn text(&mut self, tag: TagId, ts: Timestamp, text: &str) {
        let id = self.texts.intern(text);
        self.samples.push(Sample { tag, ts, value: Value::Text(id), quality: Quality::Good });
    }
    pub fn event(&mut self, e: Event) {
        self.events.push(e);
    }
    pub fn write(&mut self, tag: TagId, value: Value) {
        self.write_for(tag, value, "");
    }
    /// A write with the reason the audit log records beside it.
    pub fn write_for(&mut self, tag: TagId, value: Value, reason: &'static str) {
        self.writes.push(WriteIntent { tag, value, reason });
    }
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.events.is_empty() && self.writes.is_empty()
    }
}

/// Pure logic over samples and time, tested with a fake clock.
pub trait Engine: Send {
    /// A sample of one of the tags the engine's config [`reads`](EngineConfig::reads).
    fn on_sample(&mut self, sample: &Sample, out: &mut Emitter);
    /// Time passed: delays, intervals and loop periods run out here. `now` is the agent's clock.
    fn on_tick(&mut self, now: Timestamp, out: &mut Emitter);
    /// The outcome of a write this engine asked for.
    fn on_write_result(&mut self, _write: WriteIntent, _result: Result<(), String>, _out: &mut Emitter) {}
    /// State to keep across a restart (lossless engines only: totals, counters, runtime hours). Saved with
    /// the engine's position in the store, so after a crash it resumes exactly where the state was taken.
    fn save(&self) -> Option<serde_json::Value> {
        None
    }
    /// Takes back what [`save`](Engine::save) returned, before the first sample.
    fn restore(&mut self, _state: serde_json::Value) -> Result<(), String> {
        Ok(())
    }
    /// What the local API shows of this engine (`GET /<section>`), when it changed since last asked. The
    /// host keeps the latest behind a lock, so the engine itself stays free of locks and cheap to ask.
    fn view(&mut self) -> Option<serde_json::Value> {
        None
    }
    /// An operator's action (acknowledge, shelve; a loop's mode or setpoint), at `now` of the agent's
    /// clock. A lossy engine that answers [`save`](Engine::save) has its state kept after each command, so
    /// an acknowledgement outlives a restart. The answer goes back to whoever asked (the local API).
    fn on_command(
        &mut self,
        _now: Timestamp,
        _command: &Command,
        _out: &mut Emitter,
    ) -> Result<serde_json::Value, CommandError> {
        Err(CommandError::Refused("this engine takes no commands".into()))
    }
    /// What the engine shows an operator right now (an alarm's conditions, a machine's state), for the
    /// local API; `None` for engines with nothing to list.
    fn status(&self) -> Option<serde_json::Value> {
        None
    }
    /// Adds the engine's figures to /metrics (summed over engines with the same labels). Read about once
    /// a second, so it may walk the engine's state.
    fn gauges(&self, _gauges: &mut Gauges) {}
}

/// Reads a `[[section]]` list item by item (each mistake at its place) into engine configs.
pub fn configs<T, C>(
    section: &str,
    value: Spanned<DeValue<'_>>,
    errors: &mut ConfigErrors,
    make: impl Fn(T) -> C,
) -> Vec<Arc<dyn EngineConfig>>
where
    T: serde::de::DeserializeOwned,
    C: EngineConfig + 'static,
{
    drivers::sections::items::<T>(section, value, errors)
        .into_iter()
        .map(|t| Arc::new(make(t)) as Arc<dyn EngineConfig>)
        .collect()
}

/// [`Engine::save`] of a serialisable state.
pub fn save_state<T: serde::Serialize>(state: &T) -> Option<serde_json::Value> {
    serde_json::to_value(state).ok()
}

/// [`Engine::restore`] of a serialisable state.
pub fn restore_state<T: serde::de::DeserializeOwned>(
    into: &mut T,
    saved: serde_json::Value,
) -> Result<(), String> {
    *into = serde_json::from_value(saved).map_err(|e| e.to_string())?;
    Ok(())
}

/// How an engine reads the plant's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineInput {
    /// From the ring, skipping under overload (counted): limit alarms, displays, control loops that want
    /// the newest value. Never slows acquisition.
    Lossy,
    /// From the durable store, every sample in order, resuming after a restart from the saved position
    /// (energy totals, SPC, emission aggregates). Never holds the ring back: the store is the only reader
    /// of the ring that waits for nobody, so an engine that publishes cannot wait on itself.
    Lossless,
    /// From the ring like `Lossy`, but ticked on a thread of its own at exactly its [`tick`](EngineConfig::tick)
    /// (10 ms to minutes), with the lateness of each tick measured: control loops. Loops of one period
    /// share a thread.
    Loop,
}

impl EngineInput {
    pub fn label(self) -> &'static str {
        match self {
            EngineInput::Lossy => "lossy",
            EngineInput::Lossless => "lossless",
            EngineInput::Loop => "loop",
        }
    }
}

/// A tag an engine reads or writes, and how errors about it start (`alarm on`).
#[derive(Debug, Clone)]
pub struct TagRef<'a> {
    pub tag: &'a Spanned<String>,
    /// The start of an error about this reference: `alarm on` gives "alarm on tag "x", which ...".
    pub role: String,
}

/// A tag an engine derives, at the place in the file that makes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedTag {
    pub name: String,
    pub at: Range<usize>,
}

/// An engine kind, as the config loader sees it. One static value per kind, listed in the registry.
pub trait EngineKind: Sync {
    /// The TOML section the kind owns: `alarm` for `[[alarm]]`.
    fn section(&self) -> &'static str;
    /// Reads the section, every mistake pushed to `errors` at its place.
    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>>;
}

/// One configured engine. The config struct is the factory of its engine.
pub trait EngineConfig: Send + Sync + Debug {
    /// The kind, as named in logs and /metrics: `alarm`.
    fn kind(&self) -> &'static str;
    /// This engine's name, unique among engines: `alarm kiln.temp`. Keys its saved state.
    fn name(&self) -> String;
    /// Tags it reads; each must be declared by a device or derived by an engine.
    fn reads(&self) -> Vec<TagRef<'_>>;
    /// Tags it derives; each must be new.
    fn derives(&self) -> Vec<DerivedTag>;
    /// Tags it writes; each must be declared writable.
    fn writes(&self) -> Vec<TagRef<'_>> {
        Vec::new()
    }
    /// What is wrong with the engine's own settings, each at its place.
    fn problems(&self) -> Vec<Problem>;
    fn input(&self) -> EngineInput;
    /// How often [`Engine::on_tick`] runs: how late a delay or an interval boundary may take effect.
    fn tick(&self) -> Duration;
    /// One line for `edge-agent check`.
    fn summary(&self) -> String;
    /// The engine, with the ids the agent gave its tags (every tag it names is registered).
    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String>;
    /// The engine, knowing every tag's declaration: a loop takes its output's writable limits here.
    fn build_in(&self, tags: &crate::config::TagTable) -> Result<Box<dyn Engine>, String> {
        self.build(&|t| tags.registry.id(t))
    }
}
