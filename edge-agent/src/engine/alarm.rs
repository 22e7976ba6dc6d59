//! Limit alarms on one analog tag: low-low, low, high, high-high, with deadband and on/off delays
//! (the ISA-18.2 shape plant operators know).
//!
//! ```toml
//! [[alarm]]
//! tag = "kiln.temp"
//! high = 950.0
//! high_high = 1000.0
//! deadband = 5.0
//! on_delay = "10s"
//! ```

mod engine;
mod kind;
#[cfg(test)]
mod tests;

pub use engine::{AlarmEngine, AlarmState};
pub use kind::{ALARM_TICK, AlarmKind};

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
    /// The limit must stay violated this long before the alarm is raised (filters spikes).
    #[serde(default)]
    pub on_delay: Span,
    /// The value must stay back inside this long before the alarm clears (filters chatter).
    #[serde(default)]
    pub off_delay: Span,
}

impl AlarmConfig {
    /// The derived tag carrying the alarm state: `<tag>.alarm`.
    pub fn state_tag(&self) -> String {
        format!("{}.alarm", self.tag.get_ref())
    }

    /// Checks what the engine cannot make sense of: no limit at all, a limit that is not a number, limits
    /// out of order (`low_low < low < high < high_high`), a negative deadband.
    pub fn check(&self) -> Result<(), String> {
        let tag = self.tag.get_ref();
        let limits = [
            ("low_low", self.low_low),
            ("low", self.low),
            ("high", self.high),
            ("high_high", self.high_high),
        ];
        let set: Vec<(&str, f64)> = limits.iter().filter_map(|&(n, v)| v.map(|v| (n, v))).collect();
        if set.is_empty() {
            return Err(format!(
                "alarm on {tag}: no limit set; give at least one of low_low, low, high, high_high"
            ));
        }
        if let Some((name, v)) = set.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("alarm on {tag}: `{name}` is {v}; write a finite number"));
        }
        if let Some(w) = set.windows(2).find(|w| w[0].1 >= w[1].1) {
            return Err(format!(
                "alarm on {tag}: `{}` ({}) must be below `{}` ({}); limits go low_low < low < high < high_high",
                w[0].0, w[0].1, w[1].0, w[1].1
            ));
        }
        if !(self.deadband >= 0.0 && self.deadband.is_finite()) {
            return Err(format!(
                "alarm on {tag}: `deadband` is {}; write a distance of 0 or more",
                self.deadband
            ));
        }
        Ok(())
    }
}
