//! Subgroups of consecutive good samples become points; the first `baseline` points set the limits;
//! each later point is tested against the rules. Capability accumulates per shift (or from the start
//! without a calendar) from the individual values and the period's mean dispersion.

use protocols::{Quality, Sample, TagId, Timestamp, Value};
use serde::{Deserialize, Serialize};

use super::Chart;
use super::chart::{Limits, capability, limits, sigma};
use super::rules::{History, Rule};
use crate::engine::shifts::Calendar;
use crate::engine::stats::Moments;
use crate::engine::{Emitter, Engine, Event};

pub struct Wiring {
    pub tag_name: String,
    pub tag: TagId,
    pub chart: Chart,
    pub n: usize,
    pub baseline: usize,
    pub lsl: Option<f64>,
    pub usl: Option<f64>,
    pub calendar: Option<Calendar>,
    /// As `SpcConfig::outputs`.
    pub outputs: Vec<TagId>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Period {
    name: String,
    start: i64,
    values: Moments,
    dispersion: Moments,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Books {
    current: Vec<f64>,
    previous: Option<f64>,
    baseline: Vec<(f64, Option<f64>)>,
    limits: Option<Limits>,
    history: History,
    period: Option<Period>,
    /// Samples left out for bad quality.
    skipped: u64,
}

pub struct SpcEngine {
    w: Wiring,
    books: Books,
}

impl SpcEngine {
    pub fn new(w: Wiring) -> SpcEngine {
        SpcEngine { w, books: Books::default() }
    }

    pub fn limits(&self) -> Option<Limits> {
        self.books.limits
    }

    fn out(&self, i: usize) -> TagId {
        self.w.outputs.get(i).copied().unwrap_or(TagId(u32::MAX))
    }

    fn source(&self) -> String {
        format!("spc {}", self.w.tag_name)
    }

    /// The point and dispersion of the subgroup just completed.
    fn point(&mut self, values: &[f64]) -> (f64, Option<f64>) {
        let mut m = Moments::default();
        values.iter().for_each(|&v| m.push(v));
        match self.w.chart {
            Chart::XbarR => (m.mean, m.range()),
            Chart::XbarS => (m.mean, m.stddev()),
            Chart::Individuals => {
                let x = values[0];
                let mr = self.books.previous.replace(x).map(|p| (x - p).abs());
                (x, mr)
            }
        }
    }

    fn plot(&mut self, ts: Timestamp, x: f64, d: Option<f64>, out: &mut Emitter) {
        out.sample(Sample::good(self.out(0), ts, Value::Float(x)));
        if let Some(d) = d {
            out.sample(Sample::good(self.out(1), ts, Value::Float(d)));
        }
        let Some(l) = self.books.limits else {
            self.books.baseline.push((x, d));
            if self.books.baseline.len() >= self.w.baseline {
                self.set_limits(ts, out);
            }
            return;
        };
        let sigma_x = (l.ucl - l.cl) / 3.0;
        let mut fired = self.books.history.push((x - l.cl) / sigma_x);
        if d.is_some_and(|d| d > l.d_ucl || (l.d_lcl > 0.0 && d < l.d_lcl)) {
            fired.push(Rule::Dispersion);
        }
        out.sample(Sample::good(self.out(5), ts, Value::Int(fired.first().map_or(0, |r| r.code()))));
        for rule in fired {
            out.event(Event {
                ts,
                source: self.source(),
                message: format!(
                    "{} out of control, {} (point {x:.4}, CL {:.4})",
                    self.w.tag_name,
                    rule.describe(),
                    l.cl
                ),
            });
        }
    }

    fn set_limits(&mut self, ts: Timestamp, out: &mut Emitter) {
        let b = &self.books.baseline;
        let grand = b.iter().map(|p| p.0).sum::<f64>() / b.len() as f64;
        let ds: Vec<f64> = b.iter().filter_map(|p| p.1).collect();
        let mean_d = ds.iter().sum::<f64>() / ds.len().max(1) as f64;
        match limits(self.w.chart, self.w.n, grand, mean_d) {
            Some(l) => {
                self.books.limits = Some(l);
                for (i, v) in [l.cl, l.ucl, l.lcl].into_iter().enumerate() {
                    out.sample(Sample::good(self.out(2 + i), ts, Value::Float(v)));
                }
                out.event(Event {
                    ts,
                    source: self.source(),
                    message: format!(
                        "{} control limits from {} points: CL {:.4}, UCL {:.4}, LCL {:.4}",
                        self.w.tag_name,
                        b.len(),
                        l.cl,
                        l.ucl,
                        l.lcl
                    ),
                });
            }
            None => {
                // No spread at all in the baseline (a stuck gauge): try again with the next points.
                self.books.baseline.remove(0);
            }
        }
    }

    /// The period `ts` belongs to, closing the previous one (with its figures) when it ended.
    fn period(&mut self, ts: Timestamp, out: &mut Emitter) -> Option<&mut Period> {
        let (name, start) = match &self.w.calendar {
            Some(c) => {
                let run = c.at(ts)?;
                (run.name, run.start.0)
            }
            None => (String::new(), 0),
        };
        if self.books.period.as_ref().is_some_and(|p| p.start != start) {
            let closed = self.books.period.take().expect("checked");
            if let (_, Some(cpk)) = self.capability(&closed) {
                let (cp, _) = self.capability(&closed);
                let cp = cp.map_or("-".into(), |c| format!("{c:.2}"));
                out.event(Event {
                    ts,
                    source: self.source(),
                    message: format!(
                        "{} shift {}: Cp {cp}, Cpk {cpk:.2} over {} values",
                        self.w.tag_name, closed.name, closed.values.count
                    ),
                });
            }
        }
        Some(self.books.period.get_or_insert_with(|| Period { name, start, ..Period::default() }))
    }

    fn capability(&self, p: &Period) -> (Option<f64>, Option<f64>) {
        match sigma(self.w.chart, self.w.n, p.dispersion.mean).filter(|_| p.dispersion.count > 0) {
            Some(s) => capability(p.values.mean, s, self.w.lsl, self.w.usl),
            None => (None, None),
        }
    }
}

impl Engine for SpcEngine {
    fn on_sample(&mut self, s: &Sample, out: &mut Emitter) {
        if s.tag != self.w.tag {
            return;
        }
        let value = match s.quality {
            Quality::Good => s.value.as_f64().filter(|v| v.is_finite()),
            _ => None,
        };
        let Some(v) = value else {
            self.books.skipped += 1;
            return;
        };
        self.books.current.push(v);
        if self.books.current.len() < self.w.n {
            return;
        }
        let values = std::mem::take(&mut self.books.current);
        let (x, d) = self.point(&values);
        self.plot(s.ts, x, d, out);
        if self.w.lsl.is_none() && self.w.usl.is_none() {
            return;
        }
        if let Some(p) = self.period(s.ts, out) {
            values.iter().for_each(|&v| p.values.push(v));
            if let Some(d) = d {
                p.dispersion.push(d);
            }
        }
        if let Some(p) = &self.books.period {
            let (cp, cpk) = self.capability(p);
            for (i, v) in [cp, cpk].into_iter().enumerate() {
                if let Some(v) = v {
                    out.sample(Sample::good(self.out(6 + i), s.ts, Value::Float(v)));
                }
            }
        }
    }

    fn on_tick(&mut self, _now: Timestamp, _out: &mut Emitter) {}

    fn save(&self) -> Option<serde_json::Value> {
        crate::engine::save_state(&self.books)
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<(), String> {
        crate::engine::restore_state(&mut self.books, state)
    }
}
