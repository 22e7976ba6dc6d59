//! `[[control.pid]]`: one PID loop, optionally the inner loop of a cascade (`outer`), with feedforward.

use drivers::units::Span;
use serde::Deserialize;
use toml::Spanned;

use super::algo::{Action, AntiWindup, Gains};
use crate::engine::control::common::{Range, StartMode, loop_config};

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// `K·(b·SP − PV + 1/Ti·∫e dt − Td·dPV/dt)`: the standard (ISA, "ideal") form.
    #[default]
    Isa,
    /// `kp·(b·SP − PV) + ki·∫e dt − kd·dPV/dt`.
    Parallel,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum AntiWindupKind {
    #[default]
    BackCalculation,
    Conditional,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    #[default]
    Reverse,
    Direct,
}

/// `tuning = { gain = 0.8, integral = "2m" }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TuningConfig {
    #[serde(default)]
    pub form: Form,
    /// ISA: controller gain K (OP units per PV unit).
    pub gain: Option<f64>,
    /// ISA: integral (reset) time Ti; none for no integral action.
    pub integral: Option<Span>,
    /// ISA: derivative time Td.
    pub derivative: Option<Span>,
    /// Parallel: proportional gain.
    pub kp: Option<f64>,
    /// Parallel: integral gain, per second.
    pub ki: Option<f64>,
    /// Parallel: derivative gain, seconds.
    pub kd: Option<f64>,
    #[serde(default = "one")]
    pub setpoint_weight: f64,
    /// N: the derivative is filtered with `Tf = Td / N`. A&H give 8 to 20.
    #[serde(default = "ten")]
    pub derivative_filter: f64,
    #[serde(default)]
    pub anti_windup: AntiWindupKind,
    /// Back-calculation tracking time Tt; by default √(Ti·Td), or Ti without derivative (A&H §3.5).
    pub tracking_time: Option<Span>,
    #[serde(default)]
    pub action: ActionKind,
}

fn one() -> f64 {
    1.0
}
fn ten() -> f64 {
    10.0
}

impl TuningConfig {
    /// The parallel gains, or what is wrong with the tuning.
    pub fn gains(&self) -> Result<Gains, String> {
        let secs = |s: Option<Span>| s.map_or(0.0, |s| s.get().as_secs_f64());
        let (kp, ki, kd) = match self.form {
            Form::Isa => {
                if let Some(k) =
                    [("kp", self.kp), ("ki", self.ki), ("kd", self.kd)].iter().find(|k| k.1.is_some())
                {
                    return Err(format!(
                        "`{}` belongs to form = \"parallel\"; with the ISA form write `gain`, `integral`, `derivative`",
                        k.0
                    ));
                }
                let k = self.gain.ok_or("the ISA form needs `gain` (K, output units per PV unit)")?;
                let ti = secs(self.integral);
                (k, if ti > 0.0 { k / ti } else { 0.0 }, k * secs(self.derivative))
            }
            Form::Parallel => {
                if self.gain.is_some() || self.integral.is_some() || self.derivative.is_some() {
                    return Err(
                        "`gain`, `integral` and `derivative` belong to the ISA form; with form = \"parallel\" write `kp`, `ki`, `kd`"
                            .into(),
                    );
                }
                (self.kp.unwrap_or(0.0), self.ki.unwrap_or(0.0), self.kd.unwrap_or(0.0))
            }
        };
        if ![kp, ki, kd].iter().all(|g| g.is_finite()) || kp < 0.0 || ki < 0.0 || kd < 0.0 {
            return Err(format!(
                "gains must be finite and not negative (kp {kp}, ki {ki}, kd {kd}); set `action = \"direct\"` for a loop whose output falls as its PV falls"
            ));
        }
        if kp == 0.0 && ki == 0.0 {
            return Err(
                "the loop has neither proportional nor integral action; give `gain` (or `kp`/`ki`)".into()
            );
        }
        if !(0.0..=1.0).contains(&self.setpoint_weight) {
            return Err(format!("setpoint_weight {} must be from 0 to 1", self.setpoint_weight));
        }
        if !(self.derivative_filter >= 1.0 && self.derivative_filter.is_finite()) {
            return Err(format!(
                "derivative_filter {} must be 1 or more (8 to 20 is usual)",
                self.derivative_filter
            ));
        }
        // Ti and Td in time, whatever the form, for the filter and the tracking time.
        let ti = if ki > 0.0 && kp > 0.0 {
            kp / ki
        } else if ki > 0.0 {
            1.0 / ki
        } else {
            0.0
        };
        let td = if kp > 0.0 { kd / kp } else { kd };
        let tt = match self.tracking_time {
            Some(t) => t.get().as_secs_f64(),
            None if td > 0.0 && ti > 0.0 => (ti * td).sqrt(),
            None => ti,
        };
        Ok(Gains {
            kp,
            ki,
            kd,
            b: self.setpoint_weight,
            tf: td / self.derivative_filter,
            tt,
            anti_windup: match self.anti_windup {
                AntiWindupKind::BackCalculation => AntiWindup::BackCalculation,
                AntiWindupKind::Conditional => AntiWindup::Conditional,
            },
            action: match self.action {
                ActionKind::Reverse => Action::Reverse,
                ActionKind::Direct => Action::Direct,
            },
        })
    }
}

/// `feedforward = { tag = "kiln.load", gain = 0.4, bias = 50.0 }`: adds `gain·(tag − bias)` to OP.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeedforwardConfig {
    pub tag: Spanned<String>,
    pub gain: f64,
    #[serde(default)]
    pub bias: f64,
}

/// `[control.pid.outer]`: the cascade master. Its output is this loop's setpoint, inside this loop's
/// `setpoint_limits`; when this loop's output is stuck at a limit, the master stops pushing that way.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OuterConfig {
    pub pv: Spanned<String>,
    pub setpoint: Option<f64>,
    pub setpoint_limits: Option<Spanned<Range>>,
    pub tuning: Spanned<TuningConfig>,
    /// The master runs once every this many of this loop's periods (a cascade's outer loop is slower).
    #[serde(default = "one_u32")]
    pub every: Spanned<u32>,
}

fn one_u32() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

loop_config! {
"control.pid",
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PidConfig {
    pub name: Spanned<String>,
    pub pv: Spanned<String>,
    /// The actuator: a writable tag. It is also read back, to start bumpless and to verify writes.
    pub output: Spanned<String>,
    /// The starting SP; by default the PV when the loop starts.
    pub setpoint: Option<f64>,
    pub setpoint_limits: Option<Spanned<Range>>,
    #[serde(default)]
    pub mode: StartMode,
    pub tuning: Spanned<TuningConfig>,
    /// Narrows the output tag's writable limits.
    pub output_limits: Option<Spanned<Range>>,
    /// Largest OP change per second.
    pub output_rate: Option<Spanned<f64>>,
    pub feedforward: Option<FeedforwardConfig>,
    pub outer: Option<OuterConfig>,
    /// Where `fail_safe = "safe_output"` drives the output.
    pub safe_output: Option<f64>,
}
}
