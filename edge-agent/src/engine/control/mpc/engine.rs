//! One MPC as an engine: reads its CVs, estimates the disturbance, asks the target layer where to go and
//! the controller how to get there, and moves its MVs through their output stages.

use std::time::Duration;

use protocols::{TagId, Timestamp};

use super::config::MpcConfig;
use super::controller::{Controller, Limits, Present, Tuning};
use super::qp::{Clarabel, Mat, QpSolver};
use super::target::{self, TargetSpec, Targets};
use crate::engine::control::common::fail_safe;
use crate::engine::control::guard::{Actuator, FailSafe, InputWatch, Watchdog};
use crate::engine::control::loopcore::{Derived, FaultState, Mode};
use crate::engine::{Emitter, Event};

#[derive(Debug, Clone)]
pub(super) struct Cv {
    pub(super) input: InputWatch,
    pub(super) setpoint: Option<f64>,
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) weight: f64,
    pub(super) pv: Option<f64>,
}

#[derive(Debug, Clone)]
pub(super) struct Mv {
    pub(super) actuator: Actuator,
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) rate: f64,
    pub(super) cost: f64,
    pub(super) safe_output: Option<f64>,
}

pub struct MpcLoop {
    pub(super) source: String,
    pub(super) cvs: Vec<Cv>,
    pub(super) mvs: Vec<Mv>,
    pub(super) controller: Controller,
    pub(super) targeter: Box<dyn QpSolver>,
    pub(super) gains: Mat,
    pub(super) soft: f64,
    pub(super) budget: Duration,
    pub(super) max_failed: u32,
    pub(super) stale_after: Duration,
    pub(super) fail_safe: FailSafe,
    pub(super) watchdog: Watchdog,
    pub(super) mode: Mode,
    pub(super) faults: FaultState,
    pub(super) derived: Derived,
    /// Model state and the inputs that act on it.
    pub(super) x: Vec<f64>,
    pub(super) u: Vec<f64>,
    pub(super) d: Vec<f64>,
    pub(super) targets: Option<Targets>,
    /// Bumped when a setpoint, limit or cost changes: the targets are solved again.
    pub(super) revision: u64,
    pub(super) targets_for: Option<(u64, Vec<f64>)>,
    pub(super) failed: u32,
    pub(super) failures: u64,
    pub(super) last_solve: Option<(f64, u32)>,
    pub(super) started: bool,
}

/// MVs, with each one's tag id and writable limits, and the ids of the CVs and derived tags.
pub struct MpcTags {
    pub cvs: Vec<TagId>,
    pub mvs: Vec<(TagId, Option<drivers::WritableSpec>)>,
    pub derived: Derived,
}

impl MpcLoop {
    pub fn new(cfg: &MpcConfig, tags: MpcTags) -> Result<MpcLoop, String> {
        let model = cfg.state_space()?;
        let gains = model.gains().ok_or("the model does not settle: a target layer needs a stable model")?;
        let safety = cfg.safety();
        let inf = |v: Option<f64>, default: f64| v.unwrap_or(default);
        let cvs = cfg
            .cv
            .iter()
            .zip(&tags.cvs)
            .map(|(c, &id)| Cv {
                input: InputWatch::new(id, c.tag.get_ref()),
                setpoint: c.setpoint,
                min: inf(c.min, f64::NEG_INFINITY),
                max: inf(c.max, f64::INFINITY),
                weight: c.weight,
                pv: None,
            })
            .collect();
        let mvs: Vec<Mv> = cfg
            .mv
            .iter()
            .zip(&tags.mvs)
            .map(|(m, &(id, writable))| {
                let (wmin, wmax) = writable.map_or((f64::NEG_INFINITY, f64::INFINITY), |w| (w.min, w.max));
                let (min, max) = (inf(m.min, wmin).max(wmin), inf(m.max, wmax).min(wmax));
                let verify = safety.verify(cfg.verify_tolerance, max - min);
                Mv {
                    actuator: Actuator::new(id, m.tag.get_ref(), min, max, verify),
                    min,
                    max,
                    rate: inf(m.rate, f64::INFINITY),
                    cost: m.cost,
                    safe_output: m.safe_output,
                }
            })
            .collect();
        let tuning = Tuning {
            prediction: *cfg.prediction_horizon.get_ref(),
            control: *cfg.control_horizon.get_ref(),
            cv_weight: cfg.cv.iter().map(|c| c.weight).collect(),
            move_weight: cfg.mv.iter().map(|m| m.move_weight).collect(),
            target_weight: cfg.mv.iter().map(|m| m.target_weight).collect(),
            soft: cfg.soft_weight,
        };
        let period = safety.period;
        let safe_output = mvs.iter().find_map(|m| m.safe_output);
        Ok(MpcLoop {
            source: format!("control.mpc {}", cfg.name.get_ref()),
            cvs,
            controller: Controller::new(model, tuning, Box::new(Clarabel::default())),
            targeter: Box::new(Clarabel::default()),
            gains,
            soft: cfg.soft_weight,
            budget: cfg.solve_budget.map_or((period / 4).min(Duration::from_millis(200)), |b| b.get()),
            max_failed: cfg.max_failed_solves.max(1),
            stale_after: safety.stale_after,
            fail_safe: fail_safe(*cfg.fail_safe.get_ref(), safe_output),
            watchdog: Watchdog::new(period, safety.deadline),
            mode: cfg.mode.into(),
            faults: FaultState::default(),
            derived: tags.derived,
            x: Vec::new(),
            u: vec![0.0; mvs.len()],
            d: vec![0.0; cfg.cv.len()],
            mvs,
            targets: None,
            revision: 0,
            targets_for: None,
            failed: 0,
            failures: 0,
            last_solve: None,
            started: false,
        })
    }

