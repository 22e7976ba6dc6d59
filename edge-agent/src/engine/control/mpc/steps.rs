//! The MPC on the engine seam: each tick, and the operator's commands.

use protocols::{Sample, Timestamp};
use serde_json::{Value as Json, json};

use super::engine::MpcLoop;
use crate::engine::control::guard::{FailSafe, Fault};
use crate::engine::control::loopcore::{Mode, number};
use crate::engine::{Command, Emitter, Engine, WriteIntent};

impl Engine for MpcLoop {
    fn on_sample(&mut self, s: &Sample, _out: &mut Emitter) {
        for c in &mut self.cvs {
            if c.input.on_sample(s) {
                return;
            }
        }
        for m in &mut self.mvs {
            if m.actuator.on_sample(s) {
                return;
            }
        }
    }

    fn on_tick(&mut self, now: Timestamp, out: &mut Emitter) {
        let (_, late) = self.watchdog.tick(now);
        let model = self.controller.model().clone();
        if !self.started {
            // Bumpless start: the model starts at rest at the inputs as they are.
            let Some(u) = self.mvs.iter().map(|m| m.actuator.readback()).collect::<Option<Vec<f64>>>() else {
                return;
            };
            self.x = model.steady_state(&u).unwrap_or_else(|| vec![0.0; model.states()]);
            self.u = u;
            self.started = true;
        } else {
            self.x = model.step(&self.x, &self.u);
        }
        let mut fault = None;
        for m in &mut self.mvs {
            fault = fault.or(m.actuator.check(now));
        }
        let fault = fault.or(late);
        let mut cv_fault = None;
        for c in &mut self.cvs {
            match c.input.check(now, self.stale_after) {
                Ok(v) => c.pv = Some(v),
                Err(f) => {
                    c.pv = c.input.last_value();
                    cv_fault = cv_fault.or(Some(f));
                }
            }
        }
        if cv_fault.is_none() {
            let y: Vec<f64> = self.cvs.iter().map(|c| c.pv.unwrap_or(0.0)).collect();
            self.d = y.iter().zip(model.output(&self.x)).map(|(y, m)| y - m).collect();
        }
        let solve_fault = (self.failed >= self.max_failed)
            .then(|| Fault::SolveFailed { why: format!("{} solves in a row failed", self.failed) });
        let fault = self.faults.note(&self.source, fault.or(cv_fault).or(solve_fault), now, out);
        let reason = match (fault, self.mode) {
            (Some(_), _) => {
                match self.fail_safe {
                    FailSafe::Hold => {}
                    FailSafe::SafeOutput(_) => {
                        for (u, m) in self.u.iter_mut().zip(&self.mvs) {
                            *u = m.safe_output.unwrap_or(*u);
                        }
                    }
                    FailSafe::Manual => self.mode = Mode::Manual,
                }
                "fail-safe"
            }
            (None, Mode::Manual) => {
                // The model follows what the operator does, so automatic starts from the present.
                for (u, m) in self.u.iter_mut().zip(&self.mvs) {
                    *u = m.actuator.readback().unwrap_or(*u);
                }
                "manual"
            }
            (None, _) => {
                match self.control() {
                    Ok(moves) => {
                        self.failed = 0;
                        for ((u, m), du) in self.u.iter_mut().zip(&self.mvs).zip(moves) {
                            // The QP respects these; they are applied again so nothing else can break them.
                            *u = (*u + du.clamp(-m.rate, m.rate)).clamp(m.min, m.max);
                        }
                    }
                    Err(why) => {
                        self.failed += 1;
                        self.failures += 1;
                        if self.failed == 1 {
                            self.event(now, format!("ALARM QP not solved ({why}); holding the MVs"), out);
                        }
                    }
                }
                "auto"
            }
        };
        if self.mode != Mode::Manual {
            for (u, m) in self.u.iter_mut().zip(&mut self.mvs) {
                *u = m.actuator.command(*u, reason, now, out);
            }
        }
        let code = self.faults.current().map_or(0, Fault::code);
        self.derived.publish(now, f64::NAN, f64::NAN, self.mode, code, out);
    }

    fn on_write_result(&mut self, write: WriteIntent, result: Result<(), String>, out: &mut Emitter) {
        if let Some(m) = self.mvs.iter_mut().find(|m| m.actuator.tag == write.tag) {
            m.actuator.on_result(result, out);
        }
    }

