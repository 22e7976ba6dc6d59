//! One input of the energy engine (a register, a power reading, a production counter) cut into grains:
//! the shortest step of the site's clock, of which intervals and demand windows are made.
//!
//! Amounts are integers in millionths (µkWh, µm³, µunits), so a total is exactly the sum of its
//! intervals and a saved state comes back exactly. What a reading adds between two readings is shared
//! among the grains it spans in proportion to time (a register) or by the trapezoid (power); what falls
//! in a grain already closed goes into the open one, marked estimated, so the total stays exact.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::counter::{Register, Step};
use super::integration::Trapezoid;

/// The grain's figure has no reading at its end (a silent or failed meter): part of it may be missing.
pub const GAP: u8 = 1;
/// Part of the figure was spread over a gap or belongs to an earlier grain.
pub const ESTIMATED: u8 = 2;
/// The register was reset or the meter replaced in this grain; that step was not counted.
pub const RESET: u8 = 4;
/// Accounting started inside this grain: what came before the first reading is not in it.
pub const PARTIAL: u8 = 8;

/// Millionths, rounded: the unit every amount is kept in.
pub fn micro(x: f64) -> i64 {
    (x * 1e6).round() as i64
}

/// A closed grain: its end and what it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grain {
    pub end: i64,
    pub amount: i64,
    pub flags: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Register(Register),
    /// Power in kW on the secondary side, times this ratio.
    Power(f64),
}

/// How a channel turns readings into amounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub kind: Kind,
    pub max_gap: i64,
}

/// Something a reading revealed that a person should hear about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noted {
    Nothing,
    Reset { from: f64, to: f64 },
    Gap { seconds: f64 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelState {
    /// The last good reading: time and value.
    last: Option<(i64, f64)>,
    /// Start and end of the open grain.
    open: (i64, i64),
    acc: i64,
    flags: u8,
    pub closed: VecDeque<Grain>,
}

impl ChannelState {
    pub fn new(open: (i64, i64)) -> ChannelState {
        ChannelState { open, ..ChannelState::default() }
    }

    pub fn open_end(&self) -> i64 {
        self.open.1
    }

    fn close(&mut self, next: &dyn Fn(i64) -> i64) {
        self.closed.push_back(Grain { end: self.open.1, amount: self.acc, flags: self.flags });
        self.acc = 0;
        self.flags = 0;
        self.open = (self.open.1, next(self.open.1));
    }

    /// Closes every grain ending by `t` without a reading at its end (a failed or silent meter).
    pub fn close_until(&mut self, t: i64, next: &dyn Fn(i64) -> i64) {
        while self.open.1 <= t {
            self.flags |= GAP;
            self.close(next);
        }
    }

    /// A good reading `v` at `ts`.
    pub fn reading(&mut self, src: &Source, ts: i64, v: f64, next: &dyn Fn(i64) -> i64) -> Noted {
        let Some((t0, v0)) = self.last else {
            self.close_until(ts, next);
            self.last = Some((ts, v));
            if ts > self.open.0 {
                self.flags |= PARTIAL;
            }
            return Noted::Nothing;
        };
        if ts <= t0 {
            return Noted::Nothing;
        }
        self.last = Some((ts, v));
        let dt = ts - t0;
        let long = dt > src.max_gap;
        // Shared out over grains with no reading between them: their split is an estimate, the sum is not.
        let spread_flags = if long && ts > self.open.1 { ESTIMATED } else { 0 };
        match &src.kind {
            Kind::Register(r) => match r.step(v0, v, dt) {
                Step::Counted(q) | Step::Rolled(q) => {
                    let q = i128::from(micro(q));
                    let span = i128::from(dt);
                    let share = |x: i64| (q * i128::from(x - t0) / span) as i64;
                    self.spread(t0, ts, &share, spread_flags, 0, next);
                    Noted::Nothing
                }
                Step::Reset => {
                    self.spread(t0, ts, &|_| 0, 0, RESET, next);
                    Noted::Reset { from: v0, to: v }
                }
            },
            Kind::Power(_) if long => {
                self.spread(t0, ts, &|_| 0, GAP, GAP, next);
                Noted::Gap { seconds: dt as f64 / 1e9 }
            }
            Kind::Power(ratio) => {
                let tr = Trapezoid { t0, p0: v0 * ratio, t1: ts, p1: v * ratio };
                self.spread(t0, ts, &|x| micro(tr.energy_until(x)), 0, 0, next);
                Noted::Nothing
            }
        }
    }

    /// Shares out `cum` (the amount from `t0` up to its argument) over the grains in `t0..t1`.
    fn spread(
        &mut self,
        t0: i64,
        t1: i64,
        cum: &dyn Fn(i64) -> i64,
        each: u8,
        last: u8,
        next: &dyn Fn(i64) -> i64,
    ) {
        let mut assigned = 0;
        if t0 < self.open.0 {
            // Grains before the open one are closed: their share goes into the open grain.
            assigned = cum(self.open.0.min(t1));
            self.acc += assigned;
            self.flags |= ESTIMATED;
        }
        while self.open.1 <= t1 {
            let a = cum(self.open.1) - assigned;
            self.acc += a;
            assigned += a;
            self.flags |= each;
            self.close(next);
        }
        self.acc += cum(t1) - assigned;
        if t1 > self.open.0 {
            self.flags |= each;
        }
        self.flags |= last;
    }
}