    /// Solves the target layer again if a setpoint, limit or cost changed or the disturbance moved.
    pub(super) fn retarget(&mut self) -> Result<(), String> {
        let moved = self.targets_for.as_ref().is_none_or(|(rev, d)| {
            *rev != self.revision
                || d.iter().zip(&self.d).any(|(a, b)| (a - b).abs() > 1e-3 * (1.0 + b.abs()))
        });
        if !moved && self.targets.is_some() {
            return Ok(());
        }
        let col = |f: fn(&Cv) -> f64| self.cvs.iter().map(f).collect::<Vec<f64>>();
        let mcol = |f: fn(&Mv) -> f64| self.mvs.iter().map(f).collect::<Vec<f64>>();
        let (y_min, y_max, weight) = (col(|c| c.min), col(|c| c.max), col(|c| c.weight));
        let (u_min, u_max, cost) = (mcol(|m| m.min), mcol(|m| m.max), mcol(|m| m.cost));
        let setpoint: Vec<Option<f64>> = self.cvs.iter().map(|c| c.setpoint).collect();
        let spec = TargetSpec {
            gains: &self.gains,
            disturbance: &self.d,
            setpoint: &setpoint,
            cv_weight: &weight,
            y_min: &y_min,
            y_max: &y_max,
            u_min: &u_min,
            u_max: &u_max,
            cost: &cost,
            u_now: &self.u,
            soft: self.soft,
        };
        self.targets = Some(target::solve(self.targeter.as_mut(), &spec, self.budget)?);
        self.targets_for = Some((self.revision, self.d.clone()));
        Ok(())
    }

    /// One automatic step: the moves, or why there are none.
    pub(super) fn control(&mut self) -> Result<Vec<f64>, String> {
        self.retarget()?;
        let targets = self.targets.clone().expect("retarget sets them");
        let limits = Limits {
            u_min: self.mvs.iter().map(|m| m.min).collect(),
            u_max: self.mvs.iter().map(|m| m.max).collect(),
            du_max: self.mvs.iter().map(|m| m.rate).collect(),
            y_min: self.cvs.iter().map(|c| c.min).collect(),
            y_max: self.cvs.iter().map(|c| c.max).collect(),
        };
        let now = Present { x: &self.x, d: &self.d, u: &self.u, y_target: &targets.y, u_target: &targets.u };
        let (moves, solved) = self.controller.plan(&now, &limits, self.budget)?;
        self.last_solve = Some((solved.seconds, solved.iterations));
        Ok(moves)
    }

    pub(super) fn event(&self, now: Timestamp, message: String, out: &mut Emitter) {
        out.event(Event { ts: now, source: self.source.clone(), message });
    }
}
