//! Alarms on one tag, as the ISA-18.2 alarm lifecycle has them: limit levels (low-low, low, high,
//! high-high) with deadband and on/off delays, rate of change, deviation from a setpoint tag, stale
//! and frozen values, bad quality and a digital state that is not the normal one. Each condition is
//! acknowledged, shelved (for a limited time) and taken out of service on its own.
//!
//! ```toml
//! [[alarm]]
//! tag = "kiln.temp"
//! high = 950.0
//! high_high = 1000.0
//! deadband = 5.0
//! on_delay = "10s"
//! priority = "high"
//! priorities = { HIGH_HIGH = "urgent" }
//! rate = { limit = 20.0, per = "1m" }
//! deviation = { setpoint = "kiln.setpoint", limit = 30.0 }
//! stale = "30s"
//! frozen = "10m"
//! bad_quality = true
//! ```

mod conditions;
mod engine;
mod kind;
mod lifecycle;
mod point;
#[cfg(test)]
mod tests;

pub use engine::{AlarmEngine, AlarmState, Transition};
pub use kind::{ALARM_TICK, AlarmKind};
pub use lifecycle::{LifecycleState, Priority};
pub use point::AlarmPoint;

use std::collections::BTreeMap;

use drivers::units::Span;
use serde::Deserialize;
use serde_spanned::Spanned;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    /// The tag watched; it must be declared by some device.
    pub tag: Spanned<String>,
    pub low_low: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub high_high: Option<f64>,
    /// A raised alarm clears only once the value is this far back inside the limit.
    #[serde(default)]
    pub deadband: f64,
    /// The condition must hold this long before the alarm is raised (filters spikes).
    #[serde(default)]
    pub on_delay: Span,
    /// The condition must stay gone this long before the alarm clears (filters chatter).
    #[serde(default)]
    pub off_delay: Span,
    /// Of every condition of this alarm, unless `priorities` names it.
    #[serde(default)]
    pub priority: Priority,
    /// Per condition (`HIGH_HIGH`, `STALE`, ...): a priority other than `priority`.
    #[serde(default)]
    pub priorities: BTreeMap<String, Priority>,
    pub rate: Option<RateConfig>,
    pub deviation: Option<DeviationConfig>,
    /// No sample at all for this long.
    pub stale: Option<Span>,
    /// Good values that have not changed (by more than `frozen_band`) for this long: a stuck transmitter.
    pub frozen: Option<Span>,
    #[serde(default)]
    pub frozen_band: f64,
    /// The tag's quality is Bad (for `on_delay`).
    #[serde(default)]
    pub bad_quality: bool,
    pub digital: Option<DigitalConfig>,
    /// The longest an operator may shelve a condition of this alarm (ISA-18.2 §11.8: shelving is timed).
    #[serde(default = "default_max_shelve")]
    pub max_shelve: Span,
}

/// Faster than `limit` units per `per`, either way.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    pub limit: f64,
    #[serde(default = "one_second")]
    pub per: Span,
}

/// Further than `limit` from the value of tag `setpoint`; clears `deadband` closer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeviationConfig {
    pub setpoint: Spanned<String>,
    pub limit: f64,
}

/// A state tag (a trip, a breaker, a run feedback) whose value is not `normal`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DigitalConfig {
    pub normal: f64,
    /// The condition's name in events and the alarm list (default `DIGITAL`).
    pub label: Option<String>,
}

fn default_max_shelve() -> Span {
    Span::secs(8 * 3600)
}

fn one_second() -> Span {
    Span::secs(1)
}

impl AlarmConfig {
    /// An alarm on `tag` with no condition yet and every default.
    pub fn on(tag: Spanned<String>) -> AlarmConfig {
        AlarmConfig {
            tag,
            low_low: None,
            low: None,
            high: None,
            high_high: None,
            deadband: 0.0,
            on_delay: Span::default(),
            off_delay: Span::default(),
            priority: Priority::default(),
            priorities: BTreeMap::new(),
            rate: None,
            deviation: None,
            stale: None,
            frozen: None,
            frozen_band: 0.0,
            bad_quality: false,
            digital: None,
            max_shelve: default_max_shelve(),
        }
    }

    /// The derived tag carrying the limit state: `<tag>.alarm`.
    pub fn state_tag(&self) -> String {
        format!("{}.alarm", self.tag.get_ref())
    }

