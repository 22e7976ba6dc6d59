//! `[[cems]]` on the engine seam.

use std::sync::Arc;
use std::time::Duration;

use drivers::ConfigErrors;
use drivers::sections::Problem;
use protocols::TagId;
use toml::Spanned;
use toml::de::DeValue;

use super::convert::M_NO2;
use super::engine::{CemsEngine, Series, Stack};
use super::plan::{Outputs, all_tags, record_tags};
use super::{StackConfig, Unit};
use crate::engine::{DerivedTag, Engine, EngineConfig, EngineInput, EngineKind, TagRef};

pub struct CemsKind;

impl EngineKind for CemsKind {
    fn section(&self) -> &'static str {
        "cems"
    }

    fn parse(&self, value: Spanned<DeValue<'_>>, errors: &mut ConfigErrors) -> Vec<Arc<dyn EngineConfig>> {
        crate::engine::configs::<StackConfig, _>("cems", value, errors, std::convert::identity)
    }
}

impl EngineConfig for StackConfig {
    fn kind(&self) -> &'static str {
        "cems"
    }

    fn name(&self) -> String {
        format!("cems {}", self.stack.get_ref())
    }

    fn reads(&self) -> Vec<TagRef<'_>> {
        let who = self.stack.get_ref();
        let mut out = Vec::new();
        for (t, what) in [
            (&self.o2, "oxygen"),
            (&self.moisture, "moisture"),
            (&self.temperature, "temperature"),
            (&self.pressure, "pressure"),
            (&self.velocity, "velocity"),
            (&self.status, "instrument status"),
        ] {
            if let Some(tag) = t {
                out.push(TagRef { tag, role: format!("cems {who} reads its {what} from") });
            }
        }
        for p in &self.pollutants {
            let role = format!("cems {who} reads {} from", p.name.get_ref());
            out.push(TagRef { tag: &p.tag, role: role.clone() });
            if let Some(t) = &p.no2 {
                out.push(TagRef { tag: t, role });
            }
        }
        out
    }

    fn derives(&self) -> Vec<DerivedTag> {
        all_tags(self).into_iter().map(|name| DerivedTag { name, at: self.stack.span() }).collect()
    }

    fn problems(&self) -> Vec<Problem> {
        let who = format!("cems {}", self.stack.get_ref());
        let mut p = Vec::new();
        if self.pollutants.is_empty() {
            p.push((self.stack.span(), format!("{who}: `pollutants` is empty; list at least one")));
        }
        if let Some(r) = &self.o2_reference {
            if !(0.0..21.0).contains(r.get_ref()) {
                p.push((r.span(), format!("{who}: `o2_reference` is a percentage below 21, e.g. 6.0")));
            }
            if self.o2.is_none() {
                p.push((r.span(), format!("{who}: `o2_reference` needs `o2`, the oxygen tag")));
            }
        }
        if self.velocity.is_some() != self.area.is_some() {
            p.push((self.stack.span(), format!("{who}: the flow needs both `velocity` and `area`")));
        }
        if self.has_flow() && self.temperature.is_none() {
            p.push((
                self.stack.span(),
                format!("{who}: the flow needs `temperature` for standard conditions"),
            ));
        }
        if let Some(a) = &self.area
            && *a.get_ref() <= 0.0
        {
            p.push((a.span(), format!("{who}: `area` is the duct's cross-section in m², above 0")));
        }
        if self.realtime.get_ref().get() < Duration::from_secs(1) {
            p.push((self.realtime.span(), format!("{who}: `realtime` is at least 1s, e.g. \"30s\"")));
        }
        if *self.hour_min_minutes.get_ref() > 60 {
            p.push((self.hour_min_minutes.span(), format!("{who}: `hour_min_minutes` is at most 60")));
        }
        if *self.day_min_hours.get_ref() > 24 {
            p.push((self.day_min_hours.span(), format!("{who}: `day_min_hours` is at most 24")));
        }
        if !(-12..=14).contains(self.utc_offset.get_ref()) {
            p.push((
                self.utc_offset.span(),
                format!("{who}: `utc_offset` is hours east of UTC, 8 for China"),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for q in &self.pollutants {
            let name = q.name.get_ref();
            if !names.insert(name.as_str()) || name.is_empty() || name.contains(['.', ' ']) {
                p.push((
                    q.name.span(),
                    format!("{who}: pollutant name {name:?} must be unique, non-empty, without dots"),
                ));
            }
            let code = q.code.get_ref();
            if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
                p.push((
                    q.code.span(),
                    format!("{who}: `code` is an HJ 212 pollutant code such as \"a21026\""),
                ));
            }
            if q.unit == Unit::Ppm && q.molar_mass.is_none() && q.no2.is_none() {
                p.push((
                    q.tag.span(),
                    format!("{who}: {name} in ppm needs `molar_mass` (g/mol, 64.06 for SO2)"),
                ));
            }
            if q.actual && (q.unit == Unit::Ppm || self.temperature.is_none()) {
                p.push((
                    q.tag.span(),
                    format!("{who}: `actual` is for mg/m3 readings and needs `temperature`"),
                ));
            }
            if q.wet && self.moisture.is_none() {
                p.push((q.tag.span(), format!("{who}: {name} is `wet`; the stack needs `moisture`")));
            }
        }
        p
    }

    fn input(&self) -> EngineInput {
        // An hourly average or a mass that skipped readings would be wrong: every reading, in order.
        EngineInput::Lossless
    }

    fn tick(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn summary(&self) -> String {
        let names: Vec<&str> = self.pollutants.iter().map(|p| p.name.get_ref().as_str()).collect();
        let o2 = self.o2_reference.as_ref().map_or(String::new(), |r| format!(" at O2 {}%", r.get_ref()));
        let flow = if self.has_flow() { ", flow and mass" } else { "" };
        format!(
            "cems {}: {}{o2}{flow}, real-time every {}",
            self.stack.get_ref(),
            names.join("/"),
            self.realtime.get_ref()
        )
    }

    fn build(&self, tag_id: &dyn Fn(&str) -> Option<TagId>) -> Result<Box<dyn Engine>, String> {
        let id = |t: &Spanned<String>| {
            tag_id(t.get_ref()).ok_or_else(|| format!("tag {} is not registered", t.get_ref()))
        };
        let opt = |t: &Option<Spanned<String>>| t.as_ref().map(id).transpose();
        let stack = self.stack.get_ref();
        let series = self
            .pollutants
            .iter()
            .map(|p| {
                Ok(Series {
                    code: p.code.get_ref().clone(),
                    name: p.name.get_ref().clone(),
                    tag: id(&p.tag)?,
                    no2: opt(&p.no2)?,
                    unit: p.unit,
                    molar_mass: p.molar_mass.as_ref().map_or(M_NO2, |m| *m.get_ref()),
                    actual: p.actual,
                    wet: p.wet,
                    correct: self.corrects(p),
                    limit: p.limit.as_ref().map(|l| *l.get_ref()),
                    range: p.range,
                    out: Outputs::new(&format!("{stack}.{}", p.name.get_ref()), tag_id, "mg"),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let records = record_tags(self);
        Ok(Box::new(CemsEngine::new(Stack {
            name: stack.clone(),
            o2: opt(&self.o2)?,
            o2_ref: self.o2_reference.as_ref().map(|r| *r.get_ref()),
            o2_wet: self.o2_wet,
            moisture: opt(&self.moisture)?,
            temperature: opt(&self.temperature)?,
            pressure: opt(&self.pressure)?,
            atmosphere: self.atmosphere,
            velocity: opt(&self.velocity)?,
            area: self.area.as_ref().map(|a| *a.get_ref()),
            status: opt(&self.status)?,
            realtime_ns: self.realtime.get_ref().get().as_nanos().min(i64::MAX as u128) as i64,
            hour_min: *self.hour_min_minutes.get_ref(),
            day_min: *self.day_min_hours.get_ref(),
            offset_ns: i64::from(*self.utc_offset.get_ref()) * 3_600_000_000_000,
            series,
            flow: self.has_flow().then(|| Outputs::new(&format!("{stack}.flow"), tag_id, "")),
            records: [0, 1, 2, 3].map(|i| tag_id(&records[i])),
        })))
    }
}
