//! `[[statistics]]` on the engine seam.

use std::sync::Arc;
use std::time::Duration;

use drivers::ConfigErrors;
use drivers::sections::Problem;
use protocols::TagId;
use toml::Spanned;
use toml::de::DeValue;

use super::{StatisticsConfig, WindowEngine};
use crate::engine::{DerivedTag, Engine, EngineConfig, EngineInput, EngineKind, TagRef};

pub struct StatisticsKind;

impl EngineKind for StatisticsKind {
    fn section(&self) -> &'static str {
        "statistics"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>> {
        crate::engine::configs::<StatisticsConfig, _>("statistics", value, errors, std::convert::identity)
    }
}

impl EngineConfig for StatisticsConfig {
    fn kind(&self) -> &'static str {
        "statistics"
    }

    fn name(&self) -> String {
        format!("statistics {}", self.prefix())
    }

    fn reads(&self) -> Vec<TagRef<'_>> {
        vec![TagRef { tag: &self.tag, role: "statistics of".into() }]
    }

    fn derives(&self) -> Vec<DerivedTag> {
        let prefix = self.prefix();
        self.functions
            .iter()
            .map(|f| DerivedTag { name: format!("{prefix}.{}", f.label()), at: self.tag.span() })
            .collect()
    }

    fn problems(&self) -> Vec<Problem> {
        let who = format!("statistics of {}", self.tag.get_ref());
        let window = self.window.get_ref().get();
        let mut p = Vec::new();
        if window < Duration::from_secs(1) {
            p.push((self.window.span(), format!("{who}: `window` must be at least 1s")));
        }
        if let Some(slide) = &self.slide {
            let s = slide.get_ref().get();
            if s.is_zero() || s > window || window.as_nanos() % s.as_nanos().max(1) != 0 {
                p.push((
                    slide.span(),
                    format!(
                        "{who}: `slide` must divide `window` ({}), e.g. \"10s\" for \"1m\"",
                        self.window.get_ref()
                    ),
                ));
            } else if window.as_nanos() / s.as_nanos() > 1440 {
                p.push((slide.span(), format!("{who}: at most 1440 slides per window; make `slide` longer")));
            }
        }
        if self.functions.is_empty() {
            p.push((
                self.tag.span(),
                format!("{who}: `functions` is empty; list some of min, max, mean, stddev, count"),
            ));
        }
        p
    }

    fn input(&self) -> EngineInput {
        // A count or a mean that skipped samples would be wrong.
        EngineInput::Lossless
    }

    fn tick(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn summary(&self) -> String {
        let kind = match &self.slide {
            Some(s) => format!("sliding every {}", s.get_ref()),
            None => "tumbling".into(),
        };
        let f: Vec<&str> = self.functions.iter().map(|f| f.label()).collect();
        format!(
            "statistics of {} over {} ({kind}): {}",
            self.tag.get_ref(),
            self.window.get_ref(),
            f.join(", ")
        )
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        let id = |t: &str| tag_id(t).ok_or_else(|| format!("tag {t} is not registered"));
        let prefix = self.prefix();
        let outputs = self
            .functions
            .iter()
            .map(|f| Ok((*f, id(&format!("{prefix}.{}", f.label()))?)))
            .collect::<Result<_, String>>()?;
        Ok(Box::new(WindowEngine::new(
            id(self.tag.get_ref())?,
            self.window.get_ref().get(),
            self.step().get(),
            outputs,
        )))
    }
}
