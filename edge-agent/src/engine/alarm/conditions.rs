//! Conditions other than limit levels, each a small detector with the alarm's on/off delays:
//! rate of change, deviation from a setpoint, stale (no sample), frozen (no change), bad quality and a
//! digital state off its normal value. A change takes effect at the instant its delay ran out.

use std::time::Duration;

use drivers::units::Span;
use protocols::{Quality, Timestamp};

use super::AlarmConfig;

#[derive(Debug, Clone)]
enum Kind {
    Rate { limit: f64, per: Duration },
    Deviation { limit: f64, deadband: f64 },
    Stale { after: Duration },
    Frozen { after: Duration, band: f64 },
    BadQuality,
    Digital { normal: f64 },
}

/// A condition raised or cleared at `at`, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub at: Timestamp,
    pub active: bool,
    pub detail: String,
}

/// One sample of the watched tag, with the setpoint's last value for a deviation.
pub struct Reading {
    pub ts: Timestamp,
    /// The value, when the sample is good or uncertain and numeric.
    pub value: Option<f64>,
    pub quality: Quality,
    pub setpoint: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub label: String,
    kind: Kind,
    on_delay: Duration,
    off_delay: Duration,
    pub active: bool,
    /// When the pending change (raise if inactive, clear if active) began, and what it says.
    pending: Option<(Timestamp, String)>,
    /// The previous good value (rate) or the value not yet changed from (frozen), and when.
    reference: Option<(f64, Timestamp)>,
    last_seen: Option<Timestamp>,
}

/// Every condition of `cfg` besides its limit levels.
pub fn conditions(cfg: &AlarmConfig) -> Vec<Condition> {
    let mut kinds = Vec::new();
    if let Some(r) = &cfg.rate {
        kinds.push(("RATE".to_owned(), Kind::Rate { limit: r.limit, per: r.per.get() }));
    }
    if let Some(d) = &cfg.deviation {
        kinds.push(("DEVIATION".to_owned(), Kind::Deviation { limit: d.limit, deadband: cfg.deadband }));
    }
    if let Some(s) = cfg.stale {
        kinds.push(("STALE".to_owned(), Kind::Stale { after: s.get() }));
    }
    if let Some(f) = cfg.frozen {
        kinds.push(("FROZEN".to_owned(), Kind::Frozen { after: f.get(), band: cfg.frozen_band }));
    }
    if cfg.bad_quality {
        kinds.push(("BAD_QUALITY".to_owned(), Kind::BadQuality));
    }
    if let Some(d) = &cfg.digital {
        let label = d.label.clone().unwrap_or_else(|| "DIGITAL".into());
        kinds.push((label, Kind::Digital { normal: d.normal }));
    }
    kinds
        .into_iter()
        .map(|(label, kind)| Condition {
            label,
            kind,
            on_delay: cfg.on_delay.get(),
            off_delay: cfg.off_delay.get(),
            active: false,
            pending: None,
            reference: None,
            last_seen: None,
        })
        .collect()
}

impl Condition {
    /// Takes up a condition raised before a restart as raised.
    pub fn assume_active(&mut self) {
        self.active = true;
        self.pending = None;
    }

    pub fn on_reading(&mut self, r: &Reading, out: &mut Vec<Change>) {
        self.expire(r.ts, out);
        let good = match r.quality {
            Quality::Bad(_) => None,
            _ => r.value.filter(|v| v.is_finite()),
        };
        match self.kind {
            Kind::Stale { .. } => {
                self.last_seen = Some(r.ts);
                if self.active {
                    self.flip(r.ts, "a sample arrived".into(), out);
                }
            }
            Kind::Frozen { after, band } => {
                let Some(v) = good else {
                    // A bad value is no evidence of a stuck one; start over at the next good value.
                    self.reference = None;
                    return;
                };
                match self.reference {
                    Some((reference, since)) if (v - reference).abs() <= band => {
                        if !self.active && r.ts.since(since) >= after {
                            let at = since.saturating_add(after);
                            self.flip(at, format!("{v} unchanged for {}", Span(after)), out);
                        }
                    }
                    _ => {
                        self.reference = Some((v, r.ts));
                        if self.active {
                            self.flip(r.ts, format!("changed to {v}"), out);
                        }
                    }
                }
            }
            Kind::BadQuality => {
                let bad = matches!(r.quality, Quality::Bad(_));
                let detail = || match r.quality.reason() {
                    Some(reason) if bad => format!("quality bad ({reason})"),
                    _ => "quality good again".into(),
                };
                self.settle(bad, r.ts, detail, out);
            }
            Kind::Rate { limit, per } => {
                let Some(v) = good else {
                    self.hold();
                    self.reference = None;
                    return;
                };
                let previous = self.reference.replace((v, r.ts));
                let Some((v0, t0)) = previous else { return };
                let dt = r.ts.since(t0).as_secs_f64();
                if dt <= 0.0 {
                    return;
                }
                let rate = (v - v0) / dt * per.as_secs_f64();
                let way = if rate >= 0.0 { "rising" } else { "falling" };
                let detail = || format!("{way} {:.3} per {}, limit {limit}", rate.abs(), Span(per));
                self.settle(rate.abs() > limit, r.ts, detail, out);
            }
            Kind::Deviation { limit, deadband } => {
                let (Some(v), Some(sp)) = (good, r.setpoint.filter(|s| s.is_finite())) else {
                    self.hold();
                    return;
                };
                let off = (v - sp).abs();
                let deviating = if self.active { off > limit - deadband } else { off > limit };
                let detail = || format!("{v} is {off:.3} from the setpoint {sp}, limit {limit}");
                self.settle(deviating, r.ts, detail, out);
            }
            Kind::Digital { normal } => {
                let Some(v) = good else {
                    self.hold();
                    return;
                };
                let detail = || {
                    if v == normal { format!("back at {normal}") } else { format!("{v}, normal is {normal}") }
                };
                self.settle(v != normal, r.ts, detail, out);
            }
        }
    }

    /// Time passed with no sample: stale conditions rise here, delays run out here.
    pub fn on_tick(&mut self, now: Timestamp, out: &mut Vec<Change>) {
        self.expire(now, out);
        if let Kind::Stale { after } = self.kind
            && !self.active
            && let Some(seen) = self.last_seen
            && now.since(seen) >= after
        {
            self.flip(seen.saturating_add(after), format!("no sample for {}", Span(after)), out);
        }
    }

    /// A value that cannot be trusted neither starts nor finishes a delay.
    fn hold(&mut self) {
        self.pending = None;
    }

    /// `detail` is only written when a change starts pending: most samples change nothing.
    fn settle(&mut self, holds: bool, ts: Timestamp, detail: impl FnOnce() -> String, out: &mut Vec<Change>) {
        if holds == self.active {
            self.pending = None;
        } else if self.pending.is_none() {
            self.pending = Some((ts, detail()));
        }
        self.expire(ts, out);
    }

    fn expire(&mut self, now: Timestamp, out: &mut Vec<Change>) {
        let delay = if self.active { self.off_delay } else { self.on_delay };
        if let Some((since, _)) = &self.pending
            && since.saturating_add(delay) <= now
        {
            let at = since.saturating_add(delay);
            let (_, detail) = self.pending.take().unwrap_or_default();
            let detail = if delay.is_zero() { detail } else { format!("{detail} for {}", Span(delay)) };
            self.flip(at, detail, out);
        }
    }

    fn flip(&mut self, at: Timestamp, detail: String, out: &mut Vec<Change>) {
        self.active = !self.active;
        self.pending = None;
        out.push(Change { at, active: self.active, detail });
    }
}
