//! What /metrics and /healthz show of an uplink.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use drivers::Histogram;
use drivers::telemetry::LATENCY_BUCKETS;

#[derive(Debug)]
pub struct UplinkStats {
    pub name: String,
    /// Samples the peer acknowledged, and only those.
    pub sent_samples: AtomicU64,
    pub writes_accepted: AtomicU64,
    pub writes_failed: AtomicU64,
    pub writes_rejected: AtomicU64,
    /// Items (lines, messages, frames) kept in quarantine.
    pub quarantined_lines: AtomicU64,
    /// Samples inside the quarantined items: refused by the peer, not sent again.
    pub refused_samples: AtomicU64,
    /// Samples without a form for the peer (a NaN float with good quality), counted and not sent.
    pub unencodable_samples: AtomicU64,
    /// Samples the store dropped at `max_bytes` before this uplink sent them.
    pub dropped_samples: AtomicU64,
    pub corrupt_records: AtomicU64,
    pub corrupt_samples: AtomicU64,
    /// Sequence number up to which the historian acknowledged every sample.
    pub acked: AtomicU64,
    /// Commands from the peer (Sparkplug DCMD) written to a tag, and refused (not writable, outside
    /// its limits, unknown metric, the device refused).
    pub commands_written: AtomicU64,
    pub commands_refused: AtomicU64,
    /// Births published again because the peer asked (Sparkplug NCMD rebirth) or a session began.
    pub rebirths: AtomicU64,
    /// Session peers (HJ 212 platforms): items sent again for want of a reply, waits for a reply that
    /// timed out, sessions opened and lost, and whether one is open now.
    pub resends: AtomicU64,
    pub reply_timeouts: AtomicU64,
    pub sessions_opened: AtomicU64,
    pub sessions_lost: AtomicU64,
    pub session_up: AtomicBool,
    /// Records the peer's own interval settings hold back (HJ 212 RtdInterval, MinInterval): acknowledged
    /// in the store, kept for history requests, not sent live.
    pub held_by_interval: AtomicU64,
    pub up: AtomicBool,
    pub write_latency: Histogram,
    last_error: std::sync::Mutex<Option<String>>,
    /// Since when writes fail, while they do.
    pub(super) down_since: std::sync::Mutex<Option<Instant>>,
}

impl UplinkStats {
    pub fn new(name: &str) -> Self {
        UplinkStats {
            name: name.to_owned(),
            sent_samples: AtomicU64::new(0),
            writes_accepted: AtomicU64::new(0),
            writes_failed: AtomicU64::new(0),
            writes_rejected: AtomicU64::new(0),
            quarantined_lines: AtomicU64::new(0),
            refused_samples: AtomicU64::new(0),
            unencodable_samples: AtomicU64::new(0),
            dropped_samples: AtomicU64::new(0),
            corrupt_records: AtomicU64::new(0),
            corrupt_samples: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            commands_written: AtomicU64::new(0),
            commands_refused: AtomicU64::new(0),
            rebirths: AtomicU64::new(0),
            resends: AtomicU64::new(0),
            reply_timeouts: AtomicU64::new(0),
            sessions_opened: AtomicU64::new(0),
            sessions_lost: AtomicU64::new(0),
            session_up: AtomicBool::new(false),
            held_by_interval: AtomicU64::new(0),
            up: AtomicBool::new(false),
            write_latency: Histogram::new(LATENCY_BUCKETS),
            last_error: std::sync::Mutex::new(None),
            down_since: std::sync::Mutex::new(None),
        }
    }

    /// Samples in the store this uplink has not had acknowledged yet, with the store at `head`.
    pub fn backlog(&self, head: u64) -> u64 {
        head.saturating_sub(self.acked.load(Relaxed))
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The uplink's task failed (the supervisor restarts it): down, with the reason.
    pub fn mark_down(&self, why: &str) {
        self.up.store(false, Relaxed);
        self.set_error(Some(why.to_owned()));
    }

    pub(super) fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = e;
    }
}
