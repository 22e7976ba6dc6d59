//! The engine's fixed part, worked out once from a config that passed `check`: the clock and its
//! grain, the tariff, the factors, the tree of meters and the inputs each meter reads.

use std::time::Duration;

use super::calendar::Calendar;
use super::carbon::Factors;
use super::channel::{Kind, Source};
use super::config::{EnergyConfig, Medium, MeterToml};
use super::counter::Register;
use super::demand::Demand;
use super::hierarchy::Tree;
use super::tags::{Shape, node_tags};
use super::tariff::Tariff;

pub struct NodePlan {
    pub name: String,
    pub medium: Medium,
    pub input: Option<usize>,
    pub output: Option<usize>,
    pub demand: Option<Demand>,
    /// (slot index, tag name).
    pub tags: Vec<(usize, String)>,
}

pub struct ChannelPlan {
    /// Keys its saved state: `<meter>/input`, `<meter>/output`.
    pub key: String,
    pub tag: String,
    pub source: Source,
}

pub struct Plan {
    pub calendar: Calendar,
    pub grain: i64,
    pub interval: i64,
    pub late: i64,
    pub tariff: Option<Tariff>,
    pub factors: Option<Factors>,
    pub currency: String,
    pub nodes: Vec<NodePlan>,
    pub channels: Vec<ChannelPlan>,
    pub tree: Tree,
}

fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Each meter's parent as an index; an unknown parent reads as none (`check` reports it).
pub fn parents(meters: &[MeterToml]) -> Vec<Option<usize>> {
    meters
        .iter()
        .map(|m| m.parent.as_ref().and_then(|p| meters.iter().position(|o| o.name() == p.get_ref().as_str())))
        .collect()
}

/// The grain: the longest step every interval, window and slip is made of.
pub fn grain(cfg: &EnergyConfig) -> i64 {
    let mut g = ns(cfg.site.interval());
    for d in cfg.meters.iter().filter_map(|m| m.demand.as_ref()) {
        g = gcd(g, ns(d.get_ref().period.get()));
        g = gcd(g, ns(d.get_ref().slip()));
    }
    g.max(1)
}

fn register(m: &MeterToml) -> Register {
    let resolution = m.resolution.as_ref().map_or(1.0, |r| *r.get_ref());
    let ratio = m.ratio();
    Register {
        modulus: m.rollover.as_ref().map(|r| r.get_ref() + resolution),
        resolution,
        ratio,
        max_per_hour: m.max_rate.as_ref().map(|r| r.get_ref() / ratio),
    }
}

impl Plan {
    pub fn new(cfg: &EnergyConfig) -> Result<Plan, String> {
        let zone = cfg.site.timezone.as_ref().map_or("UTC", |z| z.get_ref().as_str());
        let calendar = Calendar::new(zone, cfg.site.billing_day())?;
        let grain = grain(cfg);
        let tariff = cfg.site.tariff.as_ref().map(Tariff::new);
        let factors = cfg.site.carbon.as_ref().map(Factors::new);
        let tree = Tree::new(&parents(&cfg.meters))
            .map_err(|i| format!("meter {} is in a loop of parents", cfg.meters[i].name()))?;
        let mut channels = Vec::new();
        let mut nodes = Vec::new();
        for (i, m) in cfg.meters.iter().enumerate() {
            let max_gap = ns(m.max_gap());
            let mut channel = |role: &str, tag: &str, kind: Kind| {
                channels.push(ChannelPlan {
                    key: format!("{}/{role}", m.name()),
                    tag: tag.to_owned(),
                    source: Source { kind, max_gap },
                });
                channels.len() - 1
            };
            let input = match (&m.energy, &m.power, &m.volume) {
                (Some(t), _, _) | (_, _, Some(t)) => {
                    Some(channel("input", t.get_ref(), Kind::Register(register(m))))
                }
                (_, Some(t), _) => Some(channel("input", t.get_ref(), Kind::Power(m.ratio()))),
                _ => None,
            };
            let output = m.output.as_ref().map(|t| {
                let counter = Register { modulus: None, resolution: 1.0, ratio: 1.0, max_per_hour: None };
                channel("output", t.get_ref(), Kind::Register(counter))
            });
            let demand = m.demand.as_ref().map(|d| {
                let (period, slip) = (ns(d.get_ref().period.get()), ns(d.get_ref().slip()));
                Demand { period, slip, grains: (period / grain).max(1) as usize }
            });
            let shape = Shape {
                has_children: !tree.children[i].is_empty(),
                periods: tariff.as_ref().map(|t| t.periods.as_slice()),
                carbon: factors.is_some(),
            };
            nodes.push(NodePlan {
                name: m.name().to_owned(),
                medium: m.medium(),
                input,
                output,
                demand,
                tags: node_tags(m, &shape),
            });
        }
        Ok(Plan {
            calendar,
            grain,
            interval: ns(cfg.site.interval()),
            late: ns(cfg.site.late()),
            tariff,
            factors,
            currency: cfg.site.currency.clone().unwrap_or_default(),
            nodes,
            channels,
            tree,
        })
    }
}
