//! Demand: average power over a window of `period`, taken every `slip`. With the slip equal to the
//! period the windows are blocks (00:00-00:15, 00:15-00:30, ...); with a shorter slip they slide, as
//! China's utilities bill (15 min windows moved by 1 min). The maximum of a billing cycle is kept with
//! the time its window ended.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::calendar::NS_PER_H;

/// A meter's demand settings, in nanoseconds and grains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    pub period: i64,
    pub slip: i64,
    /// Grains in one window.
    pub grains: usize,
}

/// One window's demand: its end, kW, and the flags of the grains in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub end: i64,
    pub kw: f64,
    pub flags: u8,
    /// A new maximum of the billing cycle.
    pub new_max: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DemandState {
    /// The latest grains' amounts (µkWh) and flags, at most one window.
    recent: VecDeque<(i64, u8)>,
    /// The cycle's maximum: window sum (µkWh), its end, its flags.
    pub max: Option<(i64, i64, u8)>,
}

impl Demand {
    pub fn kw(&self, micro_kwh: i64) -> f64 {
        micro_kwh as f64 / 1e6 / (self.period as f64 / NS_PER_H)
    }
}

impl DemandState {
    /// A grain ending at `end`; `slip_boundary` when a window ends there. A window is reported only once
    /// it is full: the first after a fresh start would understate the demand.
    pub fn grain(
        &mut self,
        d: &Demand,
        end: i64,
        amount: i64,
        flags: u8,
        slip_boundary: bool,
    ) -> Option<Window> {
        self.recent.push_back((amount, flags));
        while self.recent.len() > d.grains {
            self.recent.pop_front();
        }
        if !slip_boundary || self.recent.len() < d.grains {
            return None;
        }
        let sum: i64 = self.recent.iter().map(|g| g.0).sum();
        let flags = self.recent.iter().fold(0, |f, g| f | g.1);
        let new_max = self.max.is_none_or(|(m, _, _)| sum > m);
        if new_max {
            self.max = Some((sum, end, flags));
        }
        Some(Window { end, kw: d.kw(sum), flags, new_max })
    }

    /// A new billing cycle: the maximum starts again; the window goes on sliding.
    pub fn new_cycle(&mut self) {
        self.max = None;
    }
}
