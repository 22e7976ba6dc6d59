//! Statistical process control of one quality tag: X̄-R, X̄-S or individuals / moving-range charts with
//! limits from a baseline, the Western Electric zone rules as events naming the rule, and Cp / Cpk
//! against the specification limits per shift.
//!
//! ```toml
//! [[spc]]
//! tag = "灌装线.净重"
//! chart = "xbar_r"          # "xbar_s", "individuals"
//! subgroup = 5              # samples per subgroup, 2 to 10 (X̄ charts)
//! baseline = 25             # subgroups (points) that set the limits
//! lsl = 495.0
//! usl = 505.0
//! shifts = { utc_offset = "+08:00", list = [{ name = "白班", start = "08:00", end = "20:00" }] }
//! ```

pub mod chart;
mod engine;
mod kind;
pub mod rules;
#[cfg(test)]
mod tests;

pub use engine::SpcEngine;
pub use kind::SpcKind;

use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

use super::shifts::ShiftsConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chart {
    XbarR,
    XbarS,
    Individuals,
}

impl Chart {
    /// The name of the dispersion chart's derived tag: `r`, `s` or `mr`.
    pub fn dispersion(self) -> &'static str {
        match self {
            Chart::XbarR => "r",
            Chart::XbarS => "s",
            Chart::Individuals => "mr",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpcConfig {
    pub tag: Spanned<String>,
    pub chart: Chart,
    #[serde(default = "five")]
    pub subgroup: Spanned<usize>,
    #[serde(default = "twenty_five")]
    pub baseline: Spanned<usize>,
    pub lsl: Option<f64>,
    pub usl: Option<f64>,
    pub shifts: Option<ShiftsConfig>,
}

fn five() -> Spanned<usize> {
    Spanned::new(0..0, 5)
}

fn twenty_five() -> Spanned<usize> {
    Spanned::new(0..0, 25)
}

impl SpcConfig {
    pub fn subgroup_size(&self) -> usize {
        if self.chart == Chart::Individuals { 1 } else { *self.subgroup.get_ref() }
    }

    /// Derived tags: point, dispersion, centre line, limits, rule, Cp, Cpk.
    pub fn outputs(&self) -> Vec<String> {
        let t = self.tag.get_ref();
        let mut out: Vec<String> = ["x", self.chart.dispersion(), "cl", "ucl", "lcl", "rule"]
            .iter()
            .map(|f| format!("{t}.spc.{f}"))
            .collect();
        if self.lsl.is_some() || self.usl.is_some() {
            out.push(format!("{t}.spc.cp"));
            out.push(format!("{t}.spc.cpk"));
        }
        out
    }
}
