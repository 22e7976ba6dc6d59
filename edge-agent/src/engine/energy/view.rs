//! What `GET /energy` shows: each meter's current billing cycle and day, and the site's emissions,
//! as of the last grain put into the books.

use serde_json::{Value, json};

use super::account::{quality, units};
use super::config::Medium;
use super::engine::EnergyEngine;

pub fn view(e: &EnergyEngine) -> Value {
    let plan = &e.plan;
    let cal = &plan.calendar;
    let booked = e.pending.map(|(start, _)| start);
    let meters: Vec<Value> = plan
        .nodes
        .iter()
        .zip(&e.nodes)
        .map(|(p, n)| {
            let unit = match p.medium {
                Medium::Electricity => "kWh",
                Medium::NaturalGas => "m³",
            };
            let mut cycle = json!({
                "quantity": units(n.cycle.q),
                "cost": units(n.cycle.cost),
                "co2_kg": units(n.cycle.scope1 + n.cycle.scope2),
                "output": units(n.cycle.output),
                "quality": quality(n.cycle.flags).label(),
            });
            if let Some(t) = &plan.tariff {
                let periods: serde_json::Map<String, Value> = t
                    .periods
                    .iter()
                    .zip(&n.periods)
                    .map(|(name, q)| (name.clone(), json!(units(*q))))
                    .collect();
                cycle["periods"] = Value::Object(periods);
            }
            if let (Some(d), Some((sum, at, _))) = (&p.demand, n.demand.max) {
                cycle["demand_max_kw"] = json!(d.kw(sum));
                cycle["demand_max_at"] = json!(cal.label(at));
            }
            json!({
                "name": p.name,
                "unit": unit,
                "total": units(n.total),
                "day": {
                    "quantity": units(n.day.q),
                    "cost": units(n.day.cost),
                    "co2_kg": units(n.day.scope1 + n.day.scope2),
                    "output": units(n.day.output),
                },
                "cycle": cycle,
            })
        })
        .collect();
    let mut out = json!({
        "timezone": cal.zone(),
        "currency": plan.currency,
        "booked_until": booked.map(|t| cal.label(t)),
        "billing_cycle_start": booked.map(|t| cal.label(cal.cycle_start(t - 1))),
        "meters": meters,
    });
    if let Some(f) = plan.factors {
        out["carbon"] = json!({
            "grid_factor_kg_per_kwh": f.grid,
            "gas_factor_kg_per_m3": f.gas_per_m3,
            "day": { "scope1_kg": units(e.site.day.0), "scope2_kg": units(e.site.day.1) },
            "month": { "scope1_kg": units(e.site.month.0), "scope2_kg": units(e.site.month.1) },
        });
    }
    out
}
