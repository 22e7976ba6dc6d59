//! Vibration condition of one measuring point: from waveform blocks (FFT) or from a velocity RMS tag,
//! the ISO 10816-3 zone (A/B/C/D) for the machine's group and foundation, and a trend of velocity RMS
//! that estimates the time until the next zone boundary, as early warning.
//!
//! A waveform block arrives as a burst of samples of one tag with consecutive timestamps `1 /
//! sample_rate` apart (a driver reading a vibration module's buffer publishes it so, stamping sample
//! i of a block taken at t0 with `t0 + i / sample_rate`); a gap or a jump in the spacing starts a new
//! block, and a block cut short is dropped and counted.
//!
//! ```toml
//! [[vibration]]
//! name = "泵3.驱动端"
//! waveform = "泵3.加速度"            # or rms = "泵3.速度有效值" (mm/s)
//! sample_rate = 2560.0
//! block = 2048
//! unit = "acceleration"              # m/s², integrated to velocity; or "velocity" (mm/s)
//! bands = [{ name = "1x", low = 20.0, high = 30.0 }, { name = "bearing", low = 500.0, high = 1000.0 }]
//! group = 2                          # ISO 10816-3: 1 large (300 kW–50 MW), 2 medium (15–300 kW)
//! foundation = "rigid"               # or "flexible"
//! ```

mod engine;
pub mod features;
mod kind;
#[cfg(test)]
mod tests;
pub mod zone;

pub use engine::VibrationEngine;
pub use kind::VibrationKind;

use drivers::units::Span;
use serde::Deserialize;
use serde_spanned::Spanned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// m/s²; velocity comes from the spectrum divided by 2πf.
    Acceleration,
    /// mm/s.
    Velocity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Foundation {
    Rigid,
    Flexible,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub name: String,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VibrationConfig {
    pub name: Spanned<String>,
    pub waveform: Option<Spanned<String>>,
    pub rms: Option<Spanned<String>>,
    #[serde(default)]
    pub sample_rate: f64,
    #[serde(default = "default_block")]
    pub block: usize,
    #[serde(default = "velocity")]
    pub unit: Unit,
    #[serde(default)]
    pub bands: Vec<Band>,
    pub group: Spanned<u8>,
    pub foundation: Foundation,
    /// Zone boundaries A/B, B/C, C/D in mm/s when the machine's own acceptance values differ.
    pub zones: Option<[f64; 3]>,
    /// How far back the trend fit looks.
    #[serde(default = "default_trend")]
    pub trend: Span,
    /// An early-warning event when the next zone boundary is estimated closer than this.
    #[serde(default = "default_warn")]
    pub warn_within: Span,
}

fn default_block() -> usize {
    1024
}
fn velocity() -> Unit {
    Unit::Velocity
}
fn default_trend() -> Span {
    Span::secs(7 * 86_400)
}
fn default_warn() -> Span {
    Span::secs(7 * 86_400)
}

impl VibrationConfig {
    pub fn outputs(&self) -> Vec<String> {
        let n = self.name.get_ref();
        let mut out =
            vec![format!("{n}.velocity_rms"), format!("{n}.zone"), format!("{n}.hours_to_next_zone")];
        if self.waveform.is_some() {
            out.extend(["peak", "crest_factor", "kurtosis"].map(|f| format!("{n}.{f}")));
            out.extend(self.bands.iter().map(|b| format!("{n}.band.{}", b.name)));
        }
        out
    }
}
