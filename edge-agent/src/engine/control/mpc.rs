//! `[[control.mpc]]`: model predictive control with a steady-state target layer.
//!
//! ```toml
//! [[control.mpc]]
//! name = "column"
//! period = "1m"
//! cv = [{ tag = "col.xd", setpoint = 96.0, min = 94.0, max = 98.0 }, { tag = "col.xb", setpoint = 0.5 }]
//! mv = [{ tag = "col.reflux", min = 1.0, max = 3.0, rate = 0.05 }, { tag = "col.steam", min = 1.0, max = 3.0, rate = 0.05 }]
//! model = { fopdt = [
//!   [{ gain = 12.8, time_constant = "16.7m", dead_time = "1m" }, { gain = -18.9, time_constant = "21m", dead_time = "3m" }],
//!   [{ gain = 6.6, time_constant = "10.9m", dead_time = "7m" }, { gain = -19.4, time_constant = "14.4m", dead_time = "3m" }],
//! ] }
//! ```

mod config;
pub mod controller;
mod engine;
pub mod model;
pub mod qp;
mod steps;
pub mod target;
#[cfg(test)]
mod tests;

pub use config::{ChannelConfig, CvConfig, ModelConfig, MpcConfig, MvConfig};
pub use engine::{MpcLoop, MpcTags};

use drivers::sections::Problem;
use protocols::TagId;

use super::common::{loop_seam, safety_problems};
use super::loopcore::{Derived, derived_names};
use crate::engine::{DerivedTag, Engine, EngineConfig, TagRef};

impl MpcConfig {
    pub fn build_loop(
        &self,
        tag_id: &dyn Fn(&str) -> Option<TagId>,
        writable: &dyn Fn(&str) -> Option<drivers::WritableSpec>,
    ) -> Result<MpcLoop, String> {
        let id = |t: &str| tag_id(t).ok_or_else(|| format!("tag {t} is not registered"));
        let tags = MpcTags {
            cvs: self.cv.iter().map(|c| id(c.tag.get_ref())).collect::<Result<_, _>>()?,
            mvs: self
                .mv
                .iter()
                .map(|m| Ok((id(m.tag.get_ref())?, writable(m.tag.get_ref()))))
                .collect::<Result<_, String>>()?,
            derived: Derived::resolve(self.name.get_ref(), false, tag_id)?,
        };
        MpcLoop::new(self, tags)
    }
}

impl EngineConfig for MpcConfig {
    loop_seam!("control.mpc");

    fn reads(&self) -> Vec<TagRef<'_>> {
        let what = self.what();
        let cvs = self.cv.iter().map(|c| TagRef { tag: &c.tag, role: format!("{what}: CV") });
        let mvs = self.mv.iter().map(|m| TagRef { tag: &m.tag, role: format!("{what}: MV (read back)") });
        cvs.chain(mvs).collect()
    }

    fn derives(&self) -> Vec<DerivedTag> {
        derived_names(self.name.get_ref(), false)
            .into_iter()
            .map(|name| DerivedTag { name, at: self.name.span() })
            .collect()
    }

    fn writes(&self) -> Vec<TagRef<'_>> {
        self.mv.iter().map(|m| TagRef { tag: &m.tag, role: format!("{}: MV", self.what()) }).collect()
    }

    fn problems(&self) -> Vec<Problem> {
        let what = self.what();
        let at = self.name.span();
        let safe = self.mv.iter().find_map(|m| m.safe_output);
        let mut out = safety_problems(&what, &self.period, &self.fail_safe, safe, at.clone());
        if let Some(why) = crate::config::name_problem("loop name", self.name.get_ref()) {
            out.push((at.clone(), why));
        }
        if self.cv.is_empty() || self.mv.is_empty() {
            out.push((at.clone(), format!("{what}: give at least one `cv` and one `mv`")));
        }
        match self.state_space() {
            Err(why) => out.push((self.model.span(), format!("{what}: model: {why}"))),
            Ok(m) if m.gains().is_none() => out.push((
                self.model.span(),
                format!("{what}: model: it does not settle; the target layer needs a stable model"),
            )),
            Ok(_) => {}
        }
        let (p, m) = (*self.prediction_horizon.get_ref(), *self.control_horizon.get_ref());
        if !(1..=500).contains(&p) {
            out.push((
                self.prediction_horizon.span(),
                format!("{what}: prediction_horizon {p} must be from 1 to 500 periods"),
            ));
        }
        if m == 0 || m > p {
            out.push((
                self.control_horizon.span(),
                format!("{what}: control_horizon {m} must be from 1 to the prediction horizon ({p})"),
            ));
        }
        for c in &self.cv {
            if let (Some(lo), Some(hi)) = (c.min, c.max)
                && lo > hi
            {
                out.push((
                    c.tag.span(),
                    format!("{what}: CV {}: min {lo} is above max {hi}", c.tag.get_ref()),
                ));
            }
        }
        for mv in &self.mv {
            if let (Some(lo), Some(hi)) = (mv.min, mv.max)
                && lo > hi
            {
                out.push((
                    mv.tag.span(),
                    format!("{what}: MV {}: min {lo} is above max {hi}", mv.tag.get_ref()),
                ));
            }
            if mv.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
                out.push((
                    mv.tag.span(),
                    format!(
                        "{what}: MV {}: rate must be above 0 (largest move per period)",
                        mv.tag.get_ref()
                    ),
                ));
            }
        }
        out
    }

    fn summary(&self) -> String {
        let tags = |v: Vec<&str>| v.join(", ");
        format!(
            "MPC {}: CVs {} ← MVs {} every {}, horizons {}/{}",
            self.name.get_ref(),
            tags(self.cv.iter().map(|c| c.tag.get_ref().as_str()).collect()),
            tags(self.mv.iter().map(|m| m.tag.get_ref().as_str()).collect()),
            self.period.get_ref(),
            self.prediction_horizon.get_ref(),
            self.control_horizon.get_ref()
        )
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        Ok(Box::new(self.build_loop(tag_id, &|_| None)?))
    }

    fn build_in(&self, tags: &crate::config::TagTable) -> Result<Box<dyn Engine>, String> {
        let writable = |t: &str| tags.registry.id(t).and_then(|id| tags.info[id.0 as usize].writable);
        Ok(Box::new(self.build_loop(&|t| tags.registry.id(t), &writable)?))
    }
}