    /// The derived tag carrying the lifecycle state (0 normal, 1 unacknowledged, ...): `<tag>.alarm.state`.
    pub fn lifecycle_tag(&self) -> String {
        format!("{}.alarm.state", self.tag.get_ref())
    }

    /// The derived text tag carrying each alarm event to the store and the uplinks: `<tag>.alarm.event`.
    pub fn event_tag(&self) -> String {
        format!("{}.alarm.event", self.tag.get_ref())
    }

    /// The names of the conditions configured, most severe limit first.
    pub fn conditions(&self) -> Vec<String> {
        let mut names: Vec<String> = [
            ("HIGH_HIGH", self.high_high.is_some()),
            ("HIGH", self.high.is_some()),
            ("LOW_LOW", self.low_low.is_some()),
            ("LOW", self.low.is_some()),
            ("RATE", self.rate.is_some()),
            ("DEVIATION", self.deviation.is_some()),
            ("STALE", self.stale.is_some()),
            ("FROZEN", self.frozen.is_some()),
            ("BAD_QUALITY", self.bad_quality),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| (*n).to_owned())
        .collect();
        if let Some(d) = &self.digital {
            names.push(d.label.clone().unwrap_or_else(|| "DIGITAL".into()));
        }
        names
    }

    /// Checks what the engine cannot make sense of: no condition at all, a limit that is not a number,
    /// limits out of order (`low_low < low < high < high_high`), a negative deadband, a priority for a
    /// condition that is not configured.
    pub fn check(&self) -> Result<(), String> {
        let tag = self.tag.get_ref();
        let limits = [
            ("low_low", self.low_low),
            ("low", self.low),
            ("high", self.high),
            ("high_high", self.high_high),
        ];
        let set: Vec<(&str, f64)> = limits.iter().filter_map(|&(n, v)| v.map(|v| (n, v))).collect();
        let conditions = self.conditions();
        if conditions.is_empty() {
            return Err(format!(
                "alarm on {tag}: no condition set; give at least one of low_low, low, high, high_high, rate, deviation, stale, frozen, bad_quality, digital"
            ));
        }
        let numbers = [
            ("rate.limit", self.rate.as_ref().map(|r| r.limit)),
            ("deviation.limit", self.deviation.as_ref().map(|d| d.limit)),
            ("digital.normal", self.digital.as_ref().map(|d| d.normal)),
        ];
        if let Some((name, v)) = set
            .iter()
            .copied()
            .chain(numbers.iter().filter_map(|&(n, v)| v.map(|v| (n, v))))
            .find(|(_, v)| !v.is_finite())
        {
            return Err(format!("alarm on {tag}: `{name}` is {v}; write a finite number"));
        }
        if let Some(w) = set.windows(2).find(|w| w[0].1 >= w[1].1) {
            return Err(format!(
                "alarm on {tag}: `{}` ({}) must be below `{}` ({}); limits go low_low < low < high < high_high",
                w[0].0, w[0].1, w[1].0, w[1].1
            ));
        }
        for (name, v) in [("deadband", self.deadband), ("frozen_band", self.frozen_band)] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(format!("alarm on {tag}: `{name}` is {v}; write a distance of 0 or more"));
            }
        }
        if let Some(r) = &self.rate
            && (r.limit <= 0.0 || r.per.get().is_zero())
        {
            return Err(format!(
                "alarm on {tag}: `rate` needs a limit above 0 per a duration above 0, e.g. {{ limit = 5.0, per = \"1m\" }}"
            ));
        }
        if let Some(d) = &self.deviation
            && d.limit <= self.deadband
        {
            return Err(format!(
                "alarm on {tag}: `deviation.limit` ({}) must be above `deadband` ({}), or the deviation could never clear",
                d.limit, self.deadband
            ));
        }
        for (name, span) in [("stale", self.stale), ("frozen", self.frozen)] {
            if span.is_some_and(|s| s.get().is_zero()) {
                return Err(format!("alarm on {tag}: `{name}` is 0s; write how long, e.g. \"30s\""));
            }
        }
        if let Some(unknown) = self.priorities.keys().find(|k| !conditions.contains(k)) {
            return Err(format!(
                "alarm on {tag}: `priorities` names {unknown:?}, which this alarm does not have; it has {}",
                conditions.join(", ")
            ));
        }
        if self.max_shelve.get().is_zero() {
            return Err(format!(
                "alarm on {tag}: `max_shelve` is 0s; write the longest shelving allowed, e.g. \"8h\""
            ));
        }
        Ok(())
    }
}
