//! Windowed statistics of one tag: min, max, mean, standard deviation and count over tumbling windows
//! (`window` alone) or sliding ones (`window` moved on by `slide`), aligned to the clock (a 1m window
//! ends on the minute), stamped with the window's end.
//!
//! ```toml
//! [[statistics]]
//! tag = "kiln.temp"
//! window = "1m"
//! slide = "10s"
//! functions = ["mean", "max", "stddev"]
//! ```

mod engine;
mod kind;
#[cfg(test)]
mod tests;

pub use engine::WindowEngine;
pub use kind::StatisticsKind;

use drivers::units::Span;
use serde::Deserialize;
use serde_spanned::Spanned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    Min,
    Max,
    Mean,
    Stddev,
    Count,
}

impl Function {
    pub const ALL: [Function; 5] =
        [Function::Min, Function::Max, Function::Mean, Function::Stddev, Function::Count];

    pub fn label(self) -> &'static str {
        match self {
            Function::Min => "min",
            Function::Max => "max",
            Function::Mean => "mean",
            Function::Stddev => "stddev",
            Function::Count => "count",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatisticsConfig {
    pub tag: Spanned<String>,
    pub window: Spanned<Span>,
    /// Sliding windows: a new window every `slide`; tumbling (one after another) without it.
    pub slide: Option<Spanned<Span>>,
    #[serde(default = "all")]
    pub functions: Vec<Function>,
    /// The derived tags are `<name>.<function>`; default `<tag>.<window>`, e.g. `kiln.temp.1m.mean`.
    pub name: Option<String>,
}

fn all() -> Vec<Function> {
    Function::ALL.to_vec()
}

impl StatisticsConfig {
    pub fn prefix(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("{}.{}", self.tag.get_ref(), self.window.get_ref()))
    }

    pub fn step(&self) -> Span {
        self.slide.as_ref().map_or(*self.window.get_ref(), |s| *s.get_ref())
    }
}
