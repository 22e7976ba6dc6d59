//! Power to energy where there is no register: the trapezoid rule between two readings, never across
//! a gap longer than `max_gap` (that energy is unknown, and the intervals it touches say so).

use super::calendar::NS_PER_H;

/// Two power readings (kW, primary) and the energy between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trapezoid {
    pub t0: i64,
    pub p0: f64,
    pub t1: i64,
    pub p1: f64,
}

impl Trapezoid {
    /// Power at `t`, on the straight line between the readings.
    fn at(&self, t: i64) -> f64 {
        let span = (self.t1 - self.t0) as f64;
        if span <= 0.0 {
            return self.p1;
        }
        self.p0 + (self.p1 - self.p0) * ((t - self.t0) as f64 / span)
    }

    /// kWh from `t0` to `t` (`t0 <= t <= t1`).
    pub fn energy_until(&self, t: i64) -> f64 {
        let t = t.clamp(self.t0, self.t1);
        (self.p0 + self.at(t)) / 2.0 * ((t - self.t0) as f64 / NS_PER_H)
    }
}
