//! What `check` refuses in `[energy]`, each at its place, with what to write instead.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use drivers::sections::Problem;
use drivers::units::Span;
use serde_spanned::Spanned;

use super::calendar::Calendar;
use super::config::{EnergyConfig, Medium, MeterToml, TariffToml};
use super::plan::{grain, parents};
use super::tariff::parse_range;
use crate::config::name_problem;
use crate::engine::energy::hierarchy::Tree;

const STEPS: &str = "1m, 5m, 10m, 15m, 30m or 1h";

/// A step that boundaries can be aligned to on the local clock: whole seconds that divide an hour.
fn divides_hour(d: Duration) -> bool {
    let s = d.as_secs();
    d.subsec_nanos() == 0 && s >= 1 && 3600 % s == 0
}

pub fn problems(cfg: &EnergyConfig) -> Vec<Problem> {
    let mut out = Vec::new();
    site(cfg, &mut out);
    if cfg.meters.is_empty() && cfg.complete {
        out.push((
            cfg.at.clone(),
            "energy: no meter; add a `[[energy.meter]]` with a `name` and an `energy` register".into(),
        ));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for m in &cfg.meters {
        if let Some(why) = name_problem("energy meter name", m.name()) {
            out.push((m.name.span(), why));
        }
        if seen.insert(m.name(), 0).is_some() {
            out.push((
                m.name.span(),
                format!("energy meter {:?} is declared twice; meter names are unique", m.name()),
            ));
        }
        meter(m, &mut out);
    }
    tree(cfg, &mut out);
    out
}

fn site(cfg: &EnergyConfig, out: &mut Vec<Problem>) {
    let s = &cfg.site;
    match &s.timezone {
        None => out.push((
            cfg.at.clone(),
            "energy: `timezone` is missing; write the site's zone, e.g. timezone = \"Asia/Shanghai\"".into(),
        )),
        Some(z) => {
            if let Err(e) = Calendar::new(z.get_ref(), 1) {
                out.push((z.span(), format!("energy: time zone {:?} is unknown ({e}); write an IANA name such as \"Asia/Shanghai\" or \"Europe/Berlin\"", z.get_ref())));
            }
        }
    }
    if let Some(i) = &s.interval
        && !divides_hour(i.get_ref().get())
    {
        out.push((
            i.span(),
            format!("energy: interval {} does not divide an hour; use {STEPS}", i.get_ref()),
        ));
    }
    if let Some(d) = &s.billing_day
        && !(1..=31).contains(d.get_ref())
    {
        out.push((d.span(), format!("energy: billing_day {} is not a day of the month; write 1 to 31 (31 means each month's last day)", d.get_ref())));
    }
    if let Some(t) = &s.tariff {
        tariff(t, grain(cfg), out);
    }
    if let Some(c) = &s.carbon {
        for (key, v) in
            [("grid_factor", &c.grid_factor), ("gas_ncv", &c.gas_ncv), ("gas_factor", &c.gas_factor)]
        {
            if let Some(v) = v
                && !(v.get_ref().is_finite() && *v.get_ref() >= 0.0)
            {
                out.push((
                    v.span(),
                    format!("energy.carbon: `{key}` is {}; write a factor of 0 or more", v.get_ref()),
                ));
            }
        }
    }
}

fn tariff(t: &TariffToml, grain: i64, out: &mut Vec<Problem>) {
    let prices = t.prices.get_ref();
    let names: Vec<&str> = prices.keys().map(String::as_str).collect();
    if prices.is_empty() {
        out.push((
            t.prices.span(),
            "energy.tariff: `prices` is empty; write e.g. prices = { peak = 1.2, flat = 0.7, valley = 0.3 }"
                .into(),
        ));
    }
    for (name, price) in prices {
        if let Some(why) = name_problem("tariff period name", name) {
            out.push((t.prices.span(), why));
        }
        if !price.is_finite() {
            out.push((
                t.prices.span(),
                format!("energy.tariff: price of {name:?} is {price}; write a number"),
            ));
        }
    }
    let known = |p: &Spanned<String>, out: &mut Vec<Problem>| {
        if !prices.contains_key(p.get_ref()) {
            out.push((
                p.span(),
                format!(
                    "energy.tariff: period {:?} has no price; use one of {}, or add it to `prices`",
                    p.get_ref(),
                    names.join(", ")
                ),
            ));
        }
    };
    known(&t.default, out);
    let grain_min = grain as f64 / 60e9;
    for rule in &t.periods {
        known(&rule.period, out);
        for h in &rule.hours {
            match parse_range(h.get_ref()) {
                Err(why) => out.push((h.span(), format!("energy.tariff: {why}"))),
                Ok((a, b)) => {
                    let off_grid = |m: u16| (f64::from(m) / grain_min).fract() != 0.0;
                    if off_grid(a) || off_grid(b) {
                        out.push((h.span(), format!("energy.tariff: hours {:?} change period inside a {} step of the accounts; move the change to a multiple of it, or shorten `interval` or the demand slip", h.get_ref(), Span(Duration::from_nanos(grain as u64)))));
                    }
                }
            }
        }
        if let Some(months) = &rule.months
            && let Some(m) = months.get_ref().iter().find(|m| !(1..=12).contains(*m))
        {
            out.push((
                months.span(),
                format!("energy.tariff: month {m} does not exist; write months 1 to 12"),
            ));
        }
    }
}

fn meter(m: &MeterToml, out: &mut Vec<Problem>) {
    let name = m.name();
    let at = m.name.span();
    let inputs: Vec<&str> = [("energy", &m.energy), ("power", &m.power), ("volume", &m.volume)]
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| *k)
        .collect();
    let mut push =
        |span: Range<usize>, what: String| out.push((span, format!("energy meter {name:?}: {what}")));
    if inputs.len() > 1 {
        push(
            at.clone(),
            format!(
                "reads both `{}`; give one of `energy` (a register), `power` or `volume`",
                inputs.join("` and `")
            ),
        );
    }
    match m.medium() {
        Medium::Electricity if m.volume.is_some() => push(
            at.clone(),
            "`volume` is for fuel meters; add medium = \"natural_gas\", or read `energy`".into(),
        ),
        Medium::NaturalGas if m.energy.is_some() || m.power.is_some() => {
            push(at.clone(), "a natural_gas meter reads `volume` (m³), not `energy` or `power`".into())
        }
        _ => {}
    }
    let register = m.energy.is_some() || m.volume.is_some();
    for (key, v) in [("rollover", &m.rollover), ("resolution", &m.resolution), ("max_rate", &m.max_rate)] {
        if let Some(v) = v {
            if !(v.get_ref().is_finite() && *v.get_ref() > 0.0) {
                push(v.span(), format!("`{key}` is {}; write a positive number", v.get_ref()));
            } else if key != "max_rate" && !register {
                push(
                    v.span(),
                    format!("`{key}` is for a register; this meter reads no `energy` or `volume`"),
                );
            }
        }
    }
    for (key, r) in [("ct", &m.ct), ("pt", &m.pt)] {
        if let Some(r) = r
            && let Err(why) = r.get_ref().value()
        {
            push(r.span(), format!("`{key}` is not a ratio; {why}"));
        }
    }
    if let Some(g) = &m.max_gap
        && g.get_ref().get().is_zero()
    {
        push(g.span(), "`max_gap` is 0, so no two readings could ever be joined; write e.g. \"30s\"".into());
    }
    if let Some(d) = &m.demand {
        let (period, slip) = (d.get_ref().period.get(), d.get_ref().slip());
        if m.medium() != Medium::Electricity {
            push(d.span(), "demand is for electricity meters".into());
        } else if !divides_hour(period) || !divides_hour(slip) {
            push(
                d.span(),
                format!(
                    "demand period and slip must divide an hour; use {STEPS} (China: period = \"15m\", slip = \"1m\")"
                ),
            );
        } else if period.as_secs() % slip.as_secs() != 0 {
            push(
                d.span(),
                format!(
                    "demand slip {} does not divide the period {}; a window moves by whole slips",
                    Span(slip),
                    Span(period)
                ),
            );
        }
    }
}

