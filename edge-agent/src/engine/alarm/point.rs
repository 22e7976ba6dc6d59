//! One `[[alarm]]`: its limit levels and other conditions, each with its lifecycle, published as
//! `<tag>.alarm` (limit state), `<tag>.alarm.state` (what the operator must do first) and
//! `<tag>.alarm.event` (each event as text, so it is stored and sent like any sample).

use std::time::Duration;

use protocols::{Quality, Sample, TagId, Timestamp, Value};
use serde_json::{Value as Json, json};

use super::conditions::{Change, Condition, Reading, conditions};
use super::lifecycle::{Lifecycle, LifecycleState, Priority};
use super::{AlarmConfig, AlarmEngine, AlarmState};
use crate::engine::{Command, CommandError, Emitter, Engine, Event, Family, Gauges};

/// The tags an alarm point reads and derives, as the agent numbered them.
pub struct PointTags {
    pub watched: TagId,
    pub setpoint: Option<TagId>,
    pub limit_state: TagId,
    pub lifecycle: TagId,
    pub event: TagId,
}

pub struct AlarmPoint {
    tag: String,
    source: String,
    tags: PointTags,
    limits: AlarmEngine,
    scratch: Emitter,
    conditions: Vec<Condition>,
    /// Limit levels first (most severe first), then the other conditions, as `AlarmConfig::conditions`.
    lifecycles: Vec<Lifecycle>,
    setpoint: Option<f64>,
    max_shelve: Duration,
    shown: Option<LifecycleState>,
}

static ACTIVE: Family =
    Family { name: "edge_alarms_active", kind: "gauge", help: "Alarm conditions active now, by priority." };
static UNACKNOWLEDGED: Family = Family {
    name: "edge_alarms_unacknowledged",
    kind: "gauge",
    help: "Alarm conditions waiting for an acknowledgement (active or returned), by priority.",
};
static SHELVED: Family =
    Family { name: "edge_alarms_shelved", kind: "gauge", help: "Alarm conditions shelved, by priority." };
static OUT_OF_SERVICE: Family = Family {
    name: "edge_alarms_out_of_service",
    kind: "gauge",
    help: "Alarm conditions out of service, by priority.",
};
static ACTIVATIONS: Family = Family {
    name: "edge_alarm_activations_total",
    kind: "counter",
    help: "Times an alarm condition was raised, by priority (kept across restarts).",
};

impl AlarmPoint {
    pub fn new(cfg: &AlarmConfig, tags: PointTags) -> AlarmPoint {
        let tag = cfg.tag.get_ref().clone();
        let lifecycles = cfg
            .conditions()
            .into_iter()
            .map(|label| {
                let priority = cfg.priorities.get(&label).copied().unwrap_or(cfg.priority);
                Lifecycle::new(label, priority)
            })
            .collect();
        AlarmPoint {
            source: format!("alarm {tag}"),
            limits: AlarmEngine::new(cfg, tags.watched, tags.limit_state),
            tags,
            scratch: Emitter::default(),
            conditions: conditions(cfg),
            lifecycles,
            setpoint: None,
            max_shelve: cfg.max_shelve.get(),
            shown: None,
            tag,
        }
    }

    /// What the operator sees of the whole tag: the state of its most pressing condition.
    pub fn state(&self) -> LifecycleState {
        self.lifecycles
            .iter()
            .map(Lifecycle::state)
            .max_by_key(|s| s.urgency())
            .unwrap_or(LifecycleState::Normal)
    }

    pub fn lifecycle(&self, label: &str) -> Option<&Lifecycle> {
        self.lifecycles.iter().find(|l| l.label == label)
    }

    fn announce(&mut self, at: Timestamp, message: String, out: &mut Emitter) {
        let message = format!("{} {message}", self.tag);
        out.text(self.tags.event, at, &message);
        out.event(Event { ts: at, source: self.source.clone(), message });
        self.show(at, out);
    }

    fn show(&mut self, at: Timestamp, out: &mut Emitter) {
        let state = self.state();
        if self.shown != Some(state) {
            self.shown = Some(state);
            out.sample(Sample::good(self.tags.lifecycle, at, Value::Int(state.code())));
        }
    }

