//! What every loop kind does the same way: its mode, its fault state and alarms, and the derived tags
//! that carry SP, OP, mode and fault to the historian.

use protocols::{Sample, TagId, Timestamp, Value};
use serde_json::Value as Json;

use super::common::StartMode;
use super::guard::Fault;
use crate::engine::{Emitter, Event};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Manual,
    Auto,
    /// The setpoint comes from the cascade master.
    Cascade,
}

impl Mode {
    /// The value of the loop's `.mode` tag.
    pub fn code(self) -> i64 {
        match self {
            Mode::Manual => 0,
            Mode::Auto => 1,
            Mode::Cascade => 2,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Mode::Manual => "manual",
            Mode::Auto => "auto",
            Mode::Cascade => "cascade",
        }
    }

    pub fn parse(v: &Json) -> Result<Mode, String> {
        match v.as_str() {
            Some("manual") => Ok(Mode::Manual),
            Some("auto") => Ok(Mode::Auto),
            Some("cascade") => Ok(Mode::Cascade),
            _ => Err(format!("mode {v} is not one of \"manual\", \"auto\", \"cascade\"")),
        }
    }
}

impl From<StartMode> for Mode {
    fn from(m: StartMode) -> Mode {
        match m {
            StartMode::Auto => Mode::Auto,
            StartMode::Manual => Mode::Manual,
            StartMode::Cascade => Mode::Cascade,
        }
    }
}

/// A command field that must be a number.
pub fn number(key: &str, v: &Json) -> Result<f64, String> {
    v.as_f64().filter(|v| v.is_finite()).ok_or_else(|| format!("`{key}` must be a number, not {v}"))
}

/// The fault a loop is acting on, and the alarm raised and cleared as it comes and goes.
#[derive(Debug, Clone, Default)]
pub struct FaultState {
    current: Option<Fault>,
    latched: Option<Fault>,
}

impl FaultState {
    pub fn current(&self) -> Option<&Fault> {
        self.current.as_ref()
    }

    /// Takes this tick's fault (if any); a latched one stays until [`clear_latched`](Self::clear_latched).
    /// Raises an event when the fault appears or changes, and when it clears.
    pub fn note(
        &mut self,
        source: &str,
        fault: Option<Fault>,
        now: Timestamp,
        out: &mut Emitter,
    ) -> Option<Fault> {
        if let Some(f) = fault.as_ref().filter(|f| f.latched()) {
            self.latched.get_or_insert_with(|| f.clone());
        }
        let next = self.latched.clone().or(fault);
        let changed = match (&self.current, &next) {
            (Some(a), Some(b)) => a.label() != b.label(),
            (None, None) => false,
            _ => true,
        };
        if changed {
            let message = match &next {
                Some(f) if f.latched() => format!(
                    "ALARM fail-safe: {}; put the loop back in auto once the actuator is checked",
                    f.text()
                ),
                Some(f) => format!("ALARM fail-safe: {}", f.text()),
                None => "fault cleared; the loop resumes".to_owned(),
            };
            out.event(Event { ts: now, source: source.to_owned(), message });
        }
        self.current = next.clone();
        next
    }

    pub fn clear_latched(&mut self) {
        self.latched = None;
    }
}

/// The ids of a loop's derived tags (`<loop>.sp`, `.op`, `.mode`, `.fault`), published on change and at
/// least once a second, so a fast loop does not flood the store.
#[derive(Debug, Clone)]
pub struct Derived {
    pub sp: Option<TagId>,
    pub op: Option<TagId>,
    pub mode: TagId,
    pub fault: TagId,
    last: Option<(Timestamp, f64, f64, i64, i64)>,
}

/// Derived tags of loop `name`: `.mode` and `.fault`, and `.sp` and `.op` for a single loop.
pub fn derived_names(name: &str, single: bool) -> Vec<String> {
    let mut names = vec![format!("{name}.mode"), format!("{name}.fault")];
    if single {
        names.extend([format!("{name}.sp"), format!("{name}.op")]);
    }
    names
}

const REPUBLISH_NS: i64 = 1_000_000_000;

impl Derived {
    pub fn resolve(
        name: &str,
        single: bool,
        tag_id: &dyn Fn(&str) -> Option<TagId>,
    ) -> Result<Derived, String> {
        let ids = derived_names(name, single)
            .into_iter()
            .map(|n| tag_id(&n).ok_or(format!("tag {n} is not registered")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Derived {
            mode: ids[0],
            fault: ids[1],
            sp: ids.get(2).copied(),
            op: ids.get(3).copied(),
            last: None,
        })
    }

    pub fn publish(
        &mut self,
        now: Timestamp,
        sp: f64,
        op: f64,
        mode: super::loopcore::Mode,
        fault: i64,
        out: &mut Emitter,
    ) {
        let m = mode.code();
        let same = self.last.is_some_and(|(t, s, o, lm, lf)| {
            now.0 - t.0 < REPUBLISH_NS
                && (s == sp || s.is_nan() && sp.is_nan())
                && o == op
                && lm == m
                && lf == fault
        });
        if same {
            return;
        }
        self.last = Some((now, sp, op, m, fault));
        if let Some(tag) = self.sp.filter(|_| sp.is_finite()) {
            out.sample(Sample::good(tag, now, Value::Float(sp)));
        }
        if let Some(tag) = self.op {
            out.sample(Sample::good(tag, now, Value::Float(op)));
        }
        out.sample(Sample::good(self.mode, now, Value::Int(m)));
        out.sample(Sample::good(self.fault, now, Value::Int(fault)));
    }
}
