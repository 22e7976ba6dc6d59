//! Offline closed-loop runs: one loop against the simulated devices of its config (the same sans-IO
//! plant models `[[sim.device]]` runs), on a fake clock, as fast as the CPU goes. Used by
//! `edge-agent control simulate` and by the loops' own tests.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use drivers::sim::{SimDevice, SimDeviceConfig};
use protocols::{Reason, Sample, TagId, Timestamp, Value};
use serde::Deserialize;
use serde_json::Value as Json;

use super::guard::nanos;
use crate::config::Config;
use crate::engine::{Command, Emitter, Engine, EngineConfig, Event, WriteIntent};

/// One tick of a run: each CV's SP and PV, each MV's OP, as the loop reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Seconds since the run began.
    pub t: f64,
    pub sp: Vec<f64>,
    pub pv: Vec<f64>,
    pub op: Vec<f64>,
}

/// The `[[sim.device]]` sections of a config file, read again for their plant models.
pub fn sim_devices(text: &str) -> Result<Vec<SimDeviceConfig>, String> {
    #[derive(Deserialize)]
    struct File {
        sim: Option<Section>,
    }
    #[derive(Deserialize)]
    struct Section {
        #[serde(default)]
        device: Vec<SimDeviceConfig>,
    }
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(file.sim.map(|s| s.device).unwrap_or_default())
}

struct Driven {
    engine: Box<dyn Engine>,
    period_ns: i64,
    next_tick: i64,
}

/// Loops `names` of a whole config file `text` against its `[[sim.device]]` plant.
pub fn harness_for(text: &str, names: &[&str], start: Timestamp) -> Result<Harness, String> {
    let config = crate::config::parse(text, "simulate.toml", &|_| None).map_err(|e| e.to_string())?;
    Harness::with_loops(&config, &sim_devices(text)?, names, start)
}

/// Loops and their plant on a fake clock.
pub struct Harness {
    devices: Vec<SimDevice>,
    loops: Vec<Driven>,
    step_ns: i64,
    start: Timestamp,
    pub now: Timestamp,
    /// Tags whose samples arrive Bad (a broken transmitter, a device off its bus).
    pub bad: HashSet<TagId>,
    /// Tags whose samples stop arriving (a frozen PV).
    pub silent: HashSet<TagId>,
    /// Writes fail with this reason (a device refusing, a link down).
    pub refuse_writes: Option<String>,
    /// Writes are confirmed but the device does not move (a stuck positioner, a register it ignores).
    pub ignore_writes: bool,
    pub trace: Vec<Point>,
    pub events: Vec<Event>,
    pub writes: Vec<WriteIntent>,
    names: HashMap<String, TagId>,
}

impl Harness {
    /// The loop named `name` (`kiln-temp` or `control.pid kiln-temp`) of `config`, against `sims`.
    pub fn new(
        config: &Config,
        sims: &[SimDeviceConfig],
        name: &str,
        start: Timestamp,
    ) -> Result<Harness, String> {
        Self::with_loops(config, sims, &[name], start)
    }

    /// Several loops on one plant (decentralised control); the trace lists their CVs and MVs in order.
    pub fn with_loops(
        config: &Config,
        sims: &[SimDeviceConfig],
        names: &[&str],
        start: Timestamp,
    ) -> Result<Harness, String> {
        let registry = &config.tags.registry;
        let mut loops = Vec::new();
        for name in names {
            let cfg = find_loop(config, name)?;
            let period_ns = nanos(cfg.tick()).max(1);
            loops.push(Driven { engine: cfg.build_in(&config.tags)?, period_ns, next_tick: start.0 });
        }
        let devices =
            sims.iter().map(|d| SimDevice::new(d, |t| registry.id(t))).collect::<Result<Vec<_>, _>>()?;
        let fastest =
            devices.iter().map(|d| nanos(d.scan_period())).chain(loops.iter().map(|l| l.period_ns)).min();
        let names = registry.iter().map(|(id, n)| (n.to_owned(), id)).collect();
        Ok(Harness {
            devices,
            loops,
            step_ns: fastest.unwrap_or(1_000_000_000).max(1_000_000),
            start,
            now: start,
            bad: HashSet::new(),
            silent: HashSet::new(),
            refuse_writes: None,
            ignore_writes: false,
            trace: Vec::new(),
            events: Vec::new(),
            writes: Vec::new(),
            names,
        })
    }

    pub fn tag(&self, name: &str) -> TagId {
        *self.names.get(name).unwrap_or_else(|| panic!("no tag {name}"))
    }

    /// The plant's present value of `tag`.
    pub fn value(&self, tag: &str) -> Option<f64> {
        let id = self.tag(tag);
        self.devices.iter().find_map(|d| d.last_value(id)).and_then(|v| v.as_f64())
    }

    /// The first loop's status.
    pub fn status(&self) -> Option<Json> {
        self.status_of(0)
    }

    pub fn status_of(&self, index: usize) -> Option<Json> {
        self.loops.get(index).and_then(|l| l.engine.status())
    }

    /// A command to the first loop.
    pub fn command(&mut self, fields: Json) -> Result<String, String> {
        self.command_to(0, fields)
    }

    pub fn command_to(&mut self, index: usize, fields: Json) -> Result<String, String> {
        let Json::Object(fields) = fields else { return Err("a command is a JSON object".into()) };
        let mut out = Emitter::default();
        let command = Command::Loop { fields, by: "simulate".into() };
        let done = self.loops[index].engine.on_command(self.now, &command, &mut out);
        self.take(index, out);
        crate::engine::control::outcome_text(done)
    }

