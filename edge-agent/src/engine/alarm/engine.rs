//! The alarm state machine: four limit levels, each with its own on/off delay timer and deadband.
//!
//! Each level (high-high, high, low, low-low) is raised once its limit has been violated for `on_delay`
//! and cleared once the value has been back inside by `deadband` for `off_delay`. The state is the most
//! severe raised level, so escalation and de-escalation fall out of the levels and need no extra rules.
//! Between samples the last good value is taken to hold, which is how a delay can expire on a tick.

use std::time::Duration;

use drivers::units::Span;
use protocols::{Quality, Reason, Sample, TagId, Timestamp, Value};

use super::AlarmConfig;
use crate::engine::{Emitter, Engine, Event};

/// Alarm state as carried on the state tag (`Value::Int`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlarmState {
    LowLow,
    Low,
    Normal,
    High,
    HighHigh,
}

impl AlarmState {
    /// 0 normal, 1 high, 2 high-high, -1 low, -2 low-low.
    pub fn code(self) -> i64 {
        match self {
            AlarmState::LowLow => -2,
            AlarmState::Low => -1,
            AlarmState::Normal => 0,
            AlarmState::High => 1,
            AlarmState::HighHigh => 2,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AlarmState::LowLow => "LOW_LOW",
            AlarmState::Low => "LOW",
            AlarmState::Normal => "NORMAL",
            AlarmState::High => "HIGH",
            AlarmState::HighHigh => "HIGH_HIGH",
        }
    }
}

/// One limit and its timer. `since` is when the pending change (raise if inactive, clear if active) began.
#[derive(Debug, Clone)]
struct Level {
    state: AlarmState,
    limit: f64,
    /// +1 for high limits (violated above), -1 for low limits (violated below).
    side: f64,
    active: bool,
    since: Option<Timestamp>,
}

impl Level {
    fn violated(&self, v: f64) -> bool {
        self.side * (v - self.limit) > 0.0
    }

    /// Back inside the limit by the deadband.
    fn cleared(&self, v: f64, deadband: f64) -> bool {
        self.side * (self.limit - v) >= deadband
    }
}

/// One limit level raised or cleared, at the instant its delay ran out, with what the log says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub at: Timestamp,
    pub level: AlarmState,
    pub active: bool,
    pub message: String,
}

/// Limit alarms on one tag, as configured by one `[[alarm]]`.
#[derive(Debug, Clone)]
pub struct AlarmEngine {
    tag: String,
    source: String,
    watched: TagId,
    state_tag: TagId,
    deadband: f64,
    on_delay: Duration,
    off_delay: Duration,
    /// Most severe first on each side, so the first active level is the state.
    levels: Vec<Level>,
    state: AlarmState,
    /// Nothing has been emitted yet: the first good value publishes the state even if it is normal.
    announced: bool,
    last_value: Option<f64>,
    input_bad: bool,
    /// Level changes since the owner last drained them (the alarm lifecycle follows each level).
    pub transitions: Vec<Transition>,
}

impl AlarmEngine {
    pub fn new(cfg: &AlarmConfig, watched: TagId, state_tag: TagId) -> AlarmEngine {
        let tag = cfg.tag.get_ref().clone();
        let levels = [
            (AlarmState::HighHigh, cfg.high_high, 1.0),
            (AlarmState::High, cfg.high, 1.0),
            (AlarmState::LowLow, cfg.low_low, -1.0),
            (AlarmState::Low, cfg.low, -1.0),
        ]
        .into_iter()
        .filter_map(|(state, limit, side)| {
            limit.map(|limit| Level { state, limit, side, active: false, since: None })
        })
        .collect();
        AlarmEngine {
            source: format!("alarm {tag}"),
            tag,
            watched,
            state_tag,
            deadband: cfg.deadband.abs(),
            on_delay: cfg.on_delay.get(),
            off_delay: cfg.off_delay.get(),
            levels,
            state: AlarmState::Normal,
            announced: false,
            last_value: None,
            input_bad: false,
            transitions: Vec::new(),
        }
    }

    pub fn state(&self) -> AlarmState {
        self.state
    }

    /// The last good value seen.
    pub fn last_value(&self) -> Option<f64> {
        self.last_value
    }

    /// Takes up levels that were raised before a restart as raised: they clear by the usual rule (back
    /// inside by the deadband for `off_delay`) instead of being raised again as new alarms.
    pub fn assume_active(&mut self, levels: &[AlarmState]) {
        for l in self.levels.iter_mut() {
            l.active = levels.contains(&l.state);
            l.since = None;
        }
        self.state = self.current_state();
    }

    fn current_state(&self) -> AlarmState {
        self.levels.iter().find(|l| l.active).map_or(AlarmState::Normal, |l| l.state)
    }

    fn state_sample(&self, ts: Timestamp, quality: Quality) -> Sample {
        Sample { tag: self.state_tag, ts, value: Value::Int(self.state.code()), quality }
    }

