//! Closed-loop control: PID loops (`[[control.pid]]`) and model predictive control with a steady-state
//! target layer (`[[control.mpc]]`). Every loop runs on the loop host at its own period
//! ([`crate::engine::EngineInput::Loop`]), writes only through its output stage ([`guard::Actuator`]) to
//! tags declared writable, and takes its fail-safe action on a bad or stale input, a late tick or a failed
//! or unconfirmed write.

pub mod common;
#[cfg(test)]
mod fixtures;
pub mod guard;
pub mod loopcore;
pub mod mpc;
pub mod pid;
pub mod simulate;
pub mod steptest;
pub mod svg;
pub mod tune;

use std::sync::Arc;

use drivers::ConfigErrors;
use drivers::sections::items;
use toml::Spanned;
use toml::de::DeValue;

use crate::engine::{EngineConfig, EngineKind};

/// `[[control.pid]]` and `[[control.mpc]]`.
pub struct ControlKind;

impl EngineKind for ControlKind {
    fn section(&self) -> &'static str {
        "control"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>> {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            errors.push(
                Some(span),
                "`control` holds lists: write each loop as `[[control.pid]]` or `[[control.mpc]]`",
            );
            return Vec::new();
        };
        let mut out: Vec<Arc<dyn EngineConfig>> = Vec::new();
        for (key, value) in table {
            match key.get_ref().as_ref() {
                "pid" => out.extend(
                    items::<pid::PidConfig>("control.pid", value, errors)
                        .into_iter()
                        .map(|c| Arc::new(c) as _),
                ),
                "mpc" => out.extend(
                    items::<mpc::MpcConfig>("control.mpc", value, errors)
                        .into_iter()
                        .map(|c| Arc::new(c) as _),
                ),
                other => errors.push(
                    Some(key.span()),
                    format!("unknown key `control.{other}`; expected `[[control.pid]]` or `[[control.mpc]]`"),
                ),
            }
        }
        out
    }
}

/// A loop's answer to an operator's command through the engine seam: a loop takes [`Command::Loop`]
/// (mode, setpoint, output, tuning as JSON fields) and refuses the alarm actions.
pub(crate) fn loop_command(
    command: &crate::engine::Command,
    apply: impl FnOnce(&serde_json::Map<String, serde_json::Value>) -> Result<String, String>,
) -> Result<serde_json::Value, crate::engine::CommandError> {
    use crate::engine::{Command, CommandError};
    match command {
        Command::Loop { fields, .. } => {
            apply(fields).map(serde_json::Value::String).map_err(CommandError::Refused)
        }
        other => Err(CommandError::Refused(format!(
            "a loop takes its mode, setpoint, output or tuning, not `{}`",
            other.action()
        ))),
    }
}

/// What a loop's command answer says, in words.
pub(crate) fn outcome_text(
    answer: Result<serde_json::Value, crate::engine::CommandError>,
) -> Result<String, String> {
    answer.map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).map_err(|e| e.to_string())
}
