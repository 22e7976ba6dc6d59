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
#[cfg(test)]
mod tests;

pub use engine::{AlarmEngine, AlarmState};

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
}
