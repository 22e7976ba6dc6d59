//! Operator actions on one engine, delivered by its host: typed, so the local API and the CLI parse
//! them once, and a new action (a loop's mode or setpoint) is a new variant.

use drivers::units::Span;
use serde::{Deserialize, Serialize};

/// One action, as the local API takes it in JSON: `{"action": "shelve", "for": "2h", "reason": "..."}`.
/// `condition` picks one condition of an alarm (`HIGH`); none means every condition of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// ISA-18.2 §11.5: the operator has seen the alarm.
    Acknowledge {
        #[serde(default)]
        condition: Option<String>,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        comment: Option<String>,
    },
    /// ISA-18.2 §11.8 shelving: hidden from the operator for at most `for`, then back by itself.
    Shelve {
        #[serde(default)]
        condition: Option<String>,
        #[serde(rename = "for", serialize_with = "as_text")]
        duration: Span,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    },
    Unshelve {
        #[serde(default)]
        condition: Option<String>,
        #[serde(default)]
        by: Option<String>,
    },
    /// ISA-18.2 §11.9 out of service: for maintenance, until put back.
    OutOfService {
        #[serde(default)]
        condition: Option<String>,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    },
    InService {
        #[serde(default)]
        condition: Option<String>,
        #[serde(default)]
        by: Option<String>,
    },
    /// A loop's mode, setpoint, output or tuning, as JSON fields (`{"mode": "auto", "setpoint": 900}`),
    /// and who sent it (`api`, `mqtt`), for the audit log. Built by `/loops`, not read from an action.
    #[serde(skip)]
    Loop { fields: serde_json::Map<String, serde_json::Value>, by: String },
}

impl Command {
    /// The action's name, as written in the API path and in logs.
    pub fn action(&self) -> &'static str {
        match self {
            Command::Acknowledge { .. } => "acknowledge",
            Command::Shelve { .. } => "shelve",
            Command::Unshelve { .. } => "unshelve",
            Command::OutOfService { .. } => "out_of_service",
            Command::InService { .. } => "in_service",
            Command::Loop { .. } => "loop",
        }
    }
}

/// A duration goes out as it is written in the config: `"2h"`.
fn as_text<S: serde::Serializer>(span: &Span, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&span.to_string())
}

/// Why a command was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no engine named {0:?}")]
    NoSuchEngine(String),
    /// The engine understood and declined: what it says is for the operator.
    #[error("{0}")]
    Refused(String),
    #[error("the engines are restarting; try again in a few seconds")]
    Unavailable,
}
