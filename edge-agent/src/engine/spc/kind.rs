//! `[[spc]]` on the engine seam.

use std::sync::Arc;
use std::time::Duration;

use drivers::ConfigErrors;
use drivers::sections::Problem;
use protocols::TagId;
use toml::Spanned;
use toml::de::DeValue;

use super::chart::MAX_SUBGROUP;
use super::engine::{SpcEngine, Wiring};
use super::{Chart, SpcConfig};
use crate::engine::{DerivedTag, Engine, EngineConfig, EngineInput, EngineKind, TagRef};

pub struct SpcKind;

impl EngineKind for SpcKind {
    fn section(&self) -> &'static str {
        "spc"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>> {
        crate::engine::configs::<SpcConfig, _>("spc", value, errors, std::convert::identity)
    }
}

impl EngineConfig for SpcConfig {
    fn kind(&self) -> &'static str {
        "spc"
    }

    fn name(&self) -> String {
        format!("spc {}", self.tag.get_ref())
    }

    fn reads(&self) -> Vec<TagRef<'_>> {
        vec![TagRef { tag: &self.tag, role: "spc of".into() }]
    }

    fn derives(&self) -> Vec<DerivedTag> {
        self.outputs().into_iter().map(|name| DerivedTag { name, at: self.tag.span() }).collect()
    }

    fn problems(&self) -> Vec<Problem> {
        let who = format!("spc of {}", self.tag.get_ref());
        let mut p = Vec::new();
        let n = *self.subgroup.get_ref();
        if self.chart != Chart::Individuals && !(2..=MAX_SUBGROUP).contains(&n) {
            p.push((self.subgroup.span(), format!("{who}: `subgroup` {n} must be 2 to {MAX_SUBGROUP}; for single values use chart = \"individuals\"")));
        }
        if *self.baseline.get_ref() < 2 {
            p.push((
                self.baseline.span(),
                format!("{who}: `baseline` needs at least 2 points; 20 to 25 is usual"),
            ));
        }
        if let (Some(l), Some(u)) = (self.lsl, self.usl)
            && l.partial_cmp(&u) != Some(std::cmp::Ordering::Less)
        {
            p.push((self.tag.span(), format!("{who}: `lsl` ({l}) must be below `usl` ({u})")));
        }
        if let Some(s) = &self.shifts
            && let Err(e) = s.calendar(&who)
        {
            p.push(e);
        }
        p
    }

    fn input(&self) -> EngineInput {
        // A subgroup with a sample skipped is another subgroup.
        EngineInput::Lossless
    }

    fn tick(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn summary(&self) -> String {
        format!(
            "spc of {}: {:?} chart, subgroups of {}, limits from {} points",
            self.tag.get_ref(),
            self.chart,
            self.subgroup_size(),
            self.baseline.get_ref()
        )
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        let id = |t: &str| tag_id(t).ok_or_else(|| format!("tag {t} is not registered"));
        let calendar = self.shifts.as_ref().map(|s| s.calendar("spc")).transpose().map_err(|(_, why)| why)?;
        Ok(Box::new(SpcEngine::new(Wiring {
            tag_name: self.tag.get_ref().clone(),
            tag: id(self.tag.get_ref())?,
            chart: self.chart,
            n: self.subgroup_size(),
            baseline: *self.baseline.get_ref(),
            lsl: self.lsl,
            usl: self.usl,
            calendar,
            outputs: self.outputs().iter().map(|o| id(o)).collect::<Result<_, _>>()?,
        })))
    }
}
