//! `[[alarm]]` on the engine seam.

use std::sync::Arc;
use std::time::Duration;

use drivers::ConfigErrors;
use drivers::sections::{Problem, items};
use protocols::TagId;
use toml::Spanned;
use toml::de::DeValue;

use super::{AlarmConfig, AlarmEngine};
use crate::engine::{DerivedTag, Engine, EngineConfig, EngineInput, EngineKind, TagRef};

/// Alarms are ticked this often, which bounds how late an on/off delay can take effect.
pub const ALARM_TICK: Duration = Duration::from_millis(250);

pub struct AlarmKind;

impl EngineKind for AlarmKind {
    fn section(&self) -> &'static str {
        "alarm"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>> {
        items::<AlarmConfig>("alarm", value, errors)
            .into_iter()
            .map(|a| Arc::new(a) as Arc<dyn EngineConfig>)
            .collect()
    }
}

impl EngineConfig for AlarmConfig {
    fn kind(&self) -> &'static str {
        "alarm"
    }

    fn name(&self) -> String {
        format!("alarm {}", self.tag.get_ref())
    }

    fn reads(&self) -> Vec<TagRef<'_>> {
        vec![TagRef { tag: &self.tag, role: "alarm on".into() }]
    }

    fn derives(&self) -> Vec<DerivedTag> {
        vec![DerivedTag { name: self.state_tag(), at: self.tag.span() }]
    }

    fn problems(&self) -> Vec<Problem> {
        self.check().err().map(|m| (self.tag.span(), m)).into_iter().collect()
    }

    fn input(&self) -> EngineInput {
        // A limit alarm shows the present: under overload it may skip a sample, and says how many.
        EngineInput::Lossy
    }

    fn tick(&self) -> Duration {
        ALARM_TICK
    }

    fn summary(&self) -> String {
        let limits: Vec<String> =
            [("LL", self.low_low), ("L", self.low), ("H", self.high), ("HH", self.high_high)]
                .iter()
                .filter_map(|(n, v)| v.map(|v| format!("{n} {v}")))
                .collect();
        format!("alarm on {} ({})", self.tag.get_ref(), limits.join(", "))
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        let watched = tag_id(self.tag.get_ref())
            .ok_or_else(|| format!("tag {} is not registered", self.tag.get_ref()))?;
        let state =
            tag_id(&self.state_tag()).ok_or_else(|| format!("tag {} is not registered", self.state_tag()))?;
        Ok(Box::new(AlarmEngine::new(self, watched, state)))
    }
}
