//! A PID loop's commands: mode, setpoints, manual output and bumpless retuning.

use std::time::Duration;

use serde_json::Value as Json;

use super::PidLoop;
use crate::engine::control::loopcore::{Mode, number};

impl PidLoop {
    /// An operator's command, checked whole before anything changes.
    pub(super) fn command(&mut self, fields: &serde_json::Map<String, Json>) -> Result<String, String> {
        let mut done = Vec::new();
        // Check everything before changing anything: a refused command changes nothing.
        let mut next = self.clone();
        for (key, value) in fields {
            match key.as_str() {
                "mode" => {
                    let mode = Mode::parse(value)?;
                    if mode == Mode::Cascade && next.outer.is_none() {
                        return Err("this loop has no `outer` loop to be in cascade with".into());
                    }
                    if mode != Mode::Manual {
                        // Back to automatic is the operator's acknowledgement of a latched actuator fault.
                        next.faults.clear_latched();
                        next.actuator.reset();
                    }
                    if mode == Mode::Manual {
                        // Before the first read-back the output is unknown: manual then starts from it.
                        next.manual_op = next.started.then(|| next.pid.op());
                    }
                    next.mode = mode;
                    done.push(format!("mode {}", mode.label()));
                }
                "setpoint" => {
                    let sp = number(key, value)?;
                    let (lo, hi) = next.sp_limits;
                    if !(lo..=hi).contains(&sp) {
                        return Err(format!(
                            "setpoint {sp} is outside the loop's setpoint_limits [{lo}, {hi}]"
                        ));
                    }
                    next.sp = Some(sp);
                    done.push(format!("SP {sp}"));
                }
                "outer_setpoint" => {
                    let Some(o) = &mut next.outer else { return Err("this loop has no `outer` loop".into()) };
                    let sp = number(key, value)?;
                    let (lo, hi) = o.sp_limits;
                    if !(lo..=hi).contains(&sp) {
                        return Err(format!("outer_setpoint {sp} is outside [{lo}, {hi}]"));
                    }
                    o.sp = sp;
                    done.push(format!("outer SP {sp}"));
                }
                "output" => {
                    if next.mode != Mode::Manual {
                        return Err(
                            "output can be set in manual only; send `\"mode\": \"manual\"` with it".into()
                        );
                    }
                    let op = number(key, value)?;
                    let (lo, hi) = (next.actuator.min, next.actuator.max);
                    if !(lo..=hi).contains(&op) {
                        return Err(format!("output {op} is outside the output's limits [{lo}, {hi}]"));
                    }
                    next.manual_op = Some(op);
                    done.push(format!("OP {op}"));
                }
                "tuning" => {
                    let mut tuning = serde_json::to_value(TuningPatch::from(next.cfg.tuning.get_ref()))
                        .map_err(|e| e.to_string())?;
                    let Json::Object(patch) = value else { return Err("`tuning` is an object".into()) };
                    for (k, v) in patch {
                        tuning[k] = v.clone();
                    }
                    let patched: TuningPatch =
                        serde_json::from_value(tuning).map_err(|e| format!("tuning: {e}"))?;
                    let new = patched.apply(next.cfg.tuning.get_ref());
                    let gains = new.gains()?;
                    let sp = next.sp.unwrap_or(0.0);
                    next.pid.retune(gains, sp, next.pv_value.unwrap_or(sp));
                    next.cfg.tuning = toml::Spanned::new(next.cfg.tuning.span(), new);
                    done.push(format!("tuning {gains:?}"));
                }
                other => {
                    return Err(format!(
                        "unknown field `{other}`; a PID loop takes mode, setpoint, outer_setpoint, output, tuning"
                    ));
                }
            }
        }
        *self = next;
        Ok(done.join(", "))
    }
}

/// The tuning keys that can change while the loop runs, in seconds where the config has durations.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TuningPatch {
    gain: Option<f64>,
    integral: Option<f64>,
    derivative: Option<f64>,
    kp: Option<f64>,
    ki: Option<f64>,
    kd: Option<f64>,
    setpoint_weight: f64,
}

impl From<&crate::engine::control::pid::TuningConfig> for TuningPatch {
    fn from(t: &crate::engine::control::pid::TuningConfig) -> Self {
        let secs = |s: Option<drivers::units::Span>| s.map(|s| s.get().as_secs_f64());
        TuningPatch {
            gain: t.gain,
            integral: secs(t.integral),
            derivative: secs(t.derivative),
            kp: t.kp,
            ki: t.ki,
            kd: t.kd,
            setpoint_weight: t.setpoint_weight,
        }
    }
}

impl TuningPatch {
    fn apply(
        &self,
        base: &crate::engine::control::pid::TuningConfig,
    ) -> crate::engine::control::pid::TuningConfig {
        let span = |s: Option<f64>| {
            s.filter(|s| s.is_finite() && *s >= 0.0).map(|s| drivers::units::Span(Duration::from_secs_f64(s)))
        };
        crate::engine::control::pid::TuningConfig {
            gain: self.gain,
            integral: span(self.integral),
            derivative: span(self.derivative),
            kp: self.kp,
            ki: self.ki,
            kd: self.kd,
            setpoint_weight: self.setpoint_weight,
            ..base.clone()
        }
    }
}