    fn apply(&mut self, label: &str, change: Change, out: &mut Emitter) {
        let Some(l) = self.lifecycles.iter_mut().find(|l| l.label == label) else { return };
        let message =
            if change.active { l.raise(change.at, &change.detail) } else { l.clear(&change.detail) };
        self.announce(change.at, message, out);
    }

    /// Carries what the limit levels did into their lifecycles.
    fn follow_limits(&mut self, out: &mut Emitter) {
        out.samples.append(&mut self.scratch.samples);
        let transitions = std::mem::take(&mut self.limits.transitions);
        if transitions.is_empty() {
            // Input bad or good again: no lifecycle changed, the limit engine's words stand.
            out.events.append(&mut self.scratch.events);
        }
        self.scratch.events.clear();
        for t in transitions {
            let change = Change { at: t.at, active: t.active, detail: t.message.clone() };
            self.apply(t.level.label(), change, out);
        }
    }

    fn conditions_changed(&mut self, changes: Vec<(usize, Change)>, out: &mut Emitter) {
        for (i, change) in changes {
            let label = self.conditions[i].label.clone();
            self.apply(&label, change, out);
        }
    }

    fn selected(&mut self, condition: &Option<String>) -> Result<Vec<usize>, CommandError> {
        match condition {
            None => Ok((0..self.lifecycles.len()).collect()),
            Some(c) => match self.lifecycles.iter().position(|l| l.label.eq_ignore_ascii_case(c)) {
                Some(i) => Ok(vec![i]),
                None => {
                    let has: Vec<&str> = self.lifecycles.iter().map(|l| l.label.as_str()).collect();
                    Err(CommandError::Refused(format!(
                        "alarm on {} has no condition {c:?}; it has {}",
                        self.tag,
                        has.join(", ")
                    )))
                }
            },
        }
    }
}

/// ` by 李工: reason`, as much of it as was given.
fn by(who: &Option<String>, why: &Option<String>) -> String {
    let mut s = who.as_deref().map(|w| format!(" by {w}")).unwrap_or_default();
    if let Some(why) = why.as_deref().filter(|w| !w.is_empty()) {
        s.push_str(": ");
        s.push_str(why);
    }
    s
}

impl Engine for AlarmPoint {
    fn on_sample(&mut self, sample: &Sample, out: &mut Emitter) {
        if Some(sample.tag) == self.tags.setpoint {
            self.setpoint = sample.value.as_f64().filter(|_| !matches!(sample.quality, Quality::Bad(_)));
            return;
        }
        if sample.tag != self.tags.watched {
            return;
        }
        self.limits.on_sample(sample, &mut self.scratch);
        self.follow_limits(out);
        let reading = Reading {
            ts: sample.ts,
            value: sample.value.as_f64(),
            quality: sample.quality,
            setpoint: self.setpoint,
        };
        let mut changes = Vec::new();
        for (i, c) in self.conditions.iter_mut().enumerate() {
            let mut mine = Vec::new();
            c.on_reading(&reading, &mut mine);
            changes.extend(mine.into_iter().map(|m| (i, m)));
        }
        self.conditions_changed(changes, out);
        if self.shown.is_none() {
            self.show(sample.ts, out);
        }
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Emitter) {
        self.limits.on_tick(now, &mut self.scratch);
        self.follow_limits(out);
        let mut changes = Vec::new();
        for (i, c) in self.conditions.iter_mut().enumerate() {
            let mut mine = Vec::new();
            c.on_tick(now, &mut mine);
            changes.extend(mine.into_iter().map(|m| (i, m)));
        }
        self.conditions_changed(changes, out);
        for i in 0..self.lifecycles.len() {
            if let Some(message) = self.lifecycles[i].expire(now) {
                self.announce(now, message, out);
            }
        }
    }

