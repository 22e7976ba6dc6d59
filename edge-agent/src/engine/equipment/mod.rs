//! Equipment states from rules, runtime hours and start counts that survive `kill -9`, and OEE per
//! shift (availability × performance × quality, after Nakajima) from the states and counter tags.
//!
//! ```toml
//! [[equipment]]
//! name = "冲压机7"
//! states = [
//!   { state = "fault", when = "press7.fault != 0" },
//!   { state = "setup", when = "press7.mode == 2" },
//!   { state = "running", when = "press7.speed > 5" },
//!   { state = "idle", when = "press7.power > 1" },
//! ]                                   # the first rule that holds wins; none: stopped
//! total = "press7.count"              # counter of parts made
//! good = "press7.good"                # or reject = "press7.scrap"
//! ideal_cycle = "2s"                  # the fastest a part can be made
//! shifts = { utc_offset = "+08:00", list = [{ name = "早班", start = "08:00", end = "20:00" }] }
//! ```

mod engine;
mod kind;
#[cfg(test)]
mod tests;

pub use engine::EquipmentEngine;
pub use kind::EquipmentKind;

use drivers::units::Span;
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

use super::shifts::ShiftsConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineState {
    Stopped,
    Running,
    Idle,
    Fault,
    Setup,
}

impl MachineState {
    /// As carried on `<name>.state`.
    pub fn code(self) -> i64 {
        match self {
            MachineState::Stopped => 0,
            MachineState::Running => 1,
            MachineState::Idle => 2,
            MachineState::Fault => 3,
            MachineState::Setup => 4,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MachineState::Stopped => "stopped",
            MachineState::Running => "running",
            MachineState::Idle => "idle",
            MachineState::Fault => "fault",
            MachineState::Setup => "setup",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StateRule {
    pub state: MachineState,
    pub when: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EquipmentConfig {
    pub name: Spanned<String>,
    pub states: Vec<StateRule>,
    /// The state when no rule holds.
    #[serde(default = "stopped")]
    pub otherwise: MachineState,
    pub total: Option<Spanned<String>>,
    pub good: Option<Spanned<String>>,
    pub reject: Option<Spanned<String>>,
    pub ideal_cycle: Option<Span>,
    pub shifts: Option<ShiftsConfig>,
    /// A silence longer than this is not taken as time in the last state (the agent was down).
    #[serde(default = "one_minute")]
    pub max_gap: Span,
}

fn stopped() -> MachineState {
    MachineState::Stopped
}

fn one_minute() -> Span {
    Span::secs(60)
}

impl EquipmentConfig {
    /// Derived tag names, in the order the engine writes them.
    pub fn outputs(&self) -> Vec<String> {
        let n = self.name.get_ref();
        let mut out = vec![format!("{n}.state"), format!("{n}.runtime_hours"), format!("{n}.starts")];
        if self.shifts.is_some() {
            out.push(format!("{n}.availability"));
            let performance = self.total.is_some() && self.ideal_cycle.is_some();
            let quality = self.total.is_some() && (self.good.is_some() || self.reject.is_some());
            if performance {
                out.push(format!("{n}.performance"));
            }
            if quality {
                out.push(format!("{n}.quality"));
            }
            if performance && quality {
                out.push(format!("{n}.oee"));
            }
        }
        out
    }
}
