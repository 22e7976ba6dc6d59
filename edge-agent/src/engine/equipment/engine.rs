//! Accounting by sample timestamps: the time between two samples is the state's that held, split at
//! shift boundaries; a silence longer than `max_gap` counts only `max_gap` (the agent was down, the
//! state is unknown). A shift's figures are final when the stream passes its end, or 10 s after its
//! end on a tick when the machine has gone quiet, and are stamped with the shift's end.

use std::time::Duration;

use protocols::{Quality, Sample, TagId, Timestamp, Value};
use serde::{Deserialize, Serialize};

use super::MachineState;
use crate::engine::expr::{Parsed, Val, eval};
use crate::engine::shifts::{Calendar, ShiftRun};
use crate::engine::{Emitter, Engine, Event};

const CLOSE_GRACE: Duration = Duration::from_secs(10);

pub struct Rule {
    pub state: MachineState,
    pub parsed: Parsed,
    /// For each tag of the rule, its slot in the engine's values.
    pub slots: Vec<usize>,
}

pub struct Wiring {
    pub name: String,
    pub inputs: Vec<TagId>,
    pub rules: Vec<Rule>,
    pub otherwise: MachineState,
    pub total: Option<TagId>,
    pub good: Option<TagId>,
    pub reject: Option<TagId>,
    pub ideal_cycle: Option<Duration>,
    pub calendar: Option<Calendar>,
    pub max_gap: Duration,
    /// As `EquipmentConfig::outputs`.
    pub outputs: Vec<TagId>,
}

/// One shift's accounts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    pub name: String,
    pub start: i64,
    pub end: i64,
    /// Time with a known state inside the shift, and of it running (ns).
    pub planned: i64,
    pub running: i64,
    pub total: f64,
    pub good: f64,
    pub reject: f64,
}

/// What survives a restart: the state and since when it was accounted, totals, the open shift.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Books {
    state: Option<MachineState>,
    accounted: Option<i64>,
    runtime_ns: i64,
    starts: u64,
    shift: Option<Shift>,
    /// Last reading of each counter tag (total, good, reject).
    counters: [Option<f64>; 3],
}

struct Outputs {
    state: TagId,
    hours: TagId,
    starts: TagId,
    availability: Option<TagId>,
    performance: Option<TagId>,
    quality: Option<TagId>,
    oee: Option<TagId>,
}

pub struct EquipmentEngine {
    w: Wiring,
    out: Outputs,
    values: Vec<f64>,
    scratch: Vec<f64>,
    books: Books,
}

impl EquipmentEngine {
    pub fn new(w: Wiring) -> EquipmentEngine {
        let mut o = w.outputs.iter().copied();
        let mut next = || o.next().unwrap_or(TagId(u32::MAX));
        let (state, hours, starts) = (next(), next(), next());
        let shifts = w.calendar.is_some();
        let availability = shifts.then(&mut next);
        let performance = (shifts && w.total.is_some() && w.ideal_cycle.is_some()).then(&mut next);
        let quality =
            (shifts && w.total.is_some() && (w.good.is_some() || w.reject.is_some())).then(&mut next);
        let oee = (performance.is_some() && quality.is_some()).then(&mut next);
        let n = w.inputs.len();
        EquipmentEngine {
            out: Outputs { state, hours, starts, availability, performance, quality, oee },
            values: vec![f64::NAN; n],
            scratch: Vec::new(),
            books: Books::default(),
            w,
        }
    }

    pub fn state(&self) -> Option<MachineState> {
        self.books.state
    }

    pub fn runtime(&self) -> Duration {
        Duration::from_nanos(self.books.runtime_ns.max(0) as u64)
    }

    pub fn starts(&self) -> u64 {
        self.books.starts
    }

    pub fn shift(&self) -> Option<&Shift> {
        self.books.shift.as_ref()
    }

    fn classify(&mut self) -> MachineState {
        for rule in &self.w.rules {
            self.scratch.clear();
            self.scratch.extend(rule.slots.iter().map(|&s| self.values[s]));
            // A rule over a missing or bad value does not hold.
            if let Ok(Val::Bool(true)) = eval(&rule.parsed.root, &self.scratch) {
                return rule.state;
            }
        }
        self.w.otherwise
    }

    /// Books the time from the last accounted instant to `to` in the state that held.
    fn account(&mut self, to: i64, out: &mut Emitter) {
        let Some(from) = self.books.accounted else {
            self.books.accounted = Some(to);
            return;
        };
        if to <= from {
            return;
        }
        let known_until = from.saturating_add(self.w.max_gap.as_nanos() as i64).min(to);
        let running = self.books.state == Some(MachineState::Running);
        let mut t = from;
        while t < to {
            let piece_end = self
                .w
                .calendar
                .as_ref()
                .and_then(|c| c.next_boundary(Timestamp(t)))
                .map_or(to, |b| b.0.min(to));
            let known = piece_end.min(known_until) - t.min(known_until);
            if running {
                self.books.runtime_ns += known;
            }
            if let Some(run) = self.w.calendar.as_ref().and_then(|c| c.at(Timestamp(t))) {
                let shift = self.open(run, out);
                shift.planned += known;
                if running {
                    shift.running += known;
                }
            }
            t = piece_end;
            self.close_if_over(t, out);
        }
        self.books.accounted = Some(to);
    }