    /// Runs plant and loop for `d` of fake time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now.0.saturating_add(nanos(d));
        while self.now.0 < end {
            self.now = Timestamp(self.now.0 + self.step_ns);
            let now = self.now;
            let mut outs: Vec<Emitter> = self.loops.iter().map(|_| Emitter::default()).collect();
            for i in 0..self.devices.len() {
                for s in self.devices[i].scan(now).samples {
                    if self.silent.contains(&s.tag) {
                        continue;
                    }
                    let s =
                        if self.bad.contains(&s.tag) { Sample::bad(s.tag, now, Reason::Timeout) } else { s };
                    for (l, out) in self.loops.iter_mut().zip(&mut outs) {
                        l.engine.on_sample(&s, out);
                    }
                }
            }
            let mut ticked = false;
            for (l, out) in self.loops.iter_mut().zip(&mut outs) {
                if now.0 >= l.next_tick {
                    l.next_tick += l.period_ns;
                    l.engine.on_tick(now, out);
                    ticked = true;
                }
            }
            if ticked {
                self.record();
            }
            for (i, out) in outs.into_iter().enumerate() {
                self.take(i, out);
            }
        }
    }

    /// Applies the writes the loop asked for and tells it how they went.
    fn take(&mut self, index: usize, mut out: Emitter) {
        self.events.append(&mut out.events);
        let mut writes = std::mem::take(&mut out.writes);
        while !writes.is_empty() {
            let mut next = Emitter::default();
            for w in writes {
                self.writes.push(w);
                let result = match &self.refuse_writes {
                    Some(why) => Err(why.clone()),
                    None if self.ignore_writes => Ok(()),
                    None => self
                        .devices
                        .iter_mut()
                        .find(|d| d.last_value(w.tag).is_some())
                        .ok_or_else(|| "no simulated device has the tag".to_owned())
                        .and_then(|d| d.write(w.tag, w.value).map_err(|e| e.to_string())),
                };
                self.loops[index].engine.on_write_result(w, result, &mut next);
            }
            self.events.append(&mut next.events);
            writes = next.writes;
        }
    }

    fn record(&mut self) {
        let f = |v: &Json| v.as_f64().unwrap_or(f64::NAN);
        let t = (self.now.0 - self.start.0) as f64 / 1e9;
        let mut point = Point { t, sp: Vec::new(), pv: Vec::new(), op: Vec::new() };
        for status in self.loops.iter().filter_map(|l| l.engine.status()) {
            match (status.get("cv"), status.get("mv")) {
                (Some(Json::Array(cv)), Some(Json::Array(mv))) => {
                    point.sp.extend(cv.iter().map(|c| f(&c["sp"])));
                    point.pv.extend(cv.iter().map(|c| f(&c["pv"])));
                    point.op.extend(mv.iter().map(|m| f(&m["op"])));
                }
                _ => {
                    point.sp.push(f(&status["sp"]));
                    point.pv.push(f(&status["pv"]));
                    point.op.push(f(&status["op"]));
                }
            }
        }
        self.trace.push(point);
    }
}

/// The loop engine named `name` in `config`.
pub fn find_loop<'a>(config: &'a Config, name: &str) -> Result<&'a dyn EngineConfig, String> {
    let loops: Vec<&dyn EngineConfig> =
        config.engines.iter().map(|e| e.as_ref()).filter(|e| e.kind().starts_with("control.")).collect();
    loops
        .iter()
        .copied()
        .find(|e| e.name() == name || e.name().split_once(' ').is_some_and(|(_, n)| n == name))
        .ok_or_else(|| {
            let known: Vec<String> = loops.iter().map(|e| e.name()).collect();
            format!(
                "no loop named {name:?}; the config has: {}",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            )
        })
}

/// How a CV answered a setpoint step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepMetrics {
    /// Integral of |SP − PV| from the step on, PV units × seconds.
    pub iae: f64,
    /// Largest excursion past the new SP, percent of the step.
    pub overshoot_pct: f64,
    /// From the step until PV stays within 2 % of the step of the new SP; `None` if it never did.
    pub settling_s: Option<f64>,
}

/// Metrics of CV `cv` over `trace`, for a step of size `step` made at `t_step` seconds.
pub fn step_metrics(trace: &[Point], cv: usize, t_step: f64, step: f64) -> StepMetrics {
    let iae = iae(trace, cv, t_step);
    let after: Vec<&Point> = trace.iter().filter(|p| p.t >= t_step).collect();
    let sign = step.signum();
    let size = step.abs().max(f64::MIN_POSITIVE);
    let overshoot = after.iter().map(|p| sign * (p.pv[cv] - p.sp[cv]) / size * 100.0).fold(0.0, f64::max);
    let band = 0.02 * size;
    let last_out = after.iter().rposition(|p| (p.pv[cv] - p.sp[cv]).abs() > band);
    let settling = match last_out {
        None => Some(0.0),
        Some(i) if i + 1 < after.len() => Some(after[i + 1].t - t_step),
        Some(_) => None,
    };
    StepMetrics { iae, overshoot_pct: overshoot, settling_s: settling }
}

/// Integral of |SP − PV| of CV `cv` from `t_from` on.
pub fn iae(trace: &[Point], cv: usize, t_from: f64) -> f64 {
    let after: Vec<&Point> = trace.iter().filter(|p| p.t >= t_from).collect();
    after.windows(2).map(|w| (w[1].sp[cv] - w[1].pv[cv]).abs() * (w[1].t - w[0].t)).sum()
}

/// The samples a test feeds by hand: a good float of `tag` at `ts`.
pub fn good(tag: TagId, ts: Timestamp, v: f64) -> Sample {
    Sample::good(tag, ts, Value::Float(v))
}
