//! `[[derived]]` on the engine seam.

use std::sync::Arc;
use std::time::Duration;

use drivers::ConfigErrors;
use drivers::sections::Problem;
use protocols::TagId;
use toml::Spanned;
use toml::de::DeValue;

use super::{DerivedConfig, DerivedEngine, Ty, checked};
use crate::engine::{DerivedTag, Engine, EngineConfig, EngineInput, EngineKind, TagRef};

pub struct DerivedKind;

impl EngineKind for DerivedKind {
    fn section(&self) -> &'static str {
        "derived"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>> {
        crate::engine::configs::<DerivedConfig, _>("derived", value, errors, ParsedDerived::new)
    }
}

/// A `[[derived]]` with its expression parsed once, its tag names kept at their places in the file.
#[derive(Debug)]
pub struct ParsedDerived {
    pub config: DerivedConfig,
    parsed: Result<super::Parsed, Problem>,
    reads: Vec<Spanned<String>>,
}

impl ParsedDerived {
    pub fn new(config: DerivedConfig) -> ParsedDerived {
        let who = format!("derived {}", config.tag.get_ref());
        let parsed = checked(&config.expr, Ty::Num, &who);
        let span = config.expr.span();
        let reads = parsed
            .iter()
            .flat_map(|p| &p.tags)
            .map(|(name, at)| Spanned::new(super::file_span(&span, at), name.clone()))
            .collect();
        ParsedDerived { config, parsed, reads }
    }
}

impl EngineConfig for ParsedDerived {
    fn kind(&self) -> &'static str {
        "derived"
    }

    fn name(&self) -> String {
        format!("derived {}", self.config.tag.get_ref())
    }

    fn reads(&self) -> Vec<TagRef<'_>> {
        let role = format!("derived {} reads", self.config.tag.get_ref());
        self.reads.iter().map(|t| TagRef { tag: t, role: role.clone() }).collect()
    }

    fn derives(&self) -> Vec<DerivedTag> {
        vec![DerivedTag { name: self.config.tag.get_ref().clone(), at: self.config.tag.span() }]
    }

    fn problems(&self) -> Vec<Problem> {
        let mut problems: Vec<Problem> = self.parsed.as_ref().err().cloned().into_iter().collect();
        if self.reads.iter().any(|t| t.get_ref() == self.config.tag.get_ref()) {
            problems.push((
                self.config.expr.span(),
                format!(
                    "derived {}: the expression reads the tag it makes; use another tag",
                    self.config.tag.get_ref()
                ),
            ));
        }
        problems
    }

    fn input(&self) -> EngineInput {
        // A formula shows the present; it has nothing to total.
        EngineInput::Lossy
    }

    fn tick(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn summary(&self) -> String {
        format!("derived {} = {}", self.config.tag.get_ref(), self.config.expr.get_ref())
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        let parsed = self.parsed.clone().map_err(|(_, why)| why)?;
        let id = |t: &str| tag_id(t).ok_or_else(|| format!("tag {t} is not registered"));
        let inputs = parsed.tags.iter().map(|(t, _)| id(t)).collect::<Result<Vec<_>, _>>()?;
        let out = id(self.config.tag.get_ref())?;
        Ok(Box::new(DerivedEngine::new(self.config.tag.get_ref(), parsed, inputs, out)))
    }
}