    /// Flips every level whose delay has run out by `now`, in time order, emitting each state change at
    /// the instant it became effective.
    fn expire(&mut self, now: Timestamp, out: &mut Emitter) {
        loop {
            let due = self
                .levels
                .iter()
                .enumerate()
                .filter_map(|(i, l)| {
                    let delay = if l.active { self.off_delay } else { self.on_delay };
                    l.since.map(|s| (s.saturating_add(delay), i))
                })
                .filter(|&(at, _)| at <= now)
                .min_by_key(|&(at, _)| at);
            let Some((at, _)) = due else { return };
            // Levels due at the same instant flip together: one change, not a flicker through each.
            let mut changed = Vec::new();
            for l in self.levels.iter_mut() {
                let delay = if l.active { self.off_delay } else { self.on_delay };
                if l.since.is_some_and(|s| s.saturating_add(delay) == at) {
                    l.active = !l.active;
                    l.since = None;
                    changed.push((l.state, l.limit, l.side, l.active));
                }
            }
            let next = self.current_state();
            let message = self.describe(next, &changed);
            for &(level, _, _, active) in &changed {
                self.transitions.push(Transition { at, level, active, message: message.clone() });
            }
            if next != self.state {
                self.state = next;
                self.announced = true;
                out.sample(self.state_sample(at, Quality::Good));
                out.event(Event { ts: at, source: self.source.clone(), message });
            }
        }
    }

    fn describe(&self, next: AlarmState, changed: &[(AlarmState, f64, f64, bool)]) -> String {
        let v = self.last_value.unwrap_or(f64::NAN);
        let raised = changed.iter().filter(|c| c.3).max_by_key(|c| c.0.code().abs());
        if let Some(&(state, limit, side, _)) = raised.filter(|c| c.0 == next) {
            let dir = if side > 0.0 { "above" } else { "below" };
            return format!("{} {}: {v} {dir} {limit} for {}", self.tag, state.label(), Span(self.on_delay));
        }
        // Levels are listed most severe first, so the last one cleared is the limit the value is back inside.
        let cleared: Vec<_> = changed.iter().filter(|c| !c.3).collect();
        match cleared.last() {
            Some(&&(_, limit, side, _)) => {
                let dir = if side > 0.0 { "below" } else { "above" };
                let back = limit - side * self.deadband;
                let names: Vec<&str> = cleared.iter().map(|c| c.0.label()).collect();
                format!(
                    "{} {}: {v} back {dir} {back} for {} ({} cleared)",
                    self.tag,
                    next.label(),
                    Span(self.off_delay),
                    names.join(" and ")
                )
            }
            None => format!("{} {}: {v}", self.tag, next.label()),
        }
    }

    /// Starts or stops each level's timer for a good value `v` seen at `ts`.
    fn observe(&mut self, v: f64, ts: Timestamp) {
        self.last_value = Some(v);
        for l in self.levels.iter_mut() {
            let changing = if l.active { l.cleared(v, self.deadband) } else { l.violated(v) };
            l.since = if changing { Some(l.since.unwrap_or(ts)) } else { None };
        }
    }

    fn input_bad(&mut self, ts: Timestamp, reason: Reason, out: &mut Emitter) {
        // A value that cannot be trusted must not start, finish or keep timing a raise or a clear.
        for l in self.levels.iter_mut() {
            l.since = None;
        }
        if self.input_bad {
            return;
        }
        self.input_bad = true;
        out.sample(self.state_sample(ts, Quality::Uncertain(reason)));
        out.event(Event {
            ts,
            source: self.source.clone(),
            message: format!("{} input bad ({reason}): alarm held at {}", self.tag, self.state.label()),
        });
    }
}

impl Engine for AlarmEngine {
    fn on_sample(&mut self, sample: &Sample, out: &mut Emitter) {
        if sample.tag != self.watched {
            return;
        }
        if !self.input_bad {
            // The previous value held until now; delays that ran out meanwhile take effect first.
            self.expire(sample.ts, out);
        }
        let value = sample.value.as_f64().filter(|v| !v.is_nan());
        let reason = match (sample.quality, value) {
            (Quality::Bad(r) | Quality::Uncertain(r), _) => Some(r),
            (Quality::Good, None) => Some(Reason::DecodeError),
            (Quality::Good, Some(_)) => None,
        };
        match (reason, value) {
            (Some(r), _) => self.input_bad(sample.ts, r, out),
            (None, Some(v)) => {
                let resumed = std::mem::replace(&mut self.input_bad, false);
                self.observe(v, sample.ts);
                let before = out.samples.len();
                self.expire(sample.ts, out);
                let emitted = out.samples.len() > before;
                if (resumed || !self.announced) && !emitted {
                    self.announced = true;
                    out.sample(self.state_sample(sample.ts, Quality::Good));
                }
                if resumed {
                    out.event(Event {
                        ts: sample.ts,
                        source: self.source.clone(),
                        message: format!("{} input good again: {v}, alarm {}", self.tag, self.state.label()),
                    });
                }
            }
            (None, None) => {}
        }
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Emitter) {
        if !self.input_bad {
            self.expire(now, out);
        }
    }
}
