//! `[energy]` on the engine seam.

use std::sync::Arc;
use std::time::Duration;

use drivers::ConfigErrors;
use drivers::sections::{Problem, items, section};
use protocols::TagId;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::config::{EnergyConfig, MeterToml, SiteToml};
use super::engine::EnergyEngine;
use super::plan::{Plan, parents};
use super::tags::{SITE_TAGS, Shape, node_tags};
use super::tariff::Tariff;
use crate::engine::{DerivedTag, Engine, EngineConfig, EngineInput, EngineKind, TagRef};

/// How often a silent meter's boundaries are looked at: `late` is kept to within a second.
pub const ENERGY_TICK: Duration = Duration::from_secs(1);

pub struct EnergyKind;

impl EngineKind for EnergyKind {
    fn section(&self) -> &'static str {
        "energy"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>> {
        let at = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            errors.push(Some(at), "`energy` is a section: write `[energy]` and `[[energy.meter]]`");
            return Vec::new();
        };
        // The meters are read one by one, so one bad meter does not hide the next.
        let mut rest = DeTable::new();
        let mut meters = Vec::new();
        let before = errors.len();
        for (key, v) in table {
            if key.get_ref().as_ref() == "meter" {
                meters = items::<MeterToml>("energy.meter", v, errors);
            } else {
                rest.insert(key, v);
            }
        }
        let complete = errors.len() == before;
        let Some(site) = section::<SiteToml>(Spanned::new(at.clone(), DeValue::Table(rest)), errors) else {
            return Vec::new();
        };
        vec![Arc::new(EnergyConfig { site, meters, at, complete })]
    }
}

impl EnergyConfig {
    fn derived(&self) -> Vec<(String, std::ops::Range<usize>)> {
        let parents = parents(&self.meters);
        let tariff = self.site.tariff.as_ref().map(Tariff::new);
        let carbon = self.site.carbon.is_some();
        let mut out = Vec::new();
        for (i, m) in self.meters.iter().enumerate() {
            let shape = Shape {
                has_children: parents.contains(&Some(i)),
                periods: tariff.as_ref().map(|t| t.periods.as_slice()),
                carbon,
            };
            out.extend(node_tags(m, &shape).into_iter().map(|(_, n)| (n, m.name.span())));
        }
        if carbon {
            out.extend(SITE_TAGS.iter().map(|t| (t.to_string(), self.at.clone())));
        }
        out
    }
}

impl EngineConfig for EnergyConfig {
    fn kind(&self) -> &'static str {
        "energy"
    }

    fn name(&self) -> String {
        "energy".into()
    }

    fn reads(&self) -> Vec<TagRef<'_>> {
        let mut out = Vec::new();
        for m in &self.meters {
            let role = format!("energy meter {:?} reads", m.name());
            out.extend(m.input().map(|t| TagRef { tag: t, role: role.clone() }));
            out.extend(
                m.output.as_ref().map(|t| TagRef {
                    tag: t,
                    role: format!("energy meter {:?} counts output on", m.name()),
                }),
            );
        }
        out
    }

    fn derives(&self) -> Vec<DerivedTag> {
        self.derived().into_iter().map(|(name, at)| DerivedTag { name, at }).collect()
    }

    fn problems(&self) -> Vec<Problem> {
        super::check::problems(self)
    }

    fn input(&self) -> EngineInput {
        // A total that skipped a sample would be wrong: every reading, in order, across restarts.
        EngineInput::Lossless
    }

    fn tick(&self) -> Duration {
        ENERGY_TICK
    }

    fn summary(&self) -> String {
        let zone = self.site.timezone.as_ref().map_or("UTC", |z| z.get_ref().as_str());
        let groups = self.meters.iter().filter(|m| m.input().is_none()).count();
        let mut parts = vec![format!("{} meter(s), {groups} group(s)", self.meters.len() - groups)];
        parts.push(format!("interval {}", drivers::units::Span(self.site.interval())));
        if let Some(t) = &self.site.tariff {
            parts
                .push(format!("tariff {}", t.prices.get_ref().keys().cloned().collect::<Vec<_>>().join("/")));
        }
        if self.site.carbon.is_some() {
            parts.push("carbon".into());
        }
        format!("energy in {zone}: {}", parts.join(", "))
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        let plan = Plan::new(self)?;
        for (name, _) in self.derived() {
            tag_id(&name).ok_or_else(|| format!("tag {name} is not registered"))?;
        }
        Ok(Box::new(EnergyEngine::new(plan, tag_id)))
    }
}
