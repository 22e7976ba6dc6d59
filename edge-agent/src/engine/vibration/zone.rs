//! ISO 10816-3:2009 Annex A evaluation zones for broadband velocity RMS (mm/s), and the trend of
//! velocity RMS toward the next boundary.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::Foundation;

/// Boundaries A/B, B/C, C/D in mm/s: ISO 10816-3:2009 Table A.1 (group 1: 300 kW to 50 MW, or shaft
/// height 315 mm and above) and Table A.2 (group 2: 15 kW to 300 kW, shaft height 160 to 315 mm).
pub fn boundaries(group: u8, foundation: Foundation) -> Option<[f64; 3]> {
    match (group, foundation) {
        (1, Foundation::Rigid) => Some([2.3, 4.5, 7.1]),
        (1, Foundation::Flexible) => Some([3.5, 7.1, 11.0]),
        (2, Foundation::Rigid) => Some([1.4, 2.8, 4.5]),
        (2, Foundation::Flexible) => Some([2.3, 4.5, 7.1]),
        _ => None,
    }
}

/// 1 for A (newly commissioned) to 4 for D (damage likely, ISO 10816-3 §6.2); a value on a boundary
/// is still in the lower zone.
pub fn zone(v: f64, b: &[f64; 3]) -> u8 {
    1 + b.iter().filter(|&&limit| v > limit).count() as u8
}

pub fn letter(zone: u8) -> char {
    match zone {
        1 => 'A',
        2 => 'B',
        3 => 'C',
        _ => 'D',
    }
}

/// Points kept for the fit: older ones are thinned to this many over the trend window.
const POINTS: usize = 256;

/// Least-squares line through recent (time, velocity RMS) points.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Trend {
    points: VecDeque<(f64, f64)>,
}

impl Trend {
    /// Adds a point at `t` seconds, keeping `window` seconds of history at one point per window/POINTS.
    pub fn push(&mut self, t: f64, v: f64, window: f64) {
        let spacing = window / POINTS as f64;
        match self.points.back_mut() {
            // Within one spacing of the last point: average into it, so a fast block rate cannot flood.
            Some(last) if t - last.0 < spacing => last.1 = (last.1 + v) / 2.0,
            _ => self.points.push_back((t, v)),
        }
        while self.points.front().is_some_and(|p| t - p.0 > window) {
            self.points.pop_front();
        }
    }

    /// Slope (per second) and the fitted value at `t`, with at least 8 points.
    pub fn fit(&self, t: f64) -> Option<(f64, f64)> {
        let n = self.points.len();
        if n < 8 {
            return None;
        }
        let (mt, mv) = self.points.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
        let (mt, mv) = (mt / n as f64, mv / n as f64);
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for &(x, y) in &self.points {
            sxy += (x - mt) * (y - mv);
            sxx += (x - mt) * (x - mt);
        }
        if sxx <= 0.0 {
            return None;
        }
        let slope = sxy / sxx;
        Some((slope, mv + slope * (t - mt)))
    }

    /// Seconds until the fitted line crosses the next boundary above the fitted value, if it rises.
    pub fn time_to_next(&self, t: f64, b: &[f64; 3]) -> Option<f64> {
        let (slope, now) = self.fit(t)?;
        let next = b.iter().copied().find(|&limit| limit > now)?;
        (slope > 0.0).then(|| (next - now) / slope)
    }
}
