//! One PID loop as an engine: modes, cascade, feedforward, fail-safe, and its output stage.

mod commands;

use std::time::Duration;

use protocols::{Sample, TagId, Timestamp};
use serde_json::{Value as Json, json};

use super::algo::{Action, OutputLimits, Pid, Saturation};
use super::config::PidConfig;
use crate::engine::control::guard::{Actuator, FailSafe, Fault, InputWatch, Watchdog};
use crate::engine::control::loopcore::{Derived, FaultState, Mode};
use crate::engine::{Command, Emitter, Engine};

/// The cascade master: its output is the loop's setpoint.
#[derive(Debug, Clone)]
struct Outer {
    pv: InputWatch,
    pid: Pid,
    sp: f64,
    sp_limits: (f64, f64),
    every: u32,
    count: u32,
    h: f64,
}

#[derive(Debug, Clone)]
struct Feedforward {
    input: InputWatch,
    gain: f64,
    bias: f64,
    last: f64,
}

/// The ids a built loop needs.
pub struct PidTags {
    pub pv: TagId,
    pub output: TagId,
    pub feedforward: Option<TagId>,
    pub outer_pv: Option<TagId>,
    pub derived: Derived,
}

#[derive(Debug, Clone)]
pub struct PidLoop {
    source: String,
    cfg: PidConfig,
    stale_after: Duration,
    fail_safe: FailSafe,
    pv: InputWatch,
    pv_value: Option<f64>,
    ff: Option<Feedforward>,
    outer: Option<Outer>,
    actuator: Actuator,
    pid: Pid,
    watchdog: Watchdog,
    mode: Mode,
    sp: Option<f64>,
    sp_limits: (f64, f64),
    manual_op: Option<f64>,
    started: bool,
    faults: FaultState,
    derived: Derived,
}

