//! `[[sim.device]]`: a simulated device and its tags, each a named signal shape or a small process model.
//!
//! ```toml
//! [[sim.device]]
//! name = "kiln"
//! scan = "1s"
//! seed = 7
//! tags = [
//!   { name = "kiln.fuel_valve", shape = "constant", offset = 40.0, writable = { min = 0.0, max = 100.0 } },
//!   { name = "kiln.temp", shape = "fopdt", input = "kiln.fuel_valve", gain = 20.0, offset = 25.0,
//!     time_constant = "2m", dead_time = "10s" },
//!   { name = "kiln.fan_kw", shape = "random_walk", offset = 11.0, amplitude = 0.2, min = 8.0, max = 15.0 },
//! ]
//! ```

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::units::Span;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimDeviceConfig {
    pub name: Spanned<String>,
    /// How often every tag is sampled.
    #[serde(default = "default_scan")]
    pub scan: Span,
    /// Seed of the noise and random-walk generators: the same seed gives the same values.
    #[serde(default)]
    pub seed: u64,
    /// Make the device misbehave on a schedule, to see Bad samples and health change without hardware.
    #[serde(default)]
    pub fault: Option<SimFaultConfig>,
    /// Read entry by entry, so every bad tag is reported (see `kind.rs`).
    #[serde(default)]
    pub tags: Vec<SimTagConfig>,
}

fn default_scan() -> Span {
    Span::secs(1)
}

/// Every `every`, the device stops answering for `lasting`: its tags read Bad (timeout).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimFaultConfig {
    pub every: Span,
    pub lasting: Span,
    /// When the first window opens, counted from the first scan; default one `every` in, so the device
    /// starts healthy. `"0s"` makes it fail from its first scan (a device that is down at commissioning).
    #[serde(default)]
    pub start: Option<Span>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// `offset + amplitude * sin(2πt / period)`.
    Sine,
    /// Sawtooth from `offset` to `offset + amplitude` over each `period`.
    Ramp,
    /// Square wave: `offset` for the first half of each `period`, `offset + amplitude` for the second.
    Step,
    /// `offset` plus Gaussian noise with standard deviation `amplitude`.
    Noise,
    /// Starts at `offset`, moves by up to ±`amplitude` each scan, kept inside `[min, max]`.
    RandomWalk,
    /// An unsigned counter: `+step` each scan, back to 0 after `rollover` (a meter's register wrapping).
    Counter,
    /// Holds `offset`, or the last value written to it (a setpoint or an actuator).
    Constant,
    /// First order plus dead time: follows `gain * input + offset` with `time_constant`, `dead_time` late.
    Fopdt,
    /// One composition of the Wood–Berry column (1973), driven by its `reflux` and `steam` tags.
    WoodBerry,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimTagConfig {
    pub name: Spanned<String>,
    pub shape: Shape,
    #[serde(default)]
    pub offset: f64,
    #[serde(default = "one")]
    pub amplitude: f64,
    #[serde(default = "default_period")]
    pub period: Span,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Counter increment per scan.
    #[serde(default = "one_u64")]
    pub step: u64,
    /// Counter wraps to 0 after this value (65535 for a 16-bit register).
    #[serde(default = "default_rollover")]
    pub rollover: u64,
    /// Fopdt: the tag on the same device that drives this one.
    pub input: Option<Spanned<String>>,
    #[serde(default = "one")]
    pub gain: f64,
    #[serde(default = "default_period")]
    pub time_constant: Span,
    #[serde(default)]
    pub dead_time: Span,
    /// WoodBerry: `top` (xD) or `bottom` (xB).
    pub composition: Option<super::wood_berry::Composition>,
    /// WoodBerry: the reflux tag on the same device (lb/min).
    pub reflux: Option<Spanned<String>>,
    /// WoodBerry: the steam tag on the same device (lb/min).
    pub steam: Option<Spanned<String>>,
    /// Declares the tag writable within these limits (only `constant` tags accept writes).
    pub writable: Option<Spanned<WritableConfig>>,
}

pub use crate::write::WritableConfig;

fn one() -> f64 {
    1.0
}
fn one_u64() -> u64 {
    1
}
fn default_period() -> Span {
    Span::secs(60)
}
fn default_rollover() -> u64 {
    u16::MAX as u64
}
