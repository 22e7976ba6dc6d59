//! The Wood–Berry distillation column: a methanol–water column whose top and bottom compositions answer
//! reflux and steam, each through a first order plus dead time. The 2×2 benchmark of multivariable
//! control, with strong interaction and dead times.
//!
//! R. K. Wood and M. W. Berry, "Terminal composition control of a binary distillation column",
//! Chemical Engineering Science 28 (1973) 1707–1717. Time in minutes, compositions in mol % methanol,
//! flows in lb/min:
//!
//! ```text
//! xD = 12.8 e^(−1s) / (16.7s + 1) · R  −  18.9 e^(−3s) / (21.0s + 1) · S
//! xB =  6.6 e^(−7s) / (10.9s + 1) · R  −  19.4 e^(−3s) / (14.4s + 1) · S
//! ```
//!
//! around the paper's operating point R = 1.95 lb/min, S = 1.71 lb/min, xD = 96 mol %, xB = 0.5 mol %.

use std::time::Duration;

use serde::Deserialize;

use super::fopdt::Fopdt;

/// One transfer function of the column: gain, time constant and dead time in minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Channel {
    pub gain: f64,
    pub time_constant_min: f64,
    pub dead_time_min: f64,
}

const fn ch(gain: f64, time_constant_min: f64, dead_time_min: f64) -> Channel {
    Channel { gain, time_constant_min, dead_time_min }
}

/// Rows xD, xB; columns reflux R, steam S (Wood & Berry 1973).
pub const MODEL: [[Channel; 2]; 2] =
    [[ch(12.8, 16.7, 1.0), ch(-18.9, 21.0, 3.0)], [ch(6.6, 10.9, 7.0), ch(-19.4, 14.4, 3.0)]];
/// Operating point: reflux and steam, lb/min.
pub const NOMINAL_INPUTS: [f64; 2] = [1.95, 1.71];
/// Operating point: top (xD) and bottom (xB) compositions, mol % methanol.
pub const NOMINAL_OUTPUTS: [f64; 2] = [96.0, 0.5];

/// Which product a tag is.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Composition {
    /// xD, the distillate.
    Top,
    /// xB, the bottoms.
    Bottom,
}

impl Composition {
    pub fn row(self) -> usize {
        match self {
            Composition::Top => 0,
            Composition::Bottom => 1,
        }
    }
}

fn minutes(m: f64) -> Duration {
    Duration::from_secs_f64(m * 60.0)
}

/// One composition of the column, as the sum of its two channels.
#[derive(Debug, Clone)]
pub struct Column {
    row: usize,
    channels: [Fopdt; 2],
}

impl Column {
    pub fn new(composition: Composition, scan: Duration) -> Column {
        let row = composition.row();
        let channel = |c: Channel| {
            Fopdt::new(c.gain, 0.0, minutes(c.time_constant_min), minutes(c.dead_time_min), scan)
        };
        Column { row, channels: [channel(MODEL[row][0]), channel(MODEL[row][1])] }
    }

    /// The composition at the operating point.
    pub fn nominal(&self) -> f64 {
        NOMINAL_OUTPUTS[self.row]
    }

    /// The composition at `now` (ns) with reflux and steam applied from `now` on.
    pub fn step(&mut self, now: i64, reflux: f64, steam: f64) -> f64 {
        let r = self.channels[0].step(now, reflux - NOMINAL_INPUTS[0]);
        let s = self.channels[1].step(now, steam - NOMINAL_INPUTS[1]);
        NOMINAL_OUTPUTS[self.row] + r + s
    }
}