impl PidLoop {
    /// `limits` are the output's, already narrowed to the tag's writable limits.
    pub fn new(cfg: &PidConfig, tags: PidTags, limits: OutputLimits) -> Result<PidLoop, String> {
        let safety = cfg.safety();
        let name = cfg.name.get_ref();
        let gains = cfg.tuning.get_ref().gains()?;
        let verify = safety.verify(cfg.verify_tolerance, limits.max - limits.min);
        let range = |r: &Option<toml::Spanned<crate::engine::control::common::Range>>| {
            r.as_ref().map_or((f64::NEG_INFINITY, f64::INFINITY), |r| (r.get_ref().min, r.get_ref().max))
        };
        let sp_limits = range(&cfg.setpoint_limits);
        let outer = match (&cfg.outer, tags.outer_pv) {
            (Some(o), Some(id)) => {
                let limits = OutputLimits { min: sp_limits.0, max: sp_limits.1, rate: None };
                Some(Outer {
                    pv: InputWatch::new(id, o.pv.get_ref()),
                    pid: Pid::new(o.tuning.get_ref().gains()?, limits, cfg.setpoint.unwrap_or(0.0)),
                    sp: o.setpoint.unwrap_or(f64::NAN),
                    sp_limits: range(&o.setpoint_limits),
                    every: (*o.every.get_ref()).max(1),
                    count: 0,
                    h: 0.0,
                })
            }
            _ => None,
        };
        let ff = match (&cfg.feedforward, tags.feedforward) {
            (Some(f), Some(id)) => Some(Feedforward {
                input: InputWatch::new(id, f.tag.get_ref()),
                gain: f.gain,
                bias: f.bias,
                last: f.bias,
            }),
            _ => None,
        };
        Ok(PidLoop {
            source: format!("control.pid {name}"),
            cfg: cfg.clone(),
            stale_after: safety.stale_after,
            fail_safe: crate::engine::control::common::fail_safe(*cfg.fail_safe.get_ref(), cfg.safe_output),
            pv: InputWatch::new(tags.pv, cfg.pv.get_ref()),
            pv_value: None,
            ff,
            outer,
            actuator: Actuator::new(tags.output, cfg.output.get_ref(), limits.min, limits.max, verify),
            pid: Pid::new(gains, limits, limits.min).with_rate_span(safety.period.as_secs_f64()),
            watchdog: Watchdog::new(safety.period, safety.deadline),
            mode: cfg.mode.into(),
            sp: cfg.setpoint,
            sp_limits,
            manual_op: None,
            started: false,
            faults: FaultState::default(),
            derived: tags.derived,
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn op(&self) -> f64 {
        self.pid.op()
    }

    pub fn setpoint(&self) -> Option<f64> {
        self.sp
    }

    pub fn fault(&self) -> Option<&Fault> {
        self.faults.current()
    }

    fn feedforward(&mut self, now: Timestamp) -> f64 {
        let Some(ff) = &mut self.ff else { return 0.0 };
        // A lost feedforward input keeps its last good value: losing it must not trip the loop.
        if let Ok(v) = ff.input.check(now, self.stale_after) {
            ff.last = v;
        }
        ff.gain * (ff.last - ff.bias)
    }

    /// The master's step in cascade, or its tracking of the local SP otherwise.
    fn run_outer(&mut self, now: Timestamp, h: f64, out: &mut Emitter) {
        let inner_action = self.pid.gains().action;
        let saturation = self.pid.saturation();
        let achieved = self.pv_value;
        let Some(o) = &mut self.outer else { return };
        let local_sp = self.sp.unwrap_or(self.pid.op());
        if self.mode != Mode::Cascade {
            o.pid.track(local_sp, o.sp, o.pv.last_value(), 0.0, h);
            return;
        }
        o.count += 1;
        o.h += h;
        if o.count < o.every {
            return;
        }
        let (steps, hh) = (o.count, o.h);
        o.count = 0;
        o.h = 0.0;
        let pv = match o.pv.check(now, self.stale_after * steps) {
            Ok(pv) => pv,
            Err(fault) => {
                // Shed to automatic on the last SP: the inner loop still holds its own PV.
                out.event(crate::engine::Event {
                    ts: now,
                    source: self.source.clone(),
                    message: format!("cascade shed to auto at SP {local_sp}: {}", fault.text()),
                });
                self.mode = Mode::Auto;
                return;
            }
        };
        if o.sp.is_nan() {
            o.sp = pv;
        }
        // The inner loop's limits, back-propagated: while its OP is stuck, the master may not ask for more
        // than the inner PV it reaches that way (the SP direction that raises OP is the inner action's sign).
        let (mut min, mut max) = self.sp_limits;
        let raises = inner_action == Action::Reverse;
        let reached = achieved.unwrap_or(local_sp);
        match (saturation, raises) {
            (Some(Saturation::High), true) | (Some(Saturation::Low), false) => {
                max = max.min(local_sp.min(reached))
            }
            (Some(Saturation::Low), true) | (Some(Saturation::High), false) => {
                min = min.max(local_sp.max(reached))
            }
            _ => {}
        }
        o.pid.set_limits(OutputLimits { min, max: max.max(min), rate: None });
        self.sp = Some(o.pid.update(o.sp, pv, 0.0, hh));
    }

    fn publish(&mut self, now: Timestamp, out: &mut Emitter) {
        let fault = self.faults.current().map_or(0, Fault::code);
        self.derived.publish(now, self.sp.unwrap_or(f64::NAN), self.pid.op(), self.mode, fault, out);
    }
}

impl Engine for PidLoop {
    fn on_sample(&mut self, s: &Sample, _out: &mut Emitter) {
        let _ = self.pv.on_sample(s)
            || self.actuator.on_sample(s)
            || self.ff.as_mut().is_some_and(|f| f.input.on_sample(s))
            || self.outer.as_mut().is_some_and(|o| o.pv.on_sample(s));
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Emitter) {
        let (h, late) = self.watchdog.tick(now);
        if !self.started {
            // Bumpless start: the loop takes over from where the actuator is.
            let Some(op) = self.actuator.readback() else { return };
            self.pid.track(op, self.sp.unwrap_or(0.0), self.pv.last_value(), 0.0, h);
            self.started = true;
        }
        let pv = self.pv.check(now, self.stale_after);
        self.pv_value = pv.as_ref().ok().copied().or(self.pv.last_value());
        if self.sp.is_none() {
            self.sp = pv.as_ref().ok().copied();
        }
        let actuator = self.actuator.check(now);
        let fault = actuator.or(late).or(pv.as_ref().err().cloned());
        let fault = self.faults.note(&self.source, fault, now, out);
        let ff = self.feedforward(now);
        let sp = self.sp.unwrap_or(f64::NAN);
        let (op, reason) = match (fault, self.mode) {
            (Some(_), _) => {
                let op = match self.fail_safe {
                    FailSafe::Hold => self.pid.op(),
                    FailSafe::SafeOutput(v) => v,
                    FailSafe::Manual => {
                        self.mode = Mode::Manual;
                        self.manual_op = Some(self.pid.op());
                        self.pid.op()
                    }
                };
                let op = op.clamp(self.actuator.min, self.actuator.max);
                self.pid.track(op, sp, self.pv_value, ff, h);
                (op, "fail-safe")
            }
            (None, Mode::Manual) => {
                let op = self.manual_op.unwrap_or(self.pid.op());
                self.pid.track(op, sp, self.pv_value, ff, h);
                (op, "manual")
            }
            (None, Mode::Auto | Mode::Cascade) => {
                self.run_outer(now, h, out);
                let sp = self.sp.unwrap_or(f64::NAN);
                let pv = self.pv_value.unwrap_or(sp);
                (self.pid.update(sp, pv, ff, h), "auto")
            }
        };
        if self.mode != Mode::Cascade {
            self.run_outer(now, h, out);
        }
        self.actuator.command(op, reason, now, out);
        self.publish(now, out);
    }

    fn on_write_result(
        &mut self,
        _write: crate::engine::WriteIntent,
        result: Result<(), String>,
        out: &mut Emitter,
    ) {
        self.actuator.on_result(result, out);
    }

    fn on_command(
        &mut self,
        _now: Timestamp,
        command: &Command,
        _out: &mut Emitter,
    ) -> Result<Json, crate::engine::CommandError> {
        crate::engine::control::loop_command(command, |fields| self.command(fields))
    }

    fn status(&self) -> Option<Json> {
        Some(json!({
            "kind": "pid",
            "mode": self.mode.label(),
            "pv": self.pv_value,
            "sp": self.sp,
            "op": self.pid.op(),
            "fault": self.faults.current().map(|f| json!({"kind": f.label(), "code": f.code(), "text": f.text()})),
            "outer_sp": self.outer.as_ref().map(|o| o.sp).filter(|v| v.is_finite()),
            "outer_pv": self.outer.as_ref().and_then(|o| o.pv.last_value()),
            "started": self.started,
        }))
    }
}