fn tree(cfg: &EnergyConfig, out: &mut Vec<Problem>) {
    let meters = &cfg.meters;
    let parents = parents(meters);
    let mut links_ok = true;
    for (i, m) in meters.iter().enumerate() {
        let Some(p) = &m.parent else { continue };
        match parents[i] {
            None => {
                links_ok = false;
                if !cfg.complete {
                    continue;
                }
                out.push((p.span(), format!("energy meter {:?}: parent {:?} is not a meter; name a `[[energy.meter]]` (a meter without a register is a group)", m.name(), p.get_ref())));
            }
            Some(j) if meters[j].medium() != Medium::Electricity => out.push((
                p.span(),
                format!("energy meter {:?}: parent {:?} is a fuel meter; only electricity meters and groups hold other meters", m.name(), p.get_ref()),
            )),
            Some(_) => {}
        }
    }
    if links_ok && let Err(i) = Tree::new(&parents) {
        let m = &meters[i];
        let at = m.parent.as_ref().map_or(m.name.span(), |p| p.span());
        out.push((at, format!("energy meter {:?} is in a loop of parents; the tree must end in a meter or group without `parent`", m.name())));
    }
    for (i, m) in meters.iter().enumerate() {
        if cfg.complete && m.input().is_none() && !parents.contains(&Some(i)) {
            out.push((m.name.span(), format!("energy meter {:?} reads nothing and no meter names it as `parent`; give it `energy`, `power` or `volume`, or put meters under it", m.name())));
        }
    }
}
