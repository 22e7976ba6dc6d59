//! `[[equipment]]` on the engine seam.

use std::sync::Arc;
use std::time::Duration;

use drivers::ConfigErrors;
use drivers::sections::Problem;
use protocols::TagId;
use toml::Spanned;
use toml::de::DeValue;

use super::EquipmentConfig;
use super::engine::{EquipmentEngine, Rule, Wiring};
use crate::engine::expr::{Parsed, Ty, checked, file_span};
use crate::engine::shifts::Calendar;
use crate::engine::{DerivedTag, Engine, EngineConfig, EngineInput, EngineKind, TagRef};

pub struct EquipmentKind;

impl EngineKind for EquipmentKind {
    fn section(&self) -> &'static str {
        "equipment"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>> {
        crate::engine::configs::<EquipmentConfig, _>("equipment", value, errors, ParsedEquipment::new)
    }
}

#[derive(Debug)]
pub struct ParsedEquipment {
    pub config: EquipmentConfig,
    rules: Vec<Result<Parsed, Problem>>,
    calendar: Option<Result<Calendar, Problem>>,
    /// Every tag a rule reads, once, at its first place in the file.
    reads: Vec<Spanned<String>>,
}

impl ParsedEquipment {
    pub fn new(config: EquipmentConfig) -> ParsedEquipment {
        let who = format!("equipment {}", config.name.get_ref());
        let rules: Vec<_> = config.states.iter().map(|r| checked(&r.when, Ty::Bool, &who)).collect();
        let mut reads: Vec<Spanned<String>> = Vec::new();
        for (rule, parsed) in config.states.iter().zip(&rules) {
            for (name, at) in parsed.iter().flat_map(|p| &p.tags) {
                if !reads.iter().any(|r| r.get_ref() == name) {
                    reads.push(Spanned::new(file_span(&rule.when.span(), at), name.clone()));
                }
            }
        }
        let calendar = config.shifts.as_ref().map(|s| s.calendar(&who));
        ParsedEquipment { config, rules, calendar, reads }
    }
}

impl EngineConfig for ParsedEquipment {
    fn kind(&self) -> &'static str {
        "equipment"
    }

    fn name(&self) -> String {
        format!("equipment {}", self.config.name.get_ref())
    }

    fn reads(&self) -> Vec<TagRef<'_>> {
        let role = format!("equipment {} reads", self.config.name.get_ref());
        let counters = [&self.config.total, &self.config.good, &self.config.reject];
        self.reads
            .iter()
            .chain(counters.into_iter().flatten())
            .map(|t| TagRef { tag: t, role: role.clone() })
            .collect()
    }

    fn derives(&self) -> Vec<DerivedTag> {
        self.config
            .outputs()
            .into_iter()
            .map(|name| DerivedTag { name, at: self.config.name.span() })
            .collect()
    }

    fn problems(&self) -> Vec<Problem> {
        let who = format!("equipment {}", self.config.name.get_ref());
        let mut p: Vec<Problem> = self.rules.iter().filter_map(|r| r.as_ref().err().cloned()).collect();
        p.extend(self.calendar.iter().filter_map(|c| c.as_ref().err().cloned()));
        if self.config.states.is_empty() {
            p.push((
                self.config.name.span(),
                format!("{who}: `states` is empty; give at least the running rule"),
            ));
        }
        if let (Some(_), Some(r)) = (&self.config.good, &self.config.reject) {
            p.push((r.span(), format!("{who}: give `good` or `reject`, not both")));
        }
        if self.config.ideal_cycle.is_some_and(|c| c.get().is_zero()) {
            p.push((
                self.config.name.span(),
                format!("{who}: `ideal_cycle` is 0s; write the fastest cycle, e.g. \"2s\""),
            ));
        }
        p
    }

    fn input(&self) -> EngineInput {
        // Runtime hours and OEE account time: every state change must be seen.
        EngineInput::Lossless
    }

    fn tick(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn summary(&self) -> String {
        let rules: Vec<String> = self
            .config
            .states
            .iter()
            .map(|r| format!("{} when {}", r.state.label(), r.when.get_ref()))
            .collect();
        let shifts = self
            .config
            .shifts
            .as_ref()
            .map_or(String::new(), |s| format!(", OEE over {} shift(s)", s.list.len()));
        format!("equipment {}: {}{shifts}", self.config.name.get_ref(), rules.join("; "))
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        let id = |t: &str| tag_id(t).ok_or_else(|| format!("tag {t} is not registered"));
        let inputs: Vec<TagId> = self.reads.iter().map(|t| id(t.get_ref())).collect::<Result<_, _>>()?;
        let mut rules = Vec::new();
        for (cfg, parsed) in self.config.states.iter().zip(&self.rules) {
            let parsed = parsed.clone().map_err(|(_, why)| why)?;
            let slots = parsed
                .tags
                .iter()
                .map(|(t, _)| self.reads.iter().position(|r| r.get_ref() == t).ok_or("rule tag not read"))
                .collect::<Result<_, _>>()?;
            rules.push(Rule { state: cfg.state, parsed, slots });
        }
        let counter = |t: &Option<Spanned<String>>| t.as_ref().map(|t| id(t.get_ref())).transpose();
        let outputs = self.config.outputs().iter().map(|o| id(o)).collect::<Result<Vec<_>, _>>()?;
        let calendar = self.calendar.clone().transpose().map_err(|(_, why)| why)?;
        Ok(Box::new(EquipmentEngine::new(Wiring {
            name: self.config.name.get_ref().clone(),
            inputs,
            rules,
            otherwise: self.config.otherwise,
            total: counter(&self.config.total)?,
            good: counter(&self.config.good)?,
            reject: counter(&self.config.reject)?,
            ideal_cycle: self.config.ideal_cycle.map(|c| c.get()),
            calendar,
            max_gap: self.config.max_gap.get(),
            outputs,
        })))
    }
}
