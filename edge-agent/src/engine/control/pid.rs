//! `[[control.pid]]`: a PID loop on the engine seam.
//!
//! ```toml
//! [[control.pid]]
//! name = "kiln-temp"
//! pv = "kiln.temp"
//! output = "kiln.fuel_valve"
//! setpoint = 850.0
//! period = "1s"
//! tuning = { gain = 0.25, integral = "2m" }
//! fail_safe = "hold"
//! ```

mod algo;
mod config;
mod engine;
#[cfg(test)]
mod tests;

pub use algo::{Action, AntiWindup, Gains, OutputLimits, Pid, Saturation};
pub use config::{FeedforwardConfig, Form, OuterConfig, PidConfig, TuningConfig};
pub use engine::{PidLoop, PidTags};

use drivers::sections::Problem;
use protocols::TagId;

use super::common::{loop_seam, safety_problems};
use super::loopcore::{Derived, derived_names};
use crate::engine::{DerivedTag, Engine, EngineConfig, TagRef};

impl PidConfig {
    /// The output's limits: the tag's writable limits, narrowed by `output_limits`.
    pub fn output_limits(&self, writable: Option<drivers::WritableSpec>) -> OutputLimits {
        let (mut min, mut max) = writable.map_or((f64::NEG_INFINITY, f64::INFINITY), |w| (w.min, w.max));
        if let Some(r) = &self.output_limits {
            min = min.max(r.get_ref().min);
            max = max.min(r.get_ref().max);
        }
        OutputLimits { min, max: max.max(min), rate: self.output_rate.as_ref().map(|r| *r.get_ref()) }
    }

    /// Builds the loop with `tag_id` and the output's writable limits.
    pub fn build_loop(
        &self,
        tag_id: &dyn Fn(&str) -> Option<TagId>,
        writable: Option<drivers::WritableSpec>,
    ) -> Result<PidLoop, String> {
        let id = |t: &str| tag_id(t).ok_or_else(|| format!("tag {t} is not registered"));
        let tags = PidTags {
            pv: id(self.pv.get_ref())?,
            output: id(self.output.get_ref())?,
            feedforward: self.feedforward.as_ref().map(|f| id(f.tag.get_ref())).transpose()?,
            outer_pv: self.outer.as_ref().map(|o| id(o.pv.get_ref())).transpose()?,
            derived: Derived::resolve(self.name.get_ref(), true, tag_id)?,
        };
        PidLoop::new(self, tags, self.output_limits(writable))
    }
}

impl EngineConfig for PidConfig {
    loop_seam!("control.pid");

    fn reads(&self) -> Vec<TagRef<'_>> {
        let what = self.what();
        let mut out = vec![
            TagRef { tag: &self.pv, role: format!("{what}: PV") },
            TagRef { tag: &self.output, role: format!("{what}: output (read back)") },
        ];
        if let Some(f) = &self.feedforward {
            out.push(TagRef { tag: &f.tag, role: format!("{what}: feedforward") });
        }
        if let Some(o) = &self.outer {
            out.push(TagRef { tag: &o.pv, role: format!("{what}: outer PV") });
        }
        out
    }

    fn derives(&self) -> Vec<DerivedTag> {
        derived_names(self.name.get_ref(), true)
            .into_iter()
            .map(|name| DerivedTag { name, at: self.name.span() })
            .collect()
    }

    fn writes(&self) -> Vec<TagRef<'_>> {
        vec![TagRef { tag: &self.output, role: format!("{}: output", self.what()) }]
    }

    fn problems(&self) -> Vec<Problem> {
        let what = self.what();
        let at = self.name.span();
        let mut out = safety_problems(&what, &self.period, &self.fail_safe, self.safe_output, at.clone());
        if let Some(why) = crate::config::name_problem("loop name", self.name.get_ref()) {
            out.push((at.clone(), why));
        }
        if let Err(why) = self.tuning.get_ref().gains() {
            out.push((self.tuning.span(), format!("{what}: {why}")));
        }
        if self.pv.get_ref() == self.output.get_ref() {
            out.push((self.output.span(), format!("{what}: the output is the PV; name the actuator's tag")));
        }
        for (r, key) in [(&self.setpoint_limits, "setpoint_limits"), (&self.output_limits, "output_limits")] {
            if let Some(why) = r.as_ref().and_then(|r| r.get_ref().problem(key)) {
                out.push((r.as_ref().map_or(at.clone(), |r| r.span()), format!("{what}: {why}")));
            }
        }
        if let (Some(sp), Some(r)) = (self.setpoint, &self.setpoint_limits)
            && !(r.get_ref().min..=r.get_ref().max).contains(&sp)
        {
            out.push((
                r.span(),
                format!("{what}: setpoint {sp} is outside setpoint_limits; widen them or move the SP"),
            ));
        }
        if let Some(r) = &self.output_rate
            && !(*r.get_ref() > 0.0 && r.get_ref().is_finite())
        {
            out.push((
                r.span(),
                format!("{what}: output_rate {} must be above 0 (units per second)", r.get_ref()),
            ));
        }
        if let Some(o) = &self.outer {
            if let Err(why) = o.tuning.get_ref().gains() {
                out.push((o.tuning.span(), format!("{what}: outer: {why}")));
            }
            if *o.every.get_ref() == 0 {
                out.push((o.every.span(), format!("{what}: outer `every` must be 1 or more")));
            }
            if self.setpoint_limits.is_none() {
                out.push((at.clone(), format!("{what}: a cascade needs `setpoint_limits` on the inner loop: the master's output range")));
            }
        } else if self.mode == super::common::StartMode::Cascade {
            out.push((at, format!("{what}: mode = \"cascade\" needs an `[control.pid.outer]` loop")));
        }
        out
    }

    fn summary(&self) -> String {
        let cascade =
            self.outer.as_ref().map(|o| format!(", cascade from {}", o.pv.get_ref())).unwrap_or_default();
        format!(
            "PID {}: {} → {} every {}{cascade}, fail-safe {:?}",
            self.name.get_ref(),
            self.pv.get_ref(),
            self.output.get_ref(),
            self.period.get_ref(),
            self.fail_safe.get_ref()
        )
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        Ok(Box::new(self.build_loop(tag_id, None)?))
    }

    fn build_in(&self, tags: &crate::config::TagTable) -> Result<Box<dyn Engine>, String> {
        let writable =
            tags.registry.id(self.output.get_ref()).and_then(|id| tags.info[id.0 as usize].writable);
        Ok(Box::new(self.build_loop(&|t| tags.registry.id(t), writable)?))
    }
}
