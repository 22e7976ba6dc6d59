//! The energy engine on a fake clock: a plant of meters fed readings at the site's local times, read
//! back through the samples it derives, as an energy manager would read them.

mod config;
mod counter;
mod demand;
mod hierarchy;
mod restart;
mod tariff;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use protocols::{Quality, Reason, Sample, TagRegistry, Timestamp, Value};

use crate::config::{Config, parse};
use crate::engine::{Emitter, Engine};

/// A site whose devices declare `tags` and whose `[energy]` section is `energy`.
pub struct Site {
    pub engine: Box<dyn Engine>,
    pub registry: TagRegistry,
    pub out: Emitter,
    tz: TimeZone,
}

pub fn config(tags: &[&str], energy: &str) -> Result<Config, String> {
    let list: Vec<String> =
        tags.iter().map(|t| format!("{{ name = \"{t}\", shape = \"constant\" }}")).collect();
    let text = format!("[[sim.device]]\nname = \"plant\"\ntags = [{}]\n\n{energy}", list.join(", "));
    parse(&text, "t.toml", &|_| None).map_err(|e| e.to_string())
}

impl Site {
    pub fn new(tags: &[&str], energy: &str) -> Site {
        let cfg = config(tags, energy).unwrap_or_else(|e| panic!("{e}"));
        let registry = cfg.tags.registry.clone();
        let engine = cfg.engines[0].build(&|t| registry.id(t)).unwrap();
        let zone = energy.lines().find_map(|l| l.strip_prefix("timezone = ")).unwrap().trim_matches('"');
        Site { engine, registry, out: Emitter::default(), tz: TimeZone::get(zone).unwrap() }
    }

    /// `"2025-01-06 10:00:00"` on the site's clock; the earlier instant where the clock repeats.
    pub fn at(&self, local: &str) -> Timestamp {
        let dt: DateTime = local.replace(' ', "T").parse().unwrap();
        Timestamp(dt.to_zoned_datetime(self.tz.clone()).unwrap().timestamp().as_nanosecond() as i64)
    }

    pub fn label(&self, ts: Timestamp) -> String {
        let z =
            jiff::Timestamp::from_nanosecond(i128::from(ts.0)).unwrap().to_zoned_datetime(self.tz.clone());
        z.strftime("%Y-%m-%d %H:%M:%S").to_string()
    }

    pub fn read(&mut self, tag: &str, local: &str, value: f64) -> &mut Self {
        let ts = self.at(local);
        self.read_at(tag, ts, value)
    }

    pub fn read_at(&mut self, tag: &str, ts: Timestamp, value: f64) -> &mut Self {
        let id = self.registry.id(tag).unwrap();
        self.engine.on_sample(&Sample::good(id, ts, Value::Float(value)), &mut self.out);
        self
    }

    pub fn fail(&mut self, tag: &str, local: &str) -> &mut Self {
        let (id, ts) = (self.registry.id(tag).unwrap(), self.at(local));
        self.engine.on_sample(&Sample::bad(id, ts, Reason::Timeout), &mut self.out);
        self
    }

    pub fn tick(&mut self, local: &str) -> &mut Self {
        let ts = self.at(local);
        self.engine.on_tick(ts, &mut self.out);
        self
    }

    /// Every value derived on `tag` so far, as (local time, value, quality).
    pub fn series(&self, tag: &str) -> Vec<(String, f64, Quality)> {
        let id = self.registry.id(tag).unwrap_or_else(|| panic!("no tag {tag}"));
        let value = |v: Value| v.as_f64().unwrap();
        self.out
            .samples
            .iter()
            .filter(|s| s.tag == id)
            .map(|s| (self.label(s.ts), value(s.value), s.quality))
            .collect()
    }

    /// The values alone, rounded to 1e-6 (the engine keeps millionths).
    pub fn values(&self, tag: &str) -> Vec<f64> {
        self.series(tag).into_iter().map(|(_, v, _)| (v * 1e6).round() / 1e6).collect()
    }

    /// The value derived on `tag` at `local`.
    pub fn value_at(&self, tag: &str, local: &str) -> (f64, Quality) {
        let series = self.series(tag);
        let found = series.iter().find(|(t, _, _)| t == local);
        let (_, v, q) = found.unwrap_or_else(|| panic!("no {tag} at {local}; have {series:?}"));
        ((v * 1e6).round() / 1e6, *q)
    }

    pub fn events(&self) -> Vec<String> {
        self.out.events.iter().map(|e| e.message.clone()).collect()
    }
}
