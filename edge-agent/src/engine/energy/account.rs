//! A node's books: its grains added into the interval, the day and the billing cycle (energy per
//! tariff period, cost, emissions, output, maximum demand), and what is reported when each closes.

use protocols::{Quality, Reason, Sample, TagId, Timestamp, Value};
use serde::{Deserialize, Serialize};

use super::channel::{ESTIMATED, GAP, PARTIAL, RESET};
use super::demand::DemandState;
use super::hierarchy::Flow;
use super::plan::NodePlan;
use super::tags::{FIXED, Slot};
use crate::engine::Emitter;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    /// Quantity since accounting began, µ.
    pub total: i64,
    pub interval: Flow,
    pub day: Flow,
    pub cycle: Flow,
    /// The cycle's quantity in each tariff period, µ.
    pub periods: Vec<i64>,
    pub demand: DemandState,
    /// Its total was published at its first reading.
    pub announced: bool,
}

/// Which boundaries a grain's end is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ends {
    pub interval: bool,
    pub day: bool,
    pub cycle: bool,
    pub month: bool,
}

/// What flags say about a figure: good, or uncertain and why.
pub fn quality(flags: u8) -> Quality {
    if flags & RESET != 0 {
        Quality::Uncertain(Reason::OutOfRange)
    } else if flags & (GAP | PARTIAL) != 0 {
        Quality::Uncertain(Reason::Stale)
    } else if flags & ESTIMATED != 0 {
        Quality::Uncertain(Reason::Substituted)
    } else {
        Quality::Good
    }
}

/// Millionths to the reported unit.
pub fn units(micro: i64) -> f64 {
    micro as f64 / 1e6
}

/// A node's tag ids, by slot.
pub struct Ids(pub Vec<Option<TagId>>);

impl Ids {
    pub fn new(plan: &NodePlan, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Ids {
        let len = plan.tags.iter().map(|(s, _)| s + 1).max().unwrap_or(FIXED).max(FIXED);
        let mut ids = vec![None; len];
        for (slot, name) in &plan.tags {
            ids[*slot] = tag_id(name);
        }
        Ids(ids)
    }

    /// Quantity, cost and CO2 of a closed interval, day or cycle, at the given slots.
    fn books(&self, out: &mut Emitter, [q, cost, co2]: [Slot; 3], end: i64, f: &Flow) {
        self.put(out, q as usize, end, units(f.q), f.flags);
        self.put(out, cost as usize, end, units(f.cost), f.flags);
        self.put(out, co2 as usize, end, units(f.scope1 + f.scope2), f.flags);
    }

    pub fn put(&self, out: &mut Emitter, slot: usize, ts: i64, value: f64, flags: u8) {
        if let Some(Some(tag)) = self.0.get(slot) {
            out.sample(Sample {
                tag: *tag,
                ts: Timestamp(ts),
                value: Value::Float(value),
                quality: quality(flags),
            });
        }
    }
}

impl NodeState {
    /// One grain's flow, in tariff period `period`.
    pub fn add(&mut self, f: &Flow, period: Option<usize>) {
        self.total += f.q;
        self.interval.add(f);
        self.day.add(f);
        self.cycle.add(f);
        if let Some(p) = period
            && let Some(slot) = self.periods.get_mut(p)
        {
            *slot += f.elec;
        }
    }

    /// Reports and restarts whatever ends at `end`.
    pub fn close(&mut self, ids: &Ids, end: i64, ends: Ends, out: &mut Emitter) {
        if ends.interval {
            let f = std::mem::take(&mut self.interval);
            ids.books(out, [Slot::Q, Slot::Cost, Slot::Co2], end, &f);
            ids.put(out, Slot::Total as usize, end, units(self.total), f.flags);
            ids.put(out, Slot::Loss as usize, end, units(f.loss()), f.flags | f.child_flags);
        }
        if ends.day {
            let f = std::mem::take(&mut self.day);
            ids.books(out, [Slot::DayQ, Slot::DayCost, Slot::DayCo2], end, &f);
            ids.put(out, Slot::DayOutput as usize, end, units(f.output), 0);
            if f.output > 0 {
                let per = |x: i64| x as f64 / f.output as f64;
                ids.put(out, Slot::DayPerUnit as usize, end, per(f.q), f.flags);
                ids.put(out, Slot::DayCo2PerUnit as usize, end, per(f.scope1 + f.scope2), f.flags);
            }
        }
        if ends.cycle {
            let f = std::mem::take(&mut self.cycle);
            ids.books(out, [Slot::CycleQ, Slot::CycleCost, Slot::CycleCo2], end, &f);
            for (p, q) in self.periods.iter_mut().enumerate() {
                ids.put(out, FIXED + p, end, units(std::mem::take(q)), f.flags);
            }
            self.demand.new_cycle();
        }
    }
}
