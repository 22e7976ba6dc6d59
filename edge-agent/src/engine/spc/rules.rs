//! The Western Electric zone rules (Statistical Quality Control Handbook, Western Electric, 1956,
//! section 1B, "tests for unnatural patterns"), on the X chart, plus a dispersion point beyond its limits.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    /// One point beyond 3σ.
    We1,
    /// Two of three successive points beyond 2σ, on the same side.
    We2,
    /// Four of five successive points beyond 1σ, on the same side.
    We3,
    /// Eight successive points on the same side of the centre line.
    We4,
    /// The range, standard deviation or moving range beyond its own limits.
    Dispersion,
}

impl Rule {
    /// As carried on `<tag>.spc.rule` (0 when no rule fired at that point).
    pub fn code(self) -> i64 {
        match self {
            Rule::We1 => 1,
            Rule::We2 => 2,
            Rule::We3 => 3,
            Rule::We4 => 4,
            Rule::Dispersion => 5,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Rule::We1 => "WE1: one point beyond 3σ",
            Rule::We2 => "WE2: two of three points beyond 2σ on one side",
            Rule::We3 => "WE3: four of five points beyond 1σ on one side",
            Rule::We4 => "WE4: eight points in a row on one side of the centre line",
            Rule::Dispersion => "dispersion beyond its control limits",
        }
    }
}

/// The last eight points as signed distances from the centre line, in sigmas of the plotted statistic.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    z: VecDeque<f64>,
}

impl History {
    /// Adds a point `z` sigmas from the centre line; every rule it completes, most severe first.
    pub fn push(&mut self, z: f64) -> Vec<Rule> {
        self.z.push_back(z);
        if self.z.len() > 8 {
            self.z.pop_front();
        }
        let mut fired = Vec::new();
        if z.abs() > 3.0 {
            fired.push(Rule::We1);
        }
        let side = z.signum();
        let last = |k: usize| self.z.iter().rev().take(k);
        let beyond = |k: usize, s: f64| last(k).filter(|&&v| v.signum() == side && v.abs() > s).count();
        // The point itself must be one of those beyond, or the pattern was already complete before it.
        if z.abs() > 2.0 && self.z.len() >= 3 && beyond(3, 2.0) >= 2 {
            fired.push(Rule::We2);
        }
        if z.abs() > 1.0 && self.z.len() >= 5 && beyond(5, 1.0) >= 4 {
            fired.push(Rule::We3);
        }
        if self.z.len() == 8 && z != 0.0 && last(8).all(|&v| v.signum() == side && v != 0.0) {
            fired.push(Rule::We4);
        }
        fired
    }
}
