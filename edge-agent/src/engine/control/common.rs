//! Keys every loop kind shares: timing, fail-safe, read-back verification, and ranges.

use std::ops::Range as Bytes;
use std::time::Duration;

use drivers::units::Span;
use serde::Deserialize;

use super::guard::{FailSafe, Verify};

/// `{ min = .., max = .. }`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    pub fn problem(&self, what: &str) -> Option<String> {
        (!(self.min.is_finite() && self.max.is_finite() && self.min <= self.max))
            .then(|| format!("{what} min {} must be a number at or below max {}", self.min, self.max))
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum StartMode {
    #[default]
    Auto,
    Manual,
    Cascade,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailSafeKind {
    #[default]
    Hold,
    SafeOutput,
    Manual,
}

pub fn default_period() -> toml::Spanned<Span> {
    toml::Spanned::new(0..0, Span::secs(1))
}
pub fn hold() -> toml::Spanned<FailSafeKind> {
    toml::Spanned::new(0..0, FailSafeKind::Hold)
}
pub fn yes() -> bool {
    true
}

/// Loops run from 10 ms to an hour.
pub const MIN_PERIOD: Duration = Duration::from_millis(10);
pub const MAX_PERIOD: Duration = Duration::from_secs(3600);

/// The timing and safety settings of one loop, defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Safety {
    pub period: Duration,
    /// An input older than this is stale: by default 3 periods, at least 2 s.
    pub stale_after: Duration,
    /// A tick later than this past its period is a missed deadline: by default one period.
    pub deadline: Duration,
    /// `None` when `verify = false`; the tolerance is a fraction of the output's span until resolved.
    pub verify_timeout: Option<Duration>,
}

impl Safety {
    pub fn new(
        period: Span,
        stale_after: Option<Span>,
        deadline: Option<Span>,
        verify: bool,
        timeout: Option<Span>,
    ) -> Safety {
        let period = period.get();
        Safety {
            period,
            stale_after: stale_after.map_or((period * 3).max(Duration::from_secs(2)), Span::get),
            deadline: deadline.map_or(period, Span::get),
            verify_timeout: verify
                .then(|| timeout.map_or((period * 5).max(Duration::from_secs(5)), Span::get)),
        }
    }

    /// Read-back verification for an output of `span` (max − min): by default within 0.5 % of it.
    pub fn verify(&self, tolerance: Option<f64>, span: f64) -> Option<Verify> {
        self.verify_timeout
            .map(|timeout| Verify { tolerance: tolerance.unwrap_or(span.abs() * 0.005), timeout })
    }
}

pub fn fail_safe(kind: FailSafeKind, safe_output: Option<f64>) -> FailSafe {
    match (kind, safe_output) {
        (FailSafeKind::SafeOutput, Some(v)) => FailSafe::SafeOutput(v),
        (FailSafeKind::Manual, _) => FailSafe::Manual,
        _ => FailSafe::Hold,
    }
}

/// Problems of the shared keys, at `at` (the loop's name) or the key's own place.
pub fn safety_problems(
    what: &str,
    period: &toml::Spanned<Span>,
    fail_safe: &toml::Spanned<FailSafeKind>,
    safe_output: Option<f64>,
    at: Bytes<usize>,
) -> Vec<(Bytes<usize>, String)> {
    let mut out = Vec::new();
    let p = period.get_ref().get();
    if !(MIN_PERIOD..=MAX_PERIOD).contains(&p) {
        let span = if period.span().is_empty() { at.clone() } else { period.span() };
        out.push((span, format!("{what}: period {} must be from 10ms to 1h", period.get_ref())));
    }
    match (fail_safe.get_ref(), safe_output) {
        (FailSafeKind::SafeOutput, None) => out.push((
            fail_safe.span(),
            format!("{what}: fail_safe = \"safe_output\" needs `safe_output = <value>`, the output to go to"),
        )),
        (_, Some(v)) if !v.is_finite() => {
            out.push((at, format!("{what}: safe_output {v} is not a number")));
        }
        _ => {}
    }
    out
}

/// Declares a loop kind's config struct: its own keys, then the keys every loop shares (timing,
/// fail-safe, read-back verification), with `safety()` and `what()` reading them.
macro_rules! loop_config {
    ($kind:literal, $(#[$meta:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
            #[serde(default = "crate::engine::control::common::default_period")]
            pub period: toml::Spanned<drivers::units::Span>,
            pub stale_after: Option<drivers::units::Span>,
            pub deadline: Option<drivers::units::Span>,
            #[serde(default = "crate::engine::control::common::hold")]
            pub fail_safe: toml::Spanned<crate::engine::control::common::FailSafeKind>,
            #[serde(default = "crate::engine::control::common::yes")]
            pub verify: bool,
            pub verify_tolerance: Option<f64>,
            pub verify_timeout: Option<drivers::units::Span>,
        }

        impl $name {
            pub fn safety(&self) -> crate::engine::control::common::Safety {
                let (period, verify) = (*self.period.get_ref(), self.verify);
                crate::engine::control::common::Safety::new(period, self.stale_after, self.deadline, verify, self.verify_timeout)
            }

            /// How errors about this loop start: `control.pid "kiln-temp"`.
            pub fn what(&self) -> String {
                format!(concat!($kind, " {:?}"), self.name.get_ref())
            }
        }
    };
}
pub(crate) use loop_config;

/// The engine-seam methods every loop kind answers alike: its kind and name, its input (the loop host)
/// and its tick (its period). Invoked inside `impl EngineConfig for ..`.
macro_rules! loop_seam {
    ($kind:literal) => {
        fn kind(&self) -> &'static str {
            $kind
        }

        fn name(&self) -> String {
            format!(concat!($kind, " {}"), self.name.get_ref())
        }

        fn input(&self) -> crate::engine::EngineInput {
            crate::engine::EngineInput::Loop
        }

        fn tick(&self) -> std::time::Duration {
            self.period.get_ref().get()
        }
    };
}
pub(crate) use loop_seam;
