//! What stands between a loop's arithmetic and an actuator: input quality and staleness checks, the
//! tick watchdog, and the output stage (clamp, one write in flight, read back and verify). Shared by every
//! loop kind.

use std::collections::VecDeque;
use std::time::Duration;

use protocols::{Quality, Sample, TagId, Timestamp, Value};

use crate::engine::Emitter;

/// What a loop does when it cannot trust its PV, its tick or its actuator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailSafe {
    /// Freeze OP where it is; the loop resumes (bumpless) once the fault clears.
    Hold,
    /// Drive OP to this value; the loop resumes once the fault clears.
    SafeOutput(f64),
    /// Hold OP and switch the loop to manual: it stays there until an operator puts it back.
    Manual,
}

impl FailSafe {
    pub fn label(self) -> &'static str {
        match self {
            FailSafe::Hold => "hold",
            FailSafe::SafeOutput(_) => "safe_output",
            FailSafe::Manual => "manual",
        }
    }
}

/// Why a loop took its fail-safe action.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    InputBad { tag: String, why: String },
    InputStale { tag: String, age: Duration },
    MissedDeadline { late: Duration },
    WriteFailed { tag: String, why: String },
    ReadbackMismatch { tag: String, wrote: f64, read: f64 },
    SolveFailed { why: String },
}

impl Fault {
    /// The value of the loop's `.fault` tag.
    pub fn code(&self) -> i64 {
        match self {
            Fault::InputBad { .. } => 1,
            Fault::InputStale { .. } => 2,
            Fault::MissedDeadline { .. } => 3,
            Fault::WriteFailed { .. } => 4,
            Fault::ReadbackMismatch { .. } => 5,
            Fault::SolveFailed { .. } => 6,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Fault::InputBad { .. } => "input_bad",
            Fault::InputStale { .. } => "input_stale",
            Fault::MissedDeadline { .. } => "missed_deadline",
            Fault::WriteFailed { .. } => "write_failed",
            Fault::ReadbackMismatch { .. } => "readback_mismatch",
            Fault::SolveFailed { .. } => "solve_failed",
        }
    }

    /// An actuator fault stays until an operator puts the loop back in automatic: the actuator's state is
    /// unknown. Input and timing faults clear themselves.
    pub fn latched(&self) -> bool {
        matches!(self, Fault::WriteFailed { .. } | Fault::ReadbackMismatch { .. })
    }

    pub fn text(&self) -> String {
        match self {
            Fault::InputBad { tag, why } => format!("{tag} is bad ({why})"),
            Fault::InputStale { tag, age } => {
                format!("{tag} has not been updated for {:.1}s", age.as_secs_f64())
            }
            Fault::MissedDeadline { late } => format!("tick {:.1}ms late", late.as_secs_f64() * 1e3),
            Fault::WriteFailed { tag, why } => format!("write to {tag} failed: {why}"),
            Fault::ReadbackMismatch { tag, wrote, read } => {
                format!("{tag} reads back {read} after {wrote} was written")
            }
            Fault::SolveFailed { why } => format!("QP not solved: {why}"),
        }
    }
}

pub fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn age(now: Timestamp, then: Timestamp) -> Duration {
    Duration::from_nanos(u64::try_from(now.0.saturating_sub(then.0)).unwrap_or(0))
}

/// The last sample of one input, judged for quality and age.
#[derive(Debug, Clone)]
pub struct InputWatch {
    pub tag: TagId,
    pub name: String,
    last: Option<Sample>,
}

impl InputWatch {
    pub fn new(tag: TagId, name: &str) -> InputWatch {
        InputWatch { tag, name: name.to_owned(), last: None }
    }

    /// Takes `s` if it is this input's; true if it was.
    pub fn on_sample(&mut self, s: &Sample) -> bool {
        if s.tag != self.tag {
            return false;
        }
        self.last = Some(*s);
        true
    }

    /// The last good value, if any arrived (for tracking while faulted).
    pub fn last_value(&self) -> Option<f64> {
        self.last
            .filter(|s| s.quality == Quality::Good)
            .and_then(|s| s.value.as_f64())
            .filter(|v| v.is_finite())
    }

    /// The value to control on, or why there is none. Uncertain counts as bad: a loop acts on what it
    /// can trust.
    pub fn check(&self, now: Timestamp, stale_after: Duration) -> Result<f64, Fault> {
        let Some(s) = self.last else {
            return Err(Fault::InputStale { tag: self.name.clone(), age: Duration::MAX });
        };
        let bad = |why: String| Fault::InputBad { tag: self.name.clone(), why };
        match s.quality {
            Quality::Good => {}
            Quality::Bad(r) | Quality::Uncertain(r) => return Err(bad(r.to_string())),
        }
        let v =
            s.value.as_f64().filter(|v| v.is_finite()).ok_or_else(|| bad("not a finite number".into()))?;
        let old = age(now, s.ts);
        if old > stale_after {
            return Err(Fault::InputStale { tag: self.name.clone(), age: old });
        }
        Ok(v)
    }
}

