//! The tags the energy engine derives, named from the meter: `一号车间.总表.energy`, `.cycle.energy.peak`.
//! One list serves `check` (which refuses a name already taken) and the engine (which looks up ids).

use super::config::{Medium, MeterToml};

/// What a node reports; the value at index `FIXED + p` is tariff period `p`'s energy in the cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Interval quantity (kWh or m³), its running total, the loss under it, cost, CO2.
    Q,
    Total,
    Loss,
    Cost,
    Co2,
    /// Demand of each window (kW) and each new maximum of the billing cycle.
    Demand,
    DemandMax,
    DayQ,
    DayCost,
    DayCo2,
    DayOutput,
    DayPerUnit,
    DayCo2PerUnit,
    CycleQ,
    CycleCost,
    CycleCo2,
    CycleDemandMax,
}

pub const FIXED: usize = Slot::CycleDemandMax as usize + 1;

/// What the site reports: emissions of the whole site (its top-level meters and groups).
pub const SITE_TAGS: [&str; 4] =
    ["carbon.scope1.day", "carbon.scope2.day", "carbon.scope1.month", "carbon.scope2.month"];

/// Everything that shapes a node's tags.
pub struct Shape<'a> {
    pub has_children: bool,
    /// Tariff period names, when there is a tariff.
    pub periods: Option<&'a [String]>,
    pub carbon: bool,
}

/// The node's tags as (slot index, name).
pub fn node_tags(m: &MeterToml, shape: &Shape<'_>) -> Vec<(usize, String)> {
    let (name, q) = (m.name(), m.quantity());
    let elec = m.medium() == Medium::Electricity;
    let priced = elec && shape.periods.is_some();
    let demand = elec && m.demand.is_some();
    let output = m.output.is_some();
    let c = shape.carbon;
    let list: [(Slot, bool, String); FIXED] = [
        (Slot::Q, true, format!("{name}.{q}")),
        (Slot::Total, true, format!("{name}.{q}_total")),
        (Slot::Loss, elec && shape.has_children && m.input().is_some(), format!("{name}.loss")),
        (Slot::Cost, priced, format!("{name}.cost")),
        (Slot::Co2, c, format!("{name}.co2")),
        (Slot::Demand, demand, format!("{name}.demand")),
        (Slot::DemandMax, demand, format!("{name}.demand_max")),
        (Slot::DayQ, true, format!("{name}.day.{q}")),
        (Slot::DayCost, priced, format!("{name}.day.cost")),
        (Slot::DayCo2, c, format!("{name}.day.co2")),
        (Slot::DayOutput, output, format!("{name}.day.output")),
        (Slot::DayPerUnit, output, format!("{name}.day.{q}_per_unit")),
        (Slot::DayCo2PerUnit, output && c, format!("{name}.day.co2_per_unit")),
        (Slot::CycleQ, true, format!("{name}.cycle.{q}")),
        (Slot::CycleCost, priced, format!("{name}.cycle.cost")),
        (Slot::CycleCo2, c, format!("{name}.cycle.co2")),
        (Slot::CycleDemandMax, demand, format!("{name}.cycle.demand_max")),
    ];
    let mut out: Vec<(usize, String)> =
        list.into_iter().filter(|(_, on, _)| *on).map(|(s, _, n)| (s as usize, n)).collect();
    if priced && let Some(periods) = shape.periods {
        out.extend(
            periods.iter().enumerate().map(|(p, period)| (FIXED + p, format!("{name}.cycle.{q}.{period}"))),
        );
    }
    out
}
