//! `[[alarm]]` on the engine seam.

use std::sync::Arc;
use std::time::Duration;

use drivers::ConfigErrors;
use drivers::sections::Problem;
use protocols::TagId;
use toml::Spanned;
use toml::de::DeValue;

use super::point::PointTags;
use super::{AlarmConfig, AlarmPoint};
use crate::engine::{DerivedTag, Engine, EngineConfig, EngineInput, EngineKind, TagRef};

/// Alarms are ticked this often, which bounds how late an on/off delay can take effect.
pub const ALARM_TICK: Duration = Duration::from_millis(250);

pub struct AlarmKind;

impl EngineKind for AlarmKind {
    fn section(&self) -> &'static str {
        "alarm"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>> {
        crate::engine::configs::<AlarmConfig, _>("alarm", value, errors, std::convert::identity)
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
        let mut reads = vec![TagRef { tag: &self.tag, role: "alarm on".into() }];
        if let Some(d) = &self.deviation {
            reads.push(TagRef {
                tag: &d.setpoint,
                role: format!("alarm on {}: its setpoint is", self.tag.get_ref()),
            });
        }
        reads
    }

    fn derives(&self) -> Vec<DerivedTag> {
        [self.state_tag(), self.lifecycle_tag(), self.event_tag()]
            .into_iter()
            .map(|name| DerivedTag { name, at: self.tag.span() })
            .collect()
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
        let others: Vec<String> = self
            .conditions()
            .into_iter()
            .filter(|c| !c.starts_with("HIGH") && !c.starts_with("LOW"))
            .collect();
        let all: Vec<String> = limits.into_iter().chain(others).collect();
        format!("alarm on {} ({}), priority {}", self.tag.get_ref(), all.join(", "), self.priority.label())
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        let id = |t: &str| tag_id(t).ok_or_else(|| format!("tag {t} is not registered"));
        let tags = PointTags {
            watched: id(self.tag.get_ref())?,
            setpoint: self.deviation.as_ref().map(|d| id(d.setpoint.get_ref())).transpose()?,
            limit_state: id(&self.state_tag())?,
            lifecycle: id(&self.lifecycle_tag())?,
            event: id(&self.event_tag())?,
        };
        Ok(Box::new(AlarmPoint::new(self, tags)))
    }
}