    /// The accounts of shift `run`, opening them (and closing the previous one) as needed.
    fn open(&mut self, run: ShiftRun, out: &mut Emitter) -> &mut Shift {
        if self.books.shift.as_ref().is_some_and(|s| s.start != run.start.0) {
            self.close(out);
        }
        self.books.shift.get_or_insert_with(|| Shift {
            name: run.name,
            start: run.start.0,
            end: run.end.0,
            ..Shift::default()
        })
    }

    fn close_if_over(&mut self, t: i64, out: &mut Emitter) {
        if self.books.shift.as_ref().is_some_and(|s| s.end <= t) {
            self.close(out);
        }
    }

    fn close(&mut self, out: &mut Emitter) {
        let Some(shift) = self.books.shift.take() else { return };
        let figures = self.figures(&shift, Timestamp(shift.end), out);
        let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.1}%", v * 100.0));
        out.event(Event {
            ts: Timestamp(shift.end),
            source: format!("equipment {}", self.w.name),
            message: format!(
                "{} shift {} ended: availability {}, performance {}, quality {}, OEE {}; ran {:.2} h of {:.2} h",
                self.w.name,
                shift.name,
                pct(figures[0]),
                pct(figures[1]),
                pct(figures[2]),
                pct(figures[3]),
                shift.running as f64 / 3.6e12,
                shift.planned as f64 / 3.6e12
            ),
        });
    }

    /// Availability, performance, quality and OEE of `shift` so far, emitted at `ts`.
    fn figures(&self, shift: &Shift, ts: Timestamp, out: &mut Emitter) -> [Option<f64>; 4] {
        let availability = (shift.planned > 0).then(|| shift.running as f64 / shift.planned as f64);
        let performance = self.w.ideal_cycle.and_then(|c| {
            (shift.running > 0).then(|| c.as_nanos() as f64 * shift.total / shift.running as f64)
        });
        let good = if self.w.good.is_some() { shift.good } else { shift.total - shift.reject };
        let quality = (shift.total > 0.0).then(|| (good / shift.total).clamp(0.0, 1.0));
        let oee = match (availability, performance, quality) {
            (Some(a), Some(p), Some(q)) => Some(a * p * q),
            _ => None,
        };
        let all = [availability, performance, quality, oee];
        let tags = [self.out.availability, self.out.performance, self.out.quality, self.out.oee];
        for (tag, v) in tags.into_iter().zip(all) {
            if let (Some(tag), Some(v)) = (tag, v) {
                out.sample(Sample::good(tag, ts, Value::Float(v)));
            }
        }
        all
    }

    fn count(&mut self, which: usize, v: f64) {
        let last = self.books.counters[which].replace(v);
        // A counter that went down was reset or rolled over: it counted from 0 since.
        let delta = match last {
            Some(l) if v >= l => v - l,
            Some(_) => v,
            None => 0.0,
        };
        if let Some(s) = &mut self.books.shift {
            match which {
                0 => s.total += delta,
                1 => s.good += delta,
                _ => s.reject += delta,
            }
        }
    }
}

impl Engine for EquipmentEngine {
    fn on_sample(&mut self, s: &Sample, out: &mut Emitter) {
        self.account(s.ts.0, out);
        let value = match s.quality {
            Quality::Bad(_) => None,
            _ => s.value.as_f64().filter(|v| v.is_finite()),
        };
        for (i, &tag) in self.w.inputs.iter().enumerate() {
            if tag == s.tag {
                self.values[i] = value.unwrap_or(f64::NAN);
            }
        }
        for (which, tag) in [self.w.total, self.w.good, self.w.reject].into_iter().enumerate() {
            if tag == Some(s.tag)
                && let Some(v) = value
            {
                self.count(which, v);
            }
        }
        if !self.w.inputs.contains(&s.tag) {
            return;
        }
        let next = self.classify();
        if self.books.state != Some(next) {
            if next == MachineState::Running && self.books.state.is_some() {
                self.books.starts += 1;
                out.sample(Sample::good(self.out.starts, s.ts, Value::UInt(self.books.starts)));
            }
            self.books.state = Some(next);
            out.sample(Sample::good(self.out.state, s.ts, Value::Int(next.code())));
            out.sample(Sample::good(
                self.out.hours,
                s.ts,
                Value::Float(self.runtime().as_secs_f64() / 3600.0),
            ));
        }
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Emitter) {
        let quiet_end = now.0.saturating_sub(CLOSE_GRACE.as_nanos() as i64);
        if let Some(end) = self.books.shift.as_ref().map(|s| s.end).filter(|&end| end <= quiet_end) {
            self.account(end, out);
            self.close_if_over(end, out);
        }
        let Some(at) = self.books.accounted else { return };
        out.sample(Sample::good(
            self.out.hours,
            Timestamp(at),
            Value::Float(self.runtime().as_secs_f64() / 3600.0),
        ));
        if let Some(shift) = self.books.shift.clone() {
            self.figures(&shift, Timestamp(at), out);
        }
    }

    fn save(&self) -> Option<serde_json::Value> {
        crate::engine::save_state(&self.books)
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<(), String> {
        crate::engine::restore_state(&mut self.books, state)
    }
}
