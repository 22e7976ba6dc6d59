//! Engines: plain synchronous logic over samples and time. No sockets, no clocks, no threads.

pub mod alarm;

use protocols::{Sample, Timestamp};

/// Something an engine noticed that a person should see (an alarm raised, a limit hit).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub ts: Timestamp,
    /// Which engine instance, e.g. `alarm kiln.temp`.
    pub source: String,
    pub message: String,
}

/// Where an engine puts what it derives: samples re-enter the ring, events are logged and published.
#[derive(Debug, Default)]
pub struct Emitter {
    pub samples: Vec<Sample>,
    pub events: Vec<Event>,
}

impl Emitter {
    pub fn sample(&mut self, s: Sample) {
        self.samples.push(s);
    }
    pub fn event(&mut self, e: Event) {
        self.events.push(e);
    }
}

/// Pure logic over samples and time, tested with a fake clock.
pub trait Engine: Send {
    fn on_sample(&mut self, sample: &Sample, out: &mut Emitter);
    fn on_tick(&mut self, now: Timestamp, out: &mut Emitter);
}
