//! The life of one alarm condition after ISA-18.2's state model (§5.2, figure 5): raised and
//! unacknowledged, acknowledged, returned to normal while still unacknowledged, and back to normal;
//! beside it shelved (for a limited time, §11.8) and out of service (§11.9), in which the condition is
//! still watched but not shown to the operator as standing.

use std::time::Duration;

use drivers::units::Span;
use protocols::Timestamp;
use serde::{Deserialize, Serialize};

/// ISA-18.2 §6.2.5.2: a few priorities, so the operator knows what to answer first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Medium, Priority::High, Priority::Urgent];

    pub fn label(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

/// What the operator sees of one condition, as carried on `<tag>.alarm.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleState {
    Normal,
    /// Raised, not yet acknowledged.
    Unacknowledged,
    Acknowledged,
    /// Gone back to normal before anyone acknowledged it.
    ReturnedUnacknowledged,
    Shelved,
    OutOfService,
}

impl LifecycleState {
    /// 0 normal, 1 unacknowledged, 2 acknowledged, 3 returned unacknowledged, 4 shelved, 5 out of service.
    pub fn code(self) -> i64 {
        match self {
            LifecycleState::Normal => 0,
            LifecycleState::Unacknowledged => 1,
            LifecycleState::Acknowledged => 2,
            LifecycleState::ReturnedUnacknowledged => 3,
            LifecycleState::Shelved => 4,
            LifecycleState::OutOfService => 5,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LifecycleState::Normal => "normal",
            LifecycleState::Unacknowledged => "unacknowledged",
            LifecycleState::Acknowledged => "acknowledged",
            LifecycleState::ReturnedUnacknowledged => "returned_unacknowledged",
            LifecycleState::Shelved => "shelved",
            LifecycleState::OutOfService => "out_of_service",
        }
    }

    /// Which of several conditions the tag's state shows: what needs the operator first.
    pub fn urgency(self) -> u8 {
        match self {
            LifecycleState::Unacknowledged => 5,
            LifecycleState::ReturnedUnacknowledged => 4,
            LifecycleState::Acknowledged => 3,
            LifecycleState::Shelved => 2,
            LifecycleState::OutOfService => 1,
            LifecycleState::Normal => 0,
        }
    }
}

/// One condition's lifecycle; saved and restored whole, so acknowledgements outlive a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub label: String,
    pub priority: Priority,
    pub active: bool,
    /// True when there is nothing to acknowledge.
    pub acknowledged: bool,
    pub shelved_until: Option<i64>,
    pub out_of_service: bool,
    /// When it was last raised (ns).
    pub since: Option<i64>,
    /// What the last event about it said.
    pub message: String,
    /// Times raised, for `edge_alarm_activations_total`.
    pub activations: u64,
}

impl Lifecycle {
    pub fn new(label: String, priority: Priority) -> Lifecycle {
        Lifecycle {
            label,
            priority,
            active: false,
            acknowledged: true,
            shelved_until: None,
            out_of_service: false,
            since: None,
            message: String::new(),
            activations: 0,
        }
    }

    pub fn state(&self) -> LifecycleState {
        match (self.out_of_service, self.shelved_until.is_some(), self.active, self.acknowledged) {
            (true, _, _, _) => LifecycleState::OutOfService,
            (_, true, _, _) => LifecycleState::Shelved,
            (_, _, true, false) => LifecycleState::Unacknowledged,
            (_, _, true, true) => LifecycleState::Acknowledged,
            (_, _, false, false) => LifecycleState::ReturnedUnacknowledged,
            (_, _, false, true) => LifecycleState::Normal,
        }
    }

    /// The condition was raised at `at`; what to log, if anything.
    pub fn raise(&mut self, at: Timestamp, detail: &str) -> String {
        self.active = true;
        self.acknowledged = false;
        self.since = Some(at.as_nanos());
        self.activations += 1;
        self.message = format!("{} active, priority {}: {detail}", self.label, self.priority.label());
        self.message.clone()
    }

    pub fn clear(&mut self, detail: &str) -> String {
        self.active = false;
        let still = if self.acknowledged { "" } else { " (still unacknowledged)" };
        self.message = format!("{} returned to normal{still}: {detail}", self.label);
        self.message.clone()
    }

    /// ISA-18.2 §11.5: acknowledging a condition that returned to normal takes it off the list.
    pub fn acknowledge(&mut self, by: &str) -> Option<String> {
        if self.acknowledged {
            return None;
        }
        self.acknowledged = true;
        self.message = format!("{} acknowledged{by}", self.label);
        Some(self.message.clone())
    }

    pub fn shelve(&mut self, now: Timestamp, duration: Duration, by: &str) -> String {
        self.shelved_until = Some(now.saturating_add(duration).as_nanos());
        self.message = format!("{} shelved for {}{by}", self.label, Span(duration));
        self.message.clone()
    }

    pub fn unshelve(&mut self, why: &str) -> Option<String> {
        self.shelved_until.take()?;
        let standing = match self.state() {
            LifecycleState::Unacknowledged => ", standing unacknowledged",
            LifecycleState::Acknowledged => ", standing",
            _ => "",
        };
        self.message = format!("{} {why}{standing}", self.label);
        Some(self.message.clone())
    }

    /// Ends shelving that ran out by `now`.
    pub fn expire(&mut self, now: Timestamp) -> Option<String> {
        if self.shelved_until.is_some_and(|until| until <= now.as_nanos()) {
            return self.unshelve("shelving expired");
        }
        None
    }

    pub fn set_out_of_service(&mut self, out: bool, by: &str) -> Option<String> {
        if self.out_of_service == out {
            return None;
        }
        self.out_of_service = out;
        self.message = if out {
            format!("{} out of service{by}", self.label)
        } else {
            format!("{} back in service{by}", self.label)
        };
        Some(self.message.clone())
    }
}
