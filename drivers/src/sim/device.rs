//! The sans-IO core of a simulated device: config and scan times in, samples out.
//!
//! Values are a pure function of the seed, the config, the writes and the sequence of scan times, so a test
//! replays a plant exactly and a demo shows the same curve every time.

use std::time::Duration;

use protocols::{Reason, Sample, TagId, Timestamp, Value};
use serde_spanned::Spanned;

use super::config::{Shape, SimDeviceConfig, SimTagConfig};
use super::signal::Signal;
use crate::write::{WritableSpec, WriteError};

/// What one scan produced: every tag's sample, and whether the device answered at all.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanOutcome {
    /// One sample per tag, in declaration order; all `Bad(Timeout)` when the device did not answer.
    pub samples: Vec<Sample>,
    /// `false` inside a configured fault window.
    pub answered: bool,
}

#[derive(Debug, Clone)]
struct SimTag {
    name: String,
    id: TagId,
    signal: Signal,
    writable: Option<WritableSpec>,
}

#[derive(Debug, Clone)]
struct FaultWindow {
    every_ns: i64,
    lasting_ns: i64,
    start_ns: i64,
}

/// A simulated device: its tags, their state, and its fault schedule.
#[derive(Debug, Clone)]
pub struct SimDevice {
    name: String,
    scan: Duration,
    tags: Vec<SimTag>,
    /// The last value of every tag, in declaration order (fopdt inputs read it).
    values: Vec<Value>,
    fault: Option<FaultWindow>,
    first_scan: Option<Timestamp>,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn check_tag(device: &str, tag: &SimTagConfig, names: &[&str]) -> Result<Vec<usize>, String> {
    let name = tag.name.get_ref();
    let at = |msg: String| format!("sim device {device} / tag {name}: {msg}");
    if matches!(tag.shape, Shape::Sine | Shape::Ramp | Shape::Step) && tag.period.get().is_zero() {
        return Err(at("`period` is zero; give the wave a period such as \"60s\"".into()));
    }
    if let (Some(min), Some(max)) = (tag.min, tag.max) {
        if min > max {
            return Err(at(format!("`min` {min} is above `max` {max}; swap them")));
        }
    }
    if tag.shape == Shape::Counter && tag.rollover == 0 {
        return Err(at("`rollover` is 0, so the counter could never count; use e.g. 65535".into()));
    }
    if let Some(w) = &tag.writable {
        if tag.shape != Shape::Constant {
            return Err(at(
                "only `constant` tags accept writes; remove `writable` or make it constant".into()
            ));
        }
        let w = w.get_ref();
        if w.min.is_nan() || w.max.is_nan() || w.min > w.max {
            return Err(at(format!("writable `min` {} is above `max` {}; swap them", w.min, w.max)));
        }
    }
    let local = |input: &Spanned<String>, key: &str| {
        let input = input.get_ref();
        if input == name {
            return Err(at(format!("a tag cannot be its own {key}; name the valve or setpoint tag")));
        }
        names.iter().position(|n| n == input).ok_or_else(|| {
            at(format!("{key} \"{input}\" is not a tag of this device; declare it in its `tags`"))
        })
    };
    match tag.shape {
        Shape::Fopdt => {
            let Some(input) = &tag.input else {
                return Err(at(
                    "a `fopdt` tag needs `input = \"<tag of this device>\"`, the tag that drives it".into(),
                ));
            };
            Ok(vec![local(input, "input")?])
        }
        Shape::WoodBerry => {
            let (Some(reflux), Some(steam), Some(_)) = (&tag.reflux, &tag.steam, tag.composition) else {
                return Err(at(
                    "a `wood_berry` tag needs `composition = \"top\"` or `\"bottom\"`, `reflux = \"<tag>\"` and `steam = \"<tag>\"`"
                        .into(),
                ));
            };
            Ok(vec![local(reflux, "reflux")?, local(steam, "steam")?])
        }
        _ => Ok(Vec::new()),
    }
}

impl SimDevice {
    /// Checks the config and resolves every tag's id through `tag_id`.
    pub fn new(cfg: &SimDeviceConfig, tag_id: impl Fn(&str) -> Option<TagId>) -> Result<SimDevice, String> {
        let device = cfg.name.get_ref().as_str();
        let scan = cfg.scan.get();
        if scan.is_zero() {
            return Err(format!("sim device {device}: `scan` is zero; use e.g. \"1s\""));
        }
        let fault = match cfg.fault {
            None => None,
            Some(f) if f.every.get().is_zero() || f.lasting.get() >= f.every.get() => {
                return Err(format!(
                    "sim device {device}: fault `lasting` ({}) must be shorter than a non-zero `every` ({})",
                    f.lasting, f.every
                ));
            }
            Some(f) => Some(FaultWindow {
                every_ns: nanos(f.every.get()),
                lasting_ns: nanos(f.lasting.get()),
                start_ns: nanos(f.start.unwrap_or(f.every).get()),
            }),
        };
        let names: Vec<&str> = cfg.tags.iter().map(|t| t.name.get_ref().as_str()).collect();
        let mut tags = Vec::with_capacity(cfg.tags.len());
        for (i, tag) in cfg.tags.iter().enumerate() {
            let name = names[i];
            if names[..i].contains(&name) {
                return Err(format!("sim device {device} / tag {name}: declared twice; rename one"));
            }
            let inputs = check_tag(device, tag, &names)?;
            let id = tag_id(name).ok_or_else(|| {
                format!("sim device {device} / tag {name}: the tag registry has no id for it (agent bug)")
            })?;
            let writable =
                tag.writable.as_ref().map(|w| WritableSpec { min: w.get_ref().min, max: w.get_ref().max });
            let signal = Signal::new(tag, cfg.seed, scan, &inputs);
            tags.push(SimTag { name: name.to_owned(), id, signal, writable });
        }
        let values = tags.iter().map(|t| t.signal.initial()).collect();
        Ok(SimDevice { name: device.to_owned(), scan, tags, values, fault, first_scan: None })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configured scan period.
    pub fn scan_period(&self) -> Duration {
        self.scan
    }

    pub fn tag_count(&self) -> usize {
        self.tags.len()
    }

    /// The plant's value of `tag` at the last scan, whether or not the device answered it.
    pub fn last_value(&self, tag: TagId) -> Option<Value> {
        self.tags.iter().position(|t| t.id == tag).map(|i| self.values[i])
    }

    /// Whether `now` falls in a fault window: within `lasting` after `start` and after each `every` from
    /// there, counted from the first scan. By default `start` is one `every`, so the device starts healthy.
    fn faulted(&self, now: Timestamp) -> bool {
        let (Some(f), Some(first)) = (&self.fault, self.first_scan) else { return false };
        let elapsed = now.as_nanos().saturating_sub(first.as_nanos());
        elapsed >= f.start_ns && (elapsed - f.start_ns) % f.every_ns < f.lasting_ns
    }

    /// Samples every tag at `now`. The plant keeps running inside a fault window (a meter keeps counting
    /// while its link is down); only the answer is lost.
    pub fn scan(&mut self, now: Timestamp) -> ScanOutcome {
        let first = *self.first_scan.get_or_insert(now);
        let t_s = now.as_nanos().saturating_sub(first.as_nanos()) as f64 / 1e9;
        for i in 0..self.tags.len() {
            let value = self.tags[i].signal.next(t_s, now.as_nanos(), &self.values);
            self.values[i] = value;
        }
        let answered = !self.faulted(now);
        let samples = self
            .tags
            .iter()
            .zip(&self.values)
            .map(|(tag, &value)| {
                if answered {
                    Sample::good(tag.id, now, value)
                } else {
                    Sample::bad(tag.id, now, Reason::Timeout)
                }
            })
            .collect();
        ScanOutcome { samples, answered }
    }

    /// Sets a constant tag; the next scan reports the new value. Limits are checked here again even though
    /// the agent checked them, so a wiring mistake cannot drive the simulated plant out of its range.
    pub fn write(&mut self, tag: TagId, value: Value) -> Result<(), WriteError> {
        let Some(t) = self.tags.iter_mut().find(|t| t.id == tag) else {
            return Err(WriteError::NotWritable {
                tag: format!("{:?} (not on sim device {})", tag, self.name),
            });
        };
        let (Signal::Constant { value: held }, Some(spec)) = (&mut t.signal, t.writable) else {
            return Err(WriteError::NotWritable { tag: t.name.clone() });
        };
        spec.check(&t.name, value)?;
        *held = value.as_f64().ok_or_else(|| WriteError::Type { tag: t.name.clone() })?;
        Ok(())
    }
}

/// Scans faster than this are refused: a simulated device is for demos and tests, not a load generator.
pub const MIN_SCAN: Duration = Duration::from_millis(10);

impl SimDeviceConfig {
    /// Checks the device as [`SimDevice::new`] would, before any tag is registered (at config load).
    pub fn check(&self) -> Result<(), String> {
        SimDevice::new(self, |_| Some(TagId(0))).map(|_| ())
    }

    /// Every problem of this device, each with the byte span it is about (the device's or the tag's
    /// name), so config errors can say file:line:col for all of them at once.
    pub fn problems(&self) -> Vec<(std::ops::Range<usize>, String)> {
        let device = self.name.get_ref().as_str();
        let mut out = Vec::new();
        if self.scan.get() < MIN_SCAN {
            out.push((
                self.name.span(),
                format!(
                    "sim device {device}: `scan` {} is below the 10ms minimum; use e.g. \"1s\"",
                    self.scan
                ),
            ));
        }
        if let Some(f) = self.fault {
            if f.every.get().is_zero() || f.lasting.get() >= f.every.get() {
                out.push((
                    self.name.span(),
                    format!(
                        "sim device {device}: fault `lasting` ({}) must be shorter than a non-zero `every` ({})",
                        f.lasting, f.every
                    ),
                ));
            }
        }
        let names: Vec<&str> = self.tags.iter().map(|t| t.name.get_ref().as_str()).collect();
        for tag in &self.tags {
            if let Err(e) = check_tag(device, tag, &names) {
                out.push((tag.name.span(), e));
            }
        }
        out
    }
}
