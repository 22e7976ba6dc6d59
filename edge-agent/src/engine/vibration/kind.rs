//! `[[vibration]]` on the engine seam.

use std::sync::Arc;
use std::time::Duration;

use drivers::ConfigErrors;
use drivers::sections::Problem;
use protocols::TagId;
use toml::Spanned;
use toml::de::DeValue;

use super::engine::{VibrationEngine, Wiring};
use super::features::Analyser;
use super::{VibrationConfig, zone};
use crate::engine::{DerivedTag, Engine, EngineConfig, EngineInput, EngineKind, TagRef};

pub struct VibrationKind;

impl EngineKind for VibrationKind {
    fn section(&self) -> &'static str {
        "vibration"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>> {
        crate::engine::configs::<VibrationConfig, _>("vibration", value, errors, std::convert::identity)
    }
}

impl VibrationConfig {
    fn boundaries(&self) -> Option<[f64; 3]> {
        self.zones.or_else(|| zone::boundaries(*self.group.get_ref(), self.foundation))
    }
}

impl EngineConfig for VibrationConfig {
    fn kind(&self) -> &'static str {
        "vibration"
    }

    fn name(&self) -> String {
        format!("vibration {}", self.name.get_ref())
    }

    fn reads(&self) -> Vec<TagRef<'_>> {
        let role = format!("vibration {} reads", self.name.get_ref());
        [&self.waveform, &self.rms]
            .into_iter()
            .flatten()
            .map(|t| TagRef { tag: t, role: role.clone() })
            .collect()
    }

    fn derives(&self) -> Vec<DerivedTag> {
        self.outputs().into_iter().map(|name| DerivedTag { name, at: self.name.span() }).collect()
    }

    fn problems(&self) -> Vec<Problem> {
        let who = format!("vibration {}", self.name.get_ref());
        let at = self.name.span();
        let mut p = Vec::new();
        if self.waveform.is_some() == self.rms.is_some() {
            p.push((at.clone(), format!("{who}: give `waveform` (a tag of waveform blocks) or `rms` (a velocity RMS tag), one of them")));
        }
        if self.waveform.is_some() {
            if !(self.sample_rate.is_finite() && self.sample_rate > 0.0) {
                p.push((
                    at.clone(),
                    format!("{who}: `sample_rate` (Hz) is needed with `waveform`, e.g. 2560.0"),
                ));
            }
            if !(64..=65_536).contains(&self.block) {
                p.push((at.clone(), format!("{who}: `block` {} must be 64 to 65536 samples", self.block)));
            }
        }
        if zone::boundaries(*self.group.get_ref(), self.foundation).is_none() {
            p.push((
                self.group.span(),
                format!("{who}: `group` is 1 (300 kW to 50 MW) or 2 (15 to 300 kW), as ISO 10816-3 §4"),
            ));
        }
        if let Some(z) = self.zones
            && !(z[0] > 0.0 && z[0] < z[1] && z[1] < z[2])
        {
            p.push((at.clone(), format!("{who}: `zones` must rise: [A/B, B/C, C/D] in mm/s")));
        }
        let nyquist = self.sample_rate / 2.0;
        for b in &self.bands {
            if !(b.low >= 0.0 && b.low < b.high && b.high <= nyquist) {
                p.push((
                    at.clone(),
                    format!(
                        "{who}: band {} must have 0 <= low < high <= {nyquist} Hz (half the sample rate)",
                        b.name
                    ),
                ));
            }
        }
        p
    }

    fn input(&self) -> EngineInput {
        // A block with a sample missing gives wrong features.
        EngineInput::Lossless
    }

    fn tick(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn summary(&self) -> String {
        let source = match (&self.waveform, &self.rms) {
            (Some(w), _) => {
                format!("blocks of {} from {} at {} Hz", self.block, w.get_ref(), self.sample_rate)
            }
            (_, Some(r)) => format!("velocity RMS {}", r.get_ref()),
            _ => String::new(),
        };
        format!("vibration {}: {source}, ISO 10816-3 group {}", self.name.get_ref(), self.group.get_ref())
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        let id = |t: &str| tag_id(t).ok_or_else(|| format!("tag {t} is not registered"));
        let waveform = match &self.waveform {
            Some(w) => Some((
                id(w.get_ref())?,
                Analyser::new(self.block, self.sample_rate, self.unit),
                self.block,
                self.sample_rate,
            )),
            None => None,
        };
        Ok(Box::new(VibrationEngine::new(Wiring {
            name: self.name.get_ref().clone(),
            waveform,
            rms: self.rms.as_ref().map(|r| id(r.get_ref())).transpose()?,
            bands: self.bands.clone(),
            boundaries: self.boundaries().ok_or("no zone boundaries")?,
            trend: self.trend.get(),
            warn_within: self.warn_within.get(),
            outputs: self.outputs().iter().map(|o| id(o)).collect::<Result<_, _>>()?,
        })))
    }
}