/// Notices ticks that came too late: the loop's period plus `deadline` since the last one.
#[derive(Debug, Clone)]
pub struct Watchdog {
    period: Duration,
    deadline: Duration,
    last: Option<Timestamp>,
}

impl Watchdog {
    pub fn new(period: Duration, deadline: Duration) -> Watchdog {
        Watchdog { period, deadline, last: None }
    }

    /// Seconds since the last tick (the period for the first), and a fault if the tick was late.
    pub fn tick(&mut self, now: Timestamp) -> (f64, Option<Fault>) {
        let Some(last) = self.last.replace(now) else { return (self.period.as_secs_f64(), None) };
        let gap = age(now, last);
        let late = gap.saturating_sub(self.period);
        let fault = (late > self.deadline).then_some(Fault::MissedDeadline { late });
        (gap.as_secs_f64(), fault)
    }
}

/// How a written value is confirmed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verify {
    /// Largest difference between what was written and what reads back.
    pub tolerance: f64,
    /// How long the read-back may disagree before the actuator is taken to be faulty.
    pub timeout: Duration,
}

/// One actuator: the loop's only way to it. Keeps at most one write in flight (a newer value waits and
/// replaces any older waiting one), never sends a value outside `[min, max]`, and checks what reads back.
#[derive(Debug, Clone)]
pub struct Actuator {
    pub tag: TagId,
    pub name: String,
    pub min: f64,
    pub max: f64,
    verify: Option<Verify>,
    in_flight: bool,
    waiting: Option<(f64, &'static str)>,
    /// The last value sent.
    sent: Option<f64>,
    /// Values sent recently, with when: a read-back may show any of them while a scan catches up.
    recent: VecDeque<(Timestamp, f64)>,
    readback: Option<f64>,
    failure: Option<String>,
    now: Timestamp,
}

impl Actuator {
    pub fn new(tag: TagId, name: &str, min: f64, max: f64, verify: Option<Verify>) -> Actuator {
        Actuator {
            tag,
            name: name.to_owned(),
            min,
            max,
            verify,
            in_flight: false,
            waiting: None,
            sent: None,
            recent: VecDeque::new(),
            readback: None,
            failure: None,
            now: Timestamp(0),
        }
    }

    /// The actuator's position as read back, once it has been.
    pub fn readback(&self) -> Option<f64> {
        self.readback
    }

    /// Takes `s` if it is this actuator's read-back; true if it was.
    pub fn on_sample(&mut self, s: &Sample) -> bool {
        if s.tag != self.tag {
            return false;
        }
        if s.quality == Quality::Good
            && let Some(v) = s.value.as_f64().filter(|v| v.is_finite())
        {
            self.readback = Some(v);
        }
        true
    }

    /// Asks for `value` (clamped to the limits) at `now`. Sent at once unless a write is in flight; an
    /// unchanged value is not sent again.
    pub fn command(&mut self, value: f64, reason: &'static str, now: Timestamp, out: &mut Emitter) -> f64 {
        self.now = now;
        let value = value.clamp(self.min, self.max);
        if self.in_flight {
            self.waiting = Some((value, reason));
        } else if self.sent != Some(value) {
            self.send(value, reason, out);
        }
        value
    }

    fn send(&mut self, value: f64, reason: &'static str, out: &mut Emitter) {
        out.write_for(self.tag, Value::Float(value), reason);
        self.in_flight = true;
        self.sent = Some(value);
        self.recent.push_back((self.now, value));
    }

    /// The outcome of this actuator's write.
    pub fn on_result(&mut self, result: Result<(), String>, out: &mut Emitter) {
        self.in_flight = false;
        if let Err(why) = result {
            self.failure.get_or_insert(why);
            self.waiting = None;
            return;
        }
        if let Some((value, reason)) = self.waiting.take()
            && self.sent != Some(value)
        {
            self.send(value, reason, out);
        }
    }

    /// A failed write or a read-back that disagrees for longer than the verify timeout.
    pub fn check(&mut self, now: Timestamp) -> Option<Fault> {
        self.now = now;
        if let Some(why) = &self.failure {
            return Some(Fault::WriteFailed { tag: self.name.clone(), why: why.clone() });
        }
        let (verify, Some(read), Some(wrote)) = (self.verify?, self.readback, self.sent) else { return None };
        let horizon = now.0.saturating_sub(nanos(verify.timeout));
        while self.recent.len() > 1 && self.recent[1].0.0 <= horizon {
            self.recent.pop_front();
        }
        // `recent` holds every value that was the one asked for at some time in the last timeout: a
        // read-back that matches none of them has been wrong for longer than that.
        let agrees = self.recent.iter().any(|&(_, v)| (v - read).abs() <= verify.tolerance);
        (!agrees).then(|| Fault::ReadbackMismatch { tag: self.name.clone(), wrote, read })
    }

    /// An operator cleared the fault: forget it, and let the next command be sent even if unchanged.
    pub fn reset(&mut self) {
        self.failure = None;
        self.sent = None;
        self.recent.clear();
    }
}
