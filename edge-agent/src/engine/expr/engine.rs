//! Evaluates one expression each time one of its tags has a new value, stamped with that value's
//! time. A Bad input gives a Bad result with the input's reason; an Uncertain one an Uncertain
//! result; an arithmetic fault a Bad result (`out_of_range`) and one event per episode saying why.

use protocols::{Quality, Reason, Sample, TagId, Timestamp, Value};

use super::{Parsed, Val, eval};
use crate::engine::{Emitter, Engine, Event};

pub struct DerivedEngine {
    source: String,
    parsed: Parsed,
    inputs: Vec<TagId>,
    out: TagId,
    /// Last value and quality of each input, beside `inputs`.
    last: Vec<Option<(f64, Quality)>>,
    values: Vec<f64>,
    /// The fault of the last evaluation, so it is logged once, not at every sample.
    fault: Option<String>,
}

impl DerivedEngine {
    pub fn new(tag: &str, parsed: Parsed, inputs: Vec<TagId>, out: TagId) -> DerivedEngine {
        let n = inputs.len();
        DerivedEngine {
            source: format!("derived {tag}"),
            parsed,
            inputs,
            out,
            last: vec![None; n],
            values: vec![f64::NAN; n],
            fault: None,
        }
    }

    fn evaluate(&mut self, ts: Timestamp, out: &mut Emitter) {
        let mut quality = Quality::Good;
        for (i, last) in self.last.iter().enumerate() {
            let Some((v, q)) = *last else { return };
            self.values[i] = v;
            quality = match (quality, q) {
                (Quality::Bad(r), _) | (_, Quality::Bad(r)) => Quality::Bad(r),
                (Quality::Uncertain(r), _) | (_, Quality::Uncertain(r)) => Quality::Uncertain(r),
                _ => Quality::Good,
            };
        }
        if let Quality::Bad(r) = quality {
            out.sample(Sample::bad(self.out, ts, r));
            return;
        }
        match eval(&self.parsed.root, &self.values) {
            Ok(v) => {
                let value = match v {
                    Val::Num(n) => Value::Float(n),
                    Val::Bool(b) => Value::Bool(b),
                };
                out.sample(Sample { tag: self.out, ts, value, quality });
                if self.fault.take().is_some() {
                    out.event(Event {
                        ts,
                        source: self.source.clone(),
                        message: format!("{}: good again", self.source),
                    });
                }
            }
            Err(fault) => {
                out.sample(Sample::bad(self.out, ts, Reason::OutOfRange));
                if self.fault.as_deref() != Some(fault.what.as_str()) {
                    out.event(Event {
                        ts,
                        source: self.source.clone(),
                        message: format!("{}: bad: {}", self.source, fault.what),
                    });
                    self.fault = Some(fault.what);
                }
            }
        }
    }
}

impl Engine for DerivedEngine {
    fn on_sample(&mut self, sample: &Sample, out: &mut Emitter) {
        let mut seen = false;
        for (i, &tag) in self.inputs.iter().enumerate() {
            if tag == sample.tag {
                seen = true;
                self.last[i] = Some(match (sample.quality, sample.value.as_f64()) {
                    (Quality::Bad(r), _) => (f64::NAN, Quality::Bad(r)),
                    (_, None) => (f64::NAN, Quality::Bad(Reason::DecodeError)),
                    (q, Some(v)) if v.is_nan() => {
                        (v, Quality::Bad(q.reason().unwrap_or(Reason::DecodeError)))
                    }
                    (q, Some(v)) => (v, q),
                });
            }
        }
        if seen {
            self.evaluate(sample.ts, out);
        }
    }

    fn on_tick(&mut self, _now: Timestamp, _out: &mut Emitter) {}
}