    fn on_command(
        &mut self,
        now: Timestamp,
        command: &Command,
        out: &mut Emitter,
    ) -> Result<Json, CommandError> {
        let mut messages = Vec::new();
        let nothing = match command {
            Command::Acknowledge { condition, by: who, comment } => {
                for i in self.selected(condition)? {
                    messages.extend(self.lifecycles[i].acknowledge(&by(who, comment)));
                }
                "nothing to acknowledge"
            }
            Command::Shelve { condition, duration, by: who, reason } => {
                let d = duration.get();
                if d.is_zero() || d > self.max_shelve {
                    return Err(CommandError::Refused(format!(
                        "shelve {} for more than 0s and at most {} (its max_shelve)",
                        self.tag,
                        drivers::units::Span(self.max_shelve)
                    )));
                }
                for i in self.selected(condition)? {
                    messages.push(self.lifecycles[i].shelve(now, d, &by(who, reason)));
                }
                "nothing to shelve"
            }
            Command::Unshelve { condition, by: who } => {
                for i in self.selected(condition)? {
                    messages.extend(self.lifecycles[i].unshelve(&format!("unshelved{}", by(who, &None))));
                }
                "nothing is shelved"
            }
            Command::OutOfService { condition, by: who, reason } => {
                for i in self.selected(condition)? {
                    messages.extend(self.lifecycles[i].set_out_of_service(true, &by(who, reason)));
                }
                "already out of service"
            }
            Command::InService { condition, by: who } => {
                for i in self.selected(condition)? {
                    messages.extend(self.lifecycles[i].set_out_of_service(false, &by(who, &None)));
                }
                "already in service"
            }
            Command::Loop { .. } => {
                return Err(CommandError::Refused(format!(
                    "alarm on {}: an alarm takes acknowledge, shelve, unshelve, out_of_service or in_service",
                    self.tag
                )));
            }
        };
        if messages.is_empty() {
            return Err(CommandError::Refused(format!("alarm on {}: {nothing}", self.tag)));
        }
        for m in messages {
            self.announce(now, m, out);
        }
        Ok(self.status().unwrap_or(Json::Null))
    }

    fn status(&self) -> Option<Json> {
        let conditions: Vec<Json> = self
            .lifecycles
            .iter()
            .map(|l| {
                json!({
                    "condition": l.label,
                    "priority": l.priority.label(),
                    "state": l.state().label(),
                    "active": l.active,
                    "acknowledged": l.acknowledged,
                    "shelved_until_ns": l.shelved_until,
                    "out_of_service": l.out_of_service,
                    "since_ns": l.since,
                    "message": l.message,
                })
            })
            .collect();
        Some(json!({
            "tag": self.tag,
            "state": self.state().label(),
            "value": self.limits.last_value(),
            "conditions": conditions,
        }))
    }

    fn gauges(&self, g: &mut Gauges) {
        for f in [&ACTIVE, &UNACKNOWLEDGED, &SHELVED, &OUT_OF_SERVICE, &ACTIVATIONS] {
            g.declare(f);
        }
        let mut counts = [[0.0f64; 5]; 4];
        let mut present = [false; 4];
        for l in &self.lifecycles {
            let p = Priority::ALL.iter().position(|&p| p == l.priority).unwrap_or(1);
            present[p] = true;
            let c = &mut counts[p];
            c[0] += f64::from(u8::from(l.active));
            c[1] += f64::from(u8::from(!l.acknowledged));
            c[2] += f64::from(u8::from(l.shelved_until.is_some()));
            c[3] += f64::from(u8::from(l.out_of_service));
            c[4] += l.activations as f64;
        }
        for (p, c) in counts.iter().enumerate().filter(|(p, _)| present[*p]) {
            let labels = [("priority", Priority::ALL[p].label())];
            for (f, v) in
                [&ACTIVE, &UNACKNOWLEDGED, &SHELVED, &OUT_OF_SERVICE, &ACTIVATIONS].into_iter().zip(c)
            {
                g.add(f, &labels, *v);
            }
        }
    }

    fn save(&self) -> Option<Json> {
        serde_json::to_value(&self.lifecycles).ok()
    }

    fn restore(&mut self, state: Json) -> Result<(), String> {
        let saved: Vec<Lifecycle> = serde_json::from_value(state).map_err(|e| e.to_string())?;
        for s in saved {
            if let Some(l) = self.lifecycles.iter_mut().find(|l| l.label == s.label) {
                // The priority is the config's: it may have changed since.
                *l = Lifecycle { priority: l.priority, ..s };
            }
        }
        let levels: Vec<AlarmState> =
            [AlarmState::HighHigh, AlarmState::High, AlarmState::LowLow, AlarmState::Low]
                .into_iter()
                .filter(|s| self.lifecycle(s.label()).is_some_and(|l| l.active))
                .collect();
        self.limits.assume_active(&levels);
        for c in &mut self.conditions {
            if self.lifecycles.iter().any(|l| l.label == c.label && l.active) {
                c.assume_active();
            }
        }
        Ok(())
    }
}
