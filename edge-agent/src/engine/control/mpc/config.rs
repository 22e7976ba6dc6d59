//! `[[control.mpc]]`: CVs, MVs, the model, horizons, weights and economics.

use drivers::units::Span;
use serde::Deserialize;
use toml::Spanned;

use super::model::{Channel, StateSpace};
use crate::engine::control::common::{StartMode, loop_config};

/// A controlled variable: held at its setpoint if it has one, inside `[min, max]` (soft) always.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CvConfig {
    pub tag: Spanned<String>,
    pub setpoint: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    #[serde(default = "one")]
    pub weight: f64,
}

/// A manipulated variable: a writable tag, inside `[min, max]` and moving at most `rate` per period (hard).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MvConfig {
    pub tag: Spanned<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Largest move per period.
    pub rate: Option<f64>,
    #[serde(default = "one")]
    pub move_weight: f64,
    /// Economic cost per unit at steady state (the target layer's objective).
    #[serde(default)]
    pub cost: f64,
    /// Pull toward the steady-state target over the horizon.
    #[serde(default)]
    pub target_weight: f64,
    /// Where `fail_safe = "safe_output"` puts this MV; without it the MV holds.
    pub safe_output: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// `{ gain = 12.8, time_constant = "16.7m", dead_time = "1m" }`; `{ gain = 0.0 }` for no effect.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub gain: f64,
    #[serde(default)]
    pub time_constant: Span,
    #[serde(default)]
    pub dead_time: Span,
}

/// Either `fopdt = [[..], ..]` (a row per CV, an entry per MV) or discrete `a`, `b`, `c` at the period.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub fopdt: Option<Vec<Vec<ChannelConfig>>>,
    pub a: Option<Vec<Vec<f64>>>,
    pub b: Option<Vec<Vec<f64>>>,
    pub c: Option<Vec<Vec<f64>>>,
}

loop_config! {
"control.mpc",
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MpcConfig {
    pub name: Spanned<String>,
    pub cv: Vec<CvConfig>,
    pub mv: Vec<MvConfig>,
    pub model: Spanned<ModelConfig>,
    #[serde(default = "thirty")]
    pub prediction_horizon: Spanned<usize>,
    #[serde(default = "ten")]
    pub control_horizon: Spanned<usize>,
    /// Penalty on a CV outside its limits.
    #[serde(default = "soft")]
    pub soft_weight: f64,
    /// Longest a solve may take; by default a quarter of the period, at most 200 ms.
    pub solve_budget: Option<Span>,
    /// Failed solves in a row (each holds the MVs and raises an alarm) before the fail-safe action.
    #[serde(default = "three")]
    pub max_failed_solves: u32,
    #[serde(default)]
    pub mode: StartMode,
}
}

fn thirty() -> Spanned<usize> {
    Spanned::new(0..0, 30)
}
fn ten() -> Spanned<usize> {
    Spanned::new(0..0, 10)
}
fn soft() -> f64 {
    1e3
}
fn three() -> u32 {
    3
}

impl MpcConfig {
    /// The model at the loop's period, or what is wrong with it.
    pub fn state_space(&self) -> Result<StateSpace, String> {
        let (ny, nu) = (self.cv.len(), self.mv.len());
        let m = self.model.get_ref();
        let h = self.period.get_ref().get().as_secs_f64();
        match (&m.fopdt, &m.a, &m.b, &m.c) {
            (Some(rows), None, None, None) => {
                if rows.len() != ny || rows.iter().any(|r| r.len() != nu) {
                    return Err(format!(
                        "`fopdt` must have {ny} rows (one per CV) of {nu} entries (one per MV)"
                    ));
                }
                let channels: Vec<Vec<Option<Channel>>> = rows
                    .iter()
                    .map(|r| {
                        r.iter()
                            .map(|c| {
                                (c.gain != 0.0).then_some(Channel {
                                    gain: c.gain,
                                    time_constant_s: c.time_constant.get().as_secs_f64(),
                                    dead_time_s: c.dead_time.get().as_secs_f64(),
                                })
                            })
                            .collect()
                    })
                    .collect();
                if channels.iter().flatten().flatten().any(|c| !c.gain.is_finite()) {
                    return Err("every `gain` must be a finite number".into());
                }
                Ok(StateSpace::from_fopdt(&channels, h))
            }
            (None, Some(a), Some(b), Some(c)) => {
                let n = a.len();
                let square = a.iter().all(|r| r.len() == n);
                if !square
                    || b.len() != n
                    || b.iter().any(|r| r.len() != nu)
                    || c.len() != ny
                    || c.iter().any(|r| r.len() != n)
                {
                    return Err(format!(
                        "`a` must be n × n, `b` n × {nu} (one column per MV), `c` {ny} × n (one row per CV)"
                    ));
                }
                Ok(StateSpace { a: a.clone(), b: b.clone(), c: c.clone() })
            }
            _ => Err(
                "give the model either as `fopdt = [[..]]` or as `a`, `b` and `c` (discrete, at the period)"
                    .into(),
            ),
        }
    }
}