    fn on_command(
        &mut self,
        _now: Timestamp,
        command: &Command,
        _out: &mut Emitter,
    ) -> Result<Json, crate::engine::CommandError> {
        crate::engine::control::loop_command(command, |fields| self.apply_command(fields))
    }

    fn status(&self) -> Option<Json> {
        self.status_now()
    }
}

impl MpcLoop {
    /// A command, checked whole before anything changes.
    fn apply_command(&mut self, fields: &serde_json::Map<String, Json>) -> Result<String, String> {
        let mut next_cvs = self.cvs.clone();
        let mut next_mvs = self.mvs.clone();
        let mut mode = self.mode;
        let mut done = Vec::new();
        for (key, value) in fields {
            match key.as_str() {
                "mode" => {
                    mode = Mode::parse(value)?;
                    if mode == Mode::Cascade {
                        return Err("an MPC runs in auto or manual".into());
                    }
                    done.push(format!("mode {}", mode.label()));
                }
                "cv" | "mv" => {
                    let Json::Object(by_tag) = value else {
                        return Err(format!("`{key}` maps tag names to settings"));
                    };
                    for (tag, settings) in by_tag {
                        let Json::Object(settings) = settings else {
                            return Err(format!("{key} {tag}: settings are an object"));
                        };
                        for (field, v) in settings {
                            let x = number(field, v)?;
                            let ok = if key == "cv" {
                                let c = next_cvs
                                    .iter_mut()
                                    .find(|c| c.input.name == *tag)
                                    .ok_or(format!("no CV {tag}"))?;
                                match field.as_str() {
                                    "setpoint" => c.setpoint = Some(x),
                                    "min" => c.min = x,
                                    "max" => c.max = x,
                                    "weight" => c.weight = x,
                                    _ => {
                                        return Err(format!(
                                            "cv {tag}: unknown `{field}`; expected setpoint, min, max"
                                        ));
                                    }
                                }
                                c.min <= c.max
                            } else {
                                let m = next_mvs
                                    .iter_mut()
                                    .find(|m| m.actuator.name == *tag)
                                    .ok_or(format!("no MV {tag}"))?;
                                match field.as_str() {
                                    "min" => m.min = x.max(m.actuator.min),
                                    "max" => m.max = x.min(m.actuator.max),
                                    "rate" => m.rate = x.abs(),
                                    "cost" => m.cost = x,
                                    _ => {
                                        return Err(format!(
                                            "mv {tag}: unknown `{field}`; expected min, max, rate, cost"
                                        ));
                                    }
                                }
                                m.min <= m.max
                            };
                            if !ok {
                                return Err(format!("{key} {tag}: min would be above max"));
                            }
                            done.push(format!("{key} {tag} {field} {x}"));
                        }
                    }
                }
                other => return Err(format!("unknown field `{other}`; an MPC takes mode, cv, mv")),
            }
        }
        if mode != Mode::Manual && self.mode != mode {
            self.faults.clear_latched();
            self.failed = 0;
            for m in &mut next_mvs {
                m.actuator.reset();
            }
        }
        self.cvs = next_cvs;
        self.mvs = next_mvs;
        self.mode = mode;
        self.revision += 1;
        Ok(done.join(", "))
    }

    fn status_now(&self) -> Option<Json> {
        let targets = self.targets.as_ref();
        let finite = |v: f64| v.is_finite().then_some(v);
        Some(json!({
            "kind": "mpc",
            "mode": self.mode.label(),
            "fault": self.faults.current().map(|f| json!({"kind": f.label(), "code": f.code(), "text": f.text()})),
            "cv": self.cvs.iter().enumerate().map(|(i, c)| json!({
                "tag": c.input.name, "pv": c.pv, "setpoint": c.setpoint,
                "target": targets.map(|t| t.y[i]),
                "sp": c.setpoint.or(targets.map(|t| t.y[i])),
                "min": finite(c.min), "max": finite(c.max),
            })).collect::<Vec<_>>(),
            "mv": self.mvs.iter().enumerate().map(|(j, m)| json!({
                "tag": m.actuator.name, "op": self.u[j], "target": targets.map(|t| t.u[j]),
                "min": finite(m.min), "max": finite(m.max), "cost": m.cost,
            })).collect::<Vec<_>>(),
            "solve": {
                "seconds": self.last_solve.map(|s| s.0),
                "iterations": self.last_solve.map(|s| s.1),
                "failures_total": self.failures,
            },
            "started": self.started,
        }))
    }
}
