//! The stack's engine: readings in, converted values, aggregates and HJ 212 records out.

use std::collections::HashMap;

use protocols::{Quality, Reason, Sample, TagId, Timestamp, Value};
use serde::{Deserialize, Serialize};

use super::Unit;
use super::aggregate::{Acc, Summary};
use super::convert as cv;
use super::flags::{DataFlag, flag_of};
use super::plan::Outputs;
use super::record::{self, Rtd};
use crate::engine::{Emitter, Engine, Event};

/// How long after a minute's end a quiet stack's minute is closed on a tick.
const GRACE_NS: i64 = 5_000_000_000;
const MINUTE_NS: i64 = 60_000_000_000;

/// One pollutant as the engine computes it.
#[derive(Debug, Clone)]
pub struct Series {
    pub code: String,
    pub name: String,
    pub tag: TagId,
    pub no2: Option<TagId>,
    pub unit: Unit,
    pub molar_mass: f64,
    pub actual: bool,
    pub wet: bool,
    pub correct: bool,
    pub limit: Option<f64>,
    pub range: Option<f64>,
    pub out: Outputs,
}

/// The stack's inputs and outputs by id.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub o2: Option<TagId>,
    pub o2_ref: Option<f64>,
    pub o2_wet: bool,
    pub moisture: Option<TagId>,
    pub temperature: Option<TagId>,
    pub pressure: Option<TagId>,
    pub atmosphere: f64,
    pub velocity: Option<TagId>,
    pub area: Option<f64>,
    pub status: Option<TagId>,
    pub realtime_ns: i64,
    pub hour_min: u32,
    pub day_min: u32,
    pub offset_ns: i64,
    pub series: Vec<Series>,
    pub flow: Option<Outputs>,
    /// rtd, minute, hour, day.
    pub records: [Option<TagId>; 4],
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct SeriesState {
    /// Open minute, hour, day.
    acc: [Acc; 3],
    over: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct State {
    /// The open minute, in minutes of the platform's clock since the epoch.
    minute: Option<i64>,
    rtd_slot: Option<i64>,
    /// One per series, then the flow's.
    series: Vec<SeriesState>,
    /// Samples older than the open minute: converted, not aggregated.
    late: u64,
}

static LATE: crate::engine::Family = crate::engine::Family {
    name: "edge_cems_late_samples",
    kind: "counter",
    help: "Readings older than the open minute: converted, not in the aggregates",
};
static OVER: crate::engine::Family = crate::engine::Family {
    name: "edge_cems_pollutants_over_limit",
    kind: "gauge",
    help: "Pollutants whose last hourly average was over its limit",
};

pub struct CemsEngine {
    stack: Stack,
    state: State,
    latest: HashMap<TagId, (f64, Quality)>,
    /// The latest converted value of each series (and the flow), for the real-time record.
    rtd: Vec<Option<(f64, Option<f64>, DataFlag)>>,
}

fn worst(a: Quality, b: Quality) -> Quality {
    match (a, b) {
        (Quality::Bad(_), _) => a,
        (_, Quality::Bad(_)) => b,
        (Quality::Uncertain(_), _) => a,
        _ => b,
    }
}

/// Each value with the quality of the inputs it used.
struct Converted {
    mg: (f64, Quality),
    zs: Option<(f64, Quality)>,
    rate: Option<(f64, Quality)>,
}

impl Converted {
    fn quality(&self) -> Quality {
        let zs = self.zs.map_or(Quality::Good, |z| z.1);
        let rate = self.rate.map_or(Quality::Good, |r| r.1);
        worst(worst(self.mg.1, zs), rate)
    }
}

impl CemsEngine {
    pub fn new(stack: Stack) -> CemsEngine {
        let n = stack.series.len() + 1;
        CemsEngine {
            state: State { series: vec![SeriesState::default(); n], ..State::default() },
            rtd: vec![None; n],
            latest: HashMap::new(),
            stack,
        }
    }

    fn input(&self, tag: Option<TagId>, q: &mut Quality) -> Option<f64> {
        let (v, quality) = *self.latest.get(&tag?)?;
        *q = worst(*q, quality);
        v.is_finite().then_some(v)
    }

    /// A needed input that has not come (or is NaN) makes the value Bad, stale.
    fn need(&self, tag: Option<TagId>, q: &mut Quality) -> f64 {
        self.input(tag, q).unwrap_or_else(|| {
            *q = Quality::Bad(Reason::Stale);
            f64::NAN
        })
    }

    fn moisture(&self, q: &mut Quality) -> f64 {
        self.need(self.stack.moisture, q) / 100.0
    }

    fn abs_pressure(&self, q: &mut Quality) -> f64 {
        let gauge = if self.stack.pressure.is_some() { self.need(self.stack.pressure, q) } else { 0.0 };
        self.stack.atmosphere + gauge
    }

    fn flow(&self, q: &mut Quality) -> Option<f64> {
        let area = self.stack.area?;
        let v = self.need(self.stack.velocity, q);
        let t = self.need(self.stack.temperature, q);
        let p = self.abs_pressure(q);
        let x = if self.stack.moisture.is_some() { self.moisture(q) } else { 0.0 };
        let f = cv::standard_dry_flow(v, area, t, p, x);
        if f.is_none() {
            *q = Quality::Bad(Reason::OutOfRange);
        }
        Some(f.unwrap_or(f64::NAN))
    }

    fn convert(&self, s: &Series, raw: f64, mut q: Quality) -> Converted {
        let no2 = s.no2.map(|t| self.need(Some(t), &mut q));
        let mut c = match (s.unit, no2) {
            (Unit::Ppm, Some(n)) => cv::nox_as_no2_ppm(raw, n),
            (Unit::Ppm, None) => cv::ppm_to_mg(raw, s.molar_mass),
            (Unit::MgM3, Some(n)) => cv::nox_as_no2_mg(raw, n),
            (Unit::MgM3, None) => raw,
        };
        let bad = |q: &mut Quality, v: Option<f64>| {
            v.unwrap_or_else(|| {
                *q = Quality::Bad(Reason::OutOfRange);
                f64::NAN
            })
        };
        if s.actual && s.unit == Unit::MgM3 {
            let t = self.need(self.stack.temperature, &mut q);
            let p = self.abs_pressure(&mut q);
            c = bad(&mut q, cv::actual_to_standard(c, t, p));
        }
        if s.wet {
            let x = self.moisture(&mut q);
            c = bad(&mut q, cv::wet_to_dry(c, x));
        }
        let mut zq = q;
        let zs = match (s.correct, self.stack.o2_ref) {
            (true, Some(o2_ref)) => {
                let mut o2 = self.need(self.stack.o2, &mut zq);
                if self.stack.o2_wet {
                    let x = self.moisture(&mut zq);
                    o2 = bad(&mut zq, cv::wet_to_dry(o2, x));
                }
                Some((bad(&mut zq, cv::o2_correct(c, o2, o2_ref)), zq))
            }
            _ => None,
        };
        let mut rq = q;
        let rate = self.flow(&mut rq).map(|f| (cv::emission_rate(c, f), rq));
        Converted { mg: (c, q), zs, rate }
    }

    fn status(&self) -> Option<DataFlag> {
        let (v, q) = *self.latest.get(&self.stack.status?)?;
        (q.is_good() && v.is_finite()).then(|| DataFlag::from_status(v as i64))
    }

    fn minute_of(&self, ts: Timestamp) -> i64 {
        (ts.as_nanos() + self.stack.offset_ns).div_euclid(MINUTE_NS)
    }

    /// The UTC time of a minute of the platform's clock.
    fn at_minute(&self, m: i64) -> Timestamp {
        Timestamp::from_nanos(m.saturating_mul(MINUTE_NS) - self.stack.offset_ns)
    }

    fn on_series(&mut self, i: usize, ts: Timestamp, raw: f64, q: Quality, out: &mut Emitter) {
        let s = &self.stack.series[i];
        let c = self.convert(s, raw, q);
        let flag = flag_of(self.status(), worst(q, c.quality()), raw, s.range);
        let o = &s.out;
        let emit = |out: &mut Emitter, tag: Option<TagId>, (v, q): (f64, Quality)| {
            if let Some(tag) = tag {
                let quality =
                    if v.is_finite() { q } else { Quality::Bad(q.reason().unwrap_or(Reason::DecodeError)) };
                out.sample(Sample { tag, ts, value: Value::Float(v), quality });
            }
        };
        emit(out, o.value, c.mg);
        if let Some(z) = c.zs {
            emit(out, o.zs, z);
        }
        if let Some(r) = c.rate {
            emit(out, o.rate, r);
        }
        let (mg, zs, rate) = (c.mg.0, c.zs.map(|z| z.0), c.rate.map(|r| r.0));
        if let Some(tag) = o.flag {
            out.text(tag, ts, flag.letter());
        }
        let flag = if mg.is_finite() { flag } else { DataFlag::D.min_by_quality(flag) };
        self.rtd[i] = Some((mg, zs, flag));
        if self.minute_of(ts) == self.state.minute.unwrap_or(i64::MIN) {
            let zs = zs.filter(|z| z.is_finite());
            let rate = rate.filter(|r| r.is_finite());
            self.state.series[i].acc[0].add_sample(mg, zs, rate, flag);
        } else {
            self.state.late += 1;
        }
    }

    fn on_flow(&mut self, ts: Timestamp, out: &mut Emitter) {
        let mut q = Quality::Good;
        let Some(f) = self.flow(&mut q) else { return };
        let Some(o) = &self.stack.flow else { return };
        if let Some(tag) = o.value {
            out.sample(Sample {
                tag,
                ts,
                value: Value::Float(f),
                quality: if f.is_finite() { q } else { Quality::Bad(Reason::OutOfRange) },
            });
        }
        let flag = flag_of(self.status(), q, f, None);
        let i = self.stack.series.len();
        self.rtd[i] = Some((f, None, flag));
        if self.minute_of(ts) == self.state.minute.unwrap_or(i64::MIN) {
            // The flow's "rate" is itself: its minute mass is volume, m³.
            self.state.series[i].acc[0].add_sample(f, None, Some(f), flag);
        }
    }

    /// Closes every period that ends at or before `ts`, and emits the real-time records due.
    fn advance(&mut self, ts: Timestamp, out: &mut Emitter) {
        let slot = ts.as_nanos().div_euclid(self.stack.realtime_ns);
        match self.state.rtd_slot {
            Some(prev) if slot > prev => {
                self.emit_rtd(Timestamp::from_nanos(slot * self.stack.realtime_ns), out);
                self.state.rtd_slot = Some(slot);
            }
            None => self.state.rtd_slot = Some(slot),
            _ => {}
        }
        let m = self.minute_of(ts);
        let Some(open) = self.state.minute else {
            self.state.minute = Some(m);
            return;
        };
        if m <= open {
            return;
        }
        self.close(0, open, out);
        if open.div_euclid(60) != m.div_euclid(60) {
            self.close(1, open.div_euclid(60) * 60, out);
        }
        if open.div_euclid(1440) != m.div_euclid(1440) {
            self.close(2, open.div_euclid(1440) * 1440, out);
        }
        self.state.minute = Some(m);
    }

    fn emit_rtd(&self, ts: Timestamp, out: &mut Emitter) {
        let Some(tag) = self.stack.records[0] else { return };
        let mut text = String::new();
        for (i, v) in self.rtd.iter().enumerate() {
            let Some((value, zs, flag)) = *v else { continue };
            let code = self.stack.series.get(i).map_or("a00000", |s| s.code.as_str());
            if value.is_finite() {
                record::rtd(&mut text, &Rtd { code, value, zs: zs.filter(|z| z.is_finite()), flag });
            }
        }
        if !text.is_empty() {
            out.text(tag, ts, &text);
        }
    }

    /// Closes the minute, hour or day (`level` 0, 1, 2) starting at minute `start`.
    fn close(&mut self, level: usize, start: i64, out: &mut Emitter) {
        let ts = self.at_minute(start);
        let mut text = String::new();
        let n = self.stack.series.len();
        for i in 0..=n {
            let outputs = if i < n { Some(&self.stack.series[i].out) } else { self.stack.flow.as_ref() };
            let Some(o) = outputs else { continue };
            let acc = std::mem::take(&mut self.state.series[i].acc[level]);
            if acc.flags.total() == 0 {
                continue;
            }
            let s = match level {
                0 => acc.close_minute(1.0 / 60.0),
                1 => acc.close_period(self.stack.hour_min),
                _ => acc.close_period(self.stack.day_min),
            };
            if level < 2 {
                self.state.series[i].acc[level + 1].add_period(&s);
            }
            emit_period(out, &o.periods[level], ts, &s);
            let code = self.stack.series.get(i).map_or("a00000", |s| s.code.as_str());
            record::period(&mut text, code, &s);
            if level == 1 && i < n {
                self.check_limit(i, ts, &s, out);
            }
        }
        if let (Some(tag), false) = (self.stack.records[level + 1], text.is_empty()) {
            out.text(tag, ts, &text);
        }
    }

    /// Limits are on the hourly average (emission standards such as GB 13223-2011 state them so),
    /// oxygen-corrected where the stack corrects.
    fn check_limit(&mut self, i: usize, ts: Timestamp, s: &Summary, out: &mut Emitter) {
        let series = &self.stack.series[i];
        let Some(limit) = series.limit else { return };
        let value = if series.correct && self.stack.o2_ref.is_some() { s.zs_avg } else { s.avg };
        let Some(value) = value.filter(|_| s.is_valid()) else { return };
        let over = value > limit;
        if let Some(tag) = series.out.over_limit {
            out.sample(Sample::good(tag, ts, Value::Bool(over)));
        }
        if over != self.state.series[i].over {
            self.state.series[i].over = over;
            let message = if over {
                format!("{} hourly average {value:.3} mg/m³ is over its limit {limit}", series.name)
            } else {
                format!("{} hourly average {value:.3} mg/m³ is back within its limit {limit}", series.name)
            };
            out.event(Event { ts, source: format!("cems {}", self.stack.name), message });
        }
    }
}

impl DataFlag {
    /// A value that could not be converted is an instrument fault unless it already has a worse flag.
    fn min_by_quality(self, other: DataFlag) -> DataFlag {
        if other.is_valid() { self } else { other }
    }
}

fn emit_period(out: &mut Emitter, ids: &[Option<TagId>; 6], ts: Timestamp, s: &Summary) {
    let q = if s.is_valid() { Quality::Good } else { Quality::Uncertain(Reason::Stale) };
    let values = [s.avg, s.min, s.max, Some(f64::from(s.valid_count)), s.zs_avg, s.cou];
    for (id, v) in ids.iter().zip(values) {
        if let (Some(tag), Some(v)) = (id, v) {
            out.sample(Sample { tag: *tag, ts, value: Value::Float(v), quality: q });
        }
    }
}

impl Engine for CemsEngine {
    fn on_sample(&mut self, sample: &Sample, out: &mut Emitter) {
        self.advance(sample.ts, out);
        let v = sample.value.as_f64().unwrap_or(f64::NAN);
        self.latest.insert(sample.tag, (v, sample.quality));
        if Some(sample.tag) == self.stack.velocity {
            self.on_flow(sample.ts, out);
        }
        if let Some(i) = self.stack.series.iter().position(|s| s.tag == sample.tag) {
            self.on_series(i, sample.ts, v, sample.quality, out);
        }
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Emitter) {
        if let Some(open) = self.state.minute
            && now.as_nanos() >= self.at_minute(open + 1).as_nanos() + GRACE_NS
        {
            self.advance(Timestamp::from_nanos(now.as_nanos() - GRACE_NS), out);
        }
    }

    fn save(&self) -> Option<serde_json::Value> {
        crate::engine::save_state(&self.state)
    }

    fn restore(&mut self, saved: serde_json::Value) -> Result<(), String> {
        let mut state = State::default();
        crate::engine::restore_state(&mut state, saved)?;
        if state.series.len() != self.state.series.len() {
            return Err(format!(
                "saved state has {} series, the config {}: pollutants changed, starting afresh",
                state.series.len(),
                self.state.series.len()
            ));
        }
        self.state = state;
        Ok(())
    }

    fn gauges(&self, g: &mut crate::engine::Gauges) {
        g.add(&LATE, &[("stack", &self.stack.name)], self.state.late as f64);
        let over = self.state.series.iter().filter(|s| s.over).count();
        g.add(&OVER, &[("stack", &self.stack.name)], over as f64);
    }
}
