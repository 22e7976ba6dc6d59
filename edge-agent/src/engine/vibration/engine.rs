//! Collects waveform blocks (or takes velocity RMS as it comes), evaluates the zone, follows the trend.

use std::time::Duration;

use protocols::{Quality, Sample, TagId, Timestamp, Value};
use serde::{Deserialize, Serialize};

use super::Band;
use super::features::{Analyser, Features};
use super::zone::{Trend, letter, zone};
use crate::engine::{Emitter, Engine, Event};

pub struct Wiring {
    pub name: String,
    /// The waveform tag with its analyser, or the RMS tag.
    pub waveform: Option<(TagId, Analyser, usize, f64)>,
    pub rms: Option<TagId>,
    pub bands: Vec<Band>,
    pub boundaries: [f64; 3],
    pub trend: Duration,
    pub warn_within: Duration,
    /// As `VibrationConfig::outputs`.
    pub outputs: Vec<TagId>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Condition {
    zone: Option<u8>,
    trend: Trend,
    warned: bool,
    /// Blocks dropped because a gap or a bad sample cut them short.
    dropped: u64,
}

pub struct VibrationEngine {
    w: Wiring,
    block: Vec<f64>,
    last_ts: Option<Timestamp>,
    state: Condition,
}

impl VibrationEngine {
    pub fn new(w: Wiring) -> VibrationEngine {
        VibrationEngine { w, block: Vec::new(), last_ts: None, state: Condition::default() }
    }

    pub fn dropped_blocks(&self) -> u64 {
        self.state.dropped
    }

    pub fn zone(&self) -> Option<u8> {
        self.state.zone
    }

    fn tag(&self, i: usize) -> TagId {
        self.w.outputs.get(i).copied().unwrap_or(TagId(u32::MAX))
    }

    fn cut(&mut self) {
        if !self.block.is_empty() {
            self.block.clear();
            self.state.dropped += 1;
        }
    }

    fn take_waveform(&mut self, s: &Sample, out: &mut Emitter) {
        let Some((_, _, n, rate)) = &self.w.waveform else { return };
        let (n, step) = (*n, 1e9 / *rate);
        let value = match s.quality {
            Quality::Bad(_) => None,
            _ => s.value.as_f64().filter(|v| v.is_finite()),
        };
        let Some(v) = value else {
            self.cut();
            return;
        };
        if let Some(last) = self.last_ts
            && !self.block.is_empty()
            && ((s.ts.0 - last.0) as f64 - step).abs() > step / 2.0
        {
            self.cut();
        }
        self.last_ts = Some(s.ts);
        self.block.push(v);
        if self.block.len() < n {
            return;
        }
        let block = std::mem::take(&mut self.block);
        let features = match &mut self.w.waveform {
            Some((_, analyser, _, _)) => analyser.features(&block, &self.w.bands),
            None => None,
        };
        if let Some(f) = features {
            self.publish_block(s.ts, &f, out);
            self.velocity(s.ts, f.velocity_rms, out);
        }
    }

    fn publish_block(&self, ts: Timestamp, f: &Features, out: &mut Emitter) {
        for (i, v) in [f.peak, f.crest_factor, f.kurtosis].into_iter().enumerate() {
            out.sample(Sample::good(self.tag(3 + i), ts, Value::Float(v)));
        }
        for (i, v) in f.bands.iter().enumerate() {
            out.sample(Sample::good(self.tag(6 + i), ts, Value::Float(*v)));
        }
    }

    fn velocity(&mut self, ts: Timestamp, v: f64, out: &mut Emitter) {
        out.sample(Sample::good(self.tag(0), ts, Value::Float(v)));
        let z = zone(v, &self.w.boundaries);
        let source = format!("vibration {}", self.w.name);
        if self.state.zone != Some(z) {
            if let Some(before) = self.state.zone {
                let what = match z {
                    3 => "unsatisfactory for long-term operation (ISO 10816-3 zone C)",
                    4 => "severe enough to cause damage (ISO 10816-3 zone D)",
                    _ => "acceptable",
                };
                out.event(Event {
                    ts,
                    source: source.clone(),
                    message: format!(
                        "{} zone {} → {}: {v:.2} mm/s, {what}",
                        self.w.name,
                        letter(before),
                        letter(z)
                    ),
                });
            }
            self.state.zone = Some(z);
            self.state.warned = false;
            out.sample(Sample::good(self.tag(1), ts, Value::Int(i64::from(z))));
        }
        let t = ts.0 as f64 / 1e9;
        self.state.trend.push(t, v, self.w.trend.as_secs_f64());
        if let Some(secs) = self.state.trend.time_to_next(t, &self.w.boundaries) {
            out.sample(Sample::good(self.tag(2), ts, Value::Float(secs / 3600.0)));
            if secs < self.w.warn_within.as_secs_f64() && !self.state.warned && z < 4 {
                self.state.warned = true;
                out.event(Event {
                    ts,
                    source,
                    message: format!(
                        "{} early warning: velocity RMS {v:.2} mm/s rising, zone {} in about {:.0} h at this trend",
                        self.w.name,
                        letter(z + 1),
                        secs / 3600.0
                    ),
                });
            }
        }
    }
}

impl Engine for VibrationEngine {
    fn on_sample(&mut self, s: &Sample, out: &mut Emitter) {
        if self.w.waveform.as_ref().is_some_and(|w| w.0 == s.tag) {
            self.take_waveform(s, out);
        } else if Some(s.tag) == self.w.rms {
            match (s.quality, s.value.as_f64().filter(|v| v.is_finite() && *v >= 0.0)) {
                (Quality::Bad(r), _) => out.sample(Sample::bad(self.tag(0), s.ts, r)),
                (_, Some(v)) => self.velocity(s.ts, v, out),
                (_, None) => out.sample(Sample::bad(self.tag(0), s.ts, protocols::Reason::OutOfRange)),
            }
        }
    }

    fn on_tick(&mut self, _now: Timestamp, _out: &mut Emitter) {}

    fn save(&self) -> Option<serde_json::Value> {
        crate::engine::save_state(&self.state)
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<(), String> {
        crate::engine::restore_state(&mut self.state, state)
    }
}
