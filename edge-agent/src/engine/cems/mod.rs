//! Continuous emission monitoring (CEMS) of one stack: each pollutant's reading converted to
//! mg/m³ at standard conditions on a dry basis, corrected to the reference oxygen, its emission
//! rate and mass; minute, hour and day aggregates with valid-data counts and HJ 212 data flags;
//! limit exceedance on the hourly average; and the HJ 212 records the platform uplink sends.
//!
//! ```toml
//! [[cems]]
//! stack = "锅炉一号"
//! o2 = "锅炉一号.氧量"              # %, dry unless o2_wet
//! o2_reference = 6.0
//! moisture = "锅炉一号.湿度"        # % by volume
//! temperature = "锅炉一号.烟温"     # °C
//! pressure = "锅炉一号.静压"        # Pa, gauge (added to `atmosphere`)
//! velocity = "锅炉一号.流速"        # m/s
//! area = 12.5                      # m², the duct at the sampling plane
//! status = "锅炉一号.CEMS状态"      # 0 N, 1 F, 2 M, 3 S, 4 D, 5 C, 6 T, 7 B
//! pollutants = [
//!   { name = "so2", code = "a21026", tag = "锅炉一号.SO2", unit = "ppm", molar_mass = 64.06, limit = 35.0 },
//!   { name = "nox", code = "a21002", tag = "锅炉一号.NO", no2 = "锅炉一号.NO2", unit = "ppm", limit = 50.0 },
//!   { name = "dust", code = "a34013", tag = "锅炉一号.烟尘", unit = "mg/m3", actual = true, wet = true },
//! ]
//! ```
//!
//! Lossless: it reads the store, so an aggregate counts every sample once across a restart, and
//! saves its open periods and masses with its position.

mod aggregate;
pub mod convert;
mod engine;
pub mod flags;
mod kind;
mod plan;
mod record;
#[cfg(test)]
mod tests;

pub use aggregate::{Acc, Summary};
pub use engine::CemsEngine;
pub use flags::DataFlag;
pub use kind::CemsKind;

use drivers::units::Span;
use serde::Deserialize;
use serde_spanned::Spanned;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    /// The stack's name: the derived tags are `<stack>.<pollutant>.<what>`.
    pub stack: Spanned<String>,
    pub o2: Option<Spanned<String>>,
    /// Reference oxygen, %: every pollutant's `zs` value is corrected to it.
    pub o2_reference: Option<Spanned<f64>>,
    /// The oxygen analyser measures wet flue gas (in situ): its reading is put on a dry basis.
    #[serde(default)]
    pub o2_wet: bool,
    pub moisture: Option<Spanned<String>>,
    pub temperature: Option<Spanned<String>>,
    pub pressure: Option<Spanned<String>>,
    /// Barometric pressure, Pa, to which the flue's gauge pressure is added.
    #[serde(default = "atmosphere")]
    pub atmosphere: f64,
    pub velocity: Option<Spanned<String>>,
    pub area: Option<Spanned<f64>>,
    pub status: Option<Spanned<String>>,
    /// Real-time records (HJ 212 2011) every this long.
    #[serde(default = "realtime")]
    pub realtime: Spanned<Span>,
    #[serde(default = "hour_min_minutes")]
    pub hour_min_minutes: Spanned<u32>,
    #[serde(default = "day_min_hours")]
    pub day_min_hours: Spanned<u32>,
    /// Hours east of UTC of the platform's clock: hours and days are on it.
    #[serde(default = "utc_offset")]
    pub utc_offset: Spanned<i32>,
    pub pollutants: Vec<PollutantConfig>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PollutantConfig {
    /// Short name in tag names: `so2`.
    pub name: Spanned<String>,
    /// HJ 212 pollutant code: `a21026`.
    pub code: Spanned<String>,
    pub tag: Spanned<String>,
    /// NOx: `tag` is NO and this NO2; the sum is expressed as NO2.
    pub no2: Option<Spanned<String>>,
    #[serde(default)]
    pub unit: Unit,
    /// g/mol, for `ppm` (NOx defaults to NO2's 46.01).
    pub molar_mass: Option<Spanned<f64>>,
    /// A mg/m³ reading at flue temperature and pressure, not standard conditions.
    #[serde(default)]
    pub actual: bool,
    /// The analyser measures wet gas: divided by (1 − Xsw).
    #[serde(default)]
    pub wet: bool,
    /// Correct to `o2_reference` (default true when the stack has one).
    #[serde(default = "yes")]
    pub correct_o2: bool,
    /// Hourly average limit, mg/m³ (oxygen-corrected when corrected).
    pub limit: Option<Spanned<f64>>,
    /// The analyser's upper range in the reading's unit: above it the flag is `T`.
    pub range: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
pub enum Unit {
    #[serde(rename = "ppm")]
    Ppm,
    #[default]
    #[serde(rename = "mg/m3")]
    MgM3,
}

fn atmosphere() -> f64 {
    convert::P0
}
fn realtime() -> Spanned<Span> {
    Spanned::new(0..0, Span::secs(30))
}
fn hour_min_minutes() -> Spanned<u32> {
    Spanned::new(0..0, 45)
}
fn day_min_hours() -> Spanned<u32> {
    Spanned::new(0..0, 20)
}
fn utc_offset() -> Spanned<i32> {
    Spanned::new(0..0, 8)
}
fn yes() -> bool {
    true
}

impl StackConfig {
    pub fn has_flow(&self) -> bool {
        self.velocity.is_some() && self.area.is_some()
    }
    pub fn corrects(&self, p: &PollutantConfig) -> bool {
        self.o2_reference.is_some() && self.o2.is_some() && p.correct_o2
    }
}
