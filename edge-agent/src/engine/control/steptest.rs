//! The step tests behind `edge-agent control simulate`: a closed-loop setpoint step with its IAE,
//! overshoot and settling time, and an open-loop output step fitted for PI settings (`--tune`).

use std::time::Duration;

use drivers::sim::{Shape, SimDeviceConfig};
use protocols::Timestamp;
use serde_json::json;

use super::simulate::{Harness, Point, StepMetrics, find_loop, step_metrics};
use super::tune::{Fit, PiSettings, fit_step, simc_pi};
use crate::config::Config;

/// What a closed-loop step test found.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub cvs: Vec<String>,
    pub mvs: Vec<String>,
    /// Which CV was stepped, from what, by how much, at what time (s).
    pub stepped: usize,
    pub from: f64,
    pub step: f64,
    pub t_step: f64,
    /// Per CV; a CV that was not stepped has only its IAE (how well it was held).
    pub metrics: Vec<StepMetrics>,
    pub trace: Vec<Point>,
}

/// The slowest response of the simulated plant of loop `name` (time constant plus dead time of the sim
/// devices holding its tags), to size a test.
pub fn slowest(config: &Config, sims: &[SimDeviceConfig], name: &str) -> Duration {
    let wood_berry = Duration::from_secs(28 * 60);
    let tags: Vec<String> = find_loop(config, name)
        .map_or(Vec::new(), |c| c.reads().iter().map(|r| r.tag.get_ref().clone()).collect());
    sims.iter()
        .filter(|d| d.tags.iter().any(|t| tags.contains(t.name.get_ref())))
        .flat_map(|d| &d.tags)
        .map(|t| match t.shape {
            Shape::Fopdt => t.time_constant.get() + t.dead_time.get(),
            Shape::WoodBerry => wood_berry,
            _ => Duration::ZERO,
        })
        .max()
        .unwrap_or_default()
        .max(Duration::from_secs(10))
}

fn start(
    config: &Config,
    sims: &[SimDeviceConfig],
    name: &str,
) -> Result<(Harness, Vec<String>, Vec<String>, bool), String> {
    let cfg = find_loop(config, name)?;
    let mvs: Vec<String> = cfg.writes().iter().map(|w| w.tag.get_ref().clone()).collect();
    let cvs: Vec<String> =
        cfg.reads().iter().map(|r| r.tag.get_ref().clone()).filter(|t| !mvs.contains(t)).collect();
    if !sims.iter().flat_map(|d| &d.tags).any(|t| mvs.contains(t.name.get_ref())) {
        return Err(format!(
            "{}: no `[[sim.device]]` in the file has its output; simulate needs the plant as a sim device",
            cfg.name()
        ));
    }
    let h = Harness::new(config, sims, name, Timestamp(0))?;
    Ok((h, cvs, mvs, cfg.kind() == "control.mpc"))
}

/// Runs the loop `warmup`, steps the SP of CV `cv` (the first by default) by `step` (5 % by default),
/// and runs `after`.
pub fn setpoint_step(
    config: &Config,
    sims: &[SimDeviceConfig],
    name: &str,
    cv: Option<&str>,
    step: Option<f64>,
    warmup: Duration,
    after: Duration,
) -> Result<StepReport, String> {
    let (mut h, mut cvs, mvs, mpc) = start(config, sims, name)?;
    h.run_for(warmup);
    let last = h.trace.last().ok_or("the loop never ran: does its PV and output read back?")?.clone();
    cvs.truncate(last.sp.len());
    let stepped = match cv {
        Some(tag) => cvs
            .iter()
            .position(|c| c == tag)
            .ok_or(format!("{tag} is not a CV of {name}; its CVs: {}", cvs.join(", ")))?,
        None => 0,
    };
    let from = if last.sp[stepped].is_finite() { last.sp[stepped] } else { last.pv[stepped] };
    // 5 % of the SP, at most a quarter of the CV's range where it has one.
    let range = h.status().and_then(|s| {
        let cv = &s["cv"][stepped];
        Some(cv["max"].as_f64()? - cv["min"].as_f64()?)
    });
    let default = if from.abs() > 1e-9 { from.abs() * 0.05 } else { 1.0 };
    let step = step.unwrap_or(range.map_or(default, |r| default.min(r / 4.0)));
    let command = if mpc {
        json!({"cv": {cvs[stepped].clone(): {"setpoint": from + step}}})
    } else {
        json!({"setpoint": from + step})
    };
    h.command(command)?;
    h.run_for(after);
    let metrics = (0..cvs.len())
        .map(|i| {
            let m = step_metrics(&h.trace, i, last.t, step);
            if i == stepped { m } else { StepMetrics { overshoot_pct: f64::NAN, settling_s: None, ..m } }
        })
        .collect();
    Ok(StepReport { cvs, mvs, stepped, from, step, t_step: last.t, metrics, trace: h.trace })
}

/// An open-loop step of the output by `du` after `warmup`; the PV's answer fitted and SIMC applied.
pub fn tune(
    config: &Config,
    sims: &[SimDeviceConfig],
    name: &str,
    du: f64,
    warmup: Duration,
    after: Duration,
) -> Result<(Fit, PiSettings), String> {
    let (mut h, _, _, mpc) = start(config, sims, name)?;
    if mpc {
        return Err("--tune suggests PI settings for a [[control.pid]] loop".into());
    }
    h.command(json!({"mode": "manual"}))?;
    h.run_for(warmup);
    let last = h.trace.last().ok_or("the loop never ran: does its PV and output read back?")?.clone();
    h.command(json!({"output": last.op[0] + du}))?;
    h.run_for(after);
    let points: Vec<(f64, f64)> = h.trace.iter().map(|p| (p.t, p.pv[0])).collect();
    let fit = fit_step(&points, last.t, du)
        .ok_or("the PV did not answer the output step; is the plant a fopdt on the output?")?;
    Ok((fit, simc_pi(&fit)))
}
