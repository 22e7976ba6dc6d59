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

/// The harness for loops `names`, with their CVs (and which loop owns each) and MVs in trace order.
struct Run {
    harness: Harness,
    cvs: Vec<String>,
    owner: Vec<usize>,
    mvs: Vec<String>,
    mpc: Vec<bool>,
}

fn start(config: &Config, sims: &[SimDeviceConfig], names: &[&str]) -> Result<Run, String> {
    let (mut cvs, mut owner, mut mvs, mut mpc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, name) in names.iter().enumerate() {
        let cfg = find_loop(config, name)?;
        let outputs: Vec<String> = cfg.writes().iter().map(|w| w.tag.get_ref().clone()).collect();
        if !sims.iter().flat_map(|d| &d.tags).any(|t| outputs.contains(t.name.get_ref())) {
            return Err(format!(
                "{}: no `[[sim.device]]` in the file has its output; simulate needs the plant as a sim device",
                cfg.name()
            ));
        }
        let is_mpc = cfg.kind() == "control.mpc";
        // A PID's CV is its PV, the first thing it reads; an MPC's CVs are all it reads but its MVs.
        let inputs =
            cfg.reads().into_iter().map(|r| r.tag.get_ref().clone()).filter(|t| !outputs.contains(t));
        let own: Vec<String> = if is_mpc { inputs.collect() } else { inputs.take(1).collect() };
        owner.extend(own.iter().map(|_| i));
        cvs.extend(own);
        mvs.extend(outputs);
        mpc.push(is_mpc);
    }
    let harness = Harness::with_loops(config, sims, names, Timestamp(0))?;
    Ok(Run { harness, cvs, owner, mvs, mpc })
}

/// Runs loops `names` (one, or several for decentralised control) for `warmup`, steps the SP of CV
/// `cv` (the first by default) by `step` (5 % by default), and runs `after`.
pub fn setpoint_step(
    config: &Config,
    sims: &[SimDeviceConfig],
    names: &[&str],
    cv: Option<&str>,
    step: Option<f64>,
    warmup: Duration,
    after: Duration,
) -> Result<StepReport, String> {
    let Run { harness: mut h, cvs, owner, mvs, mpc } = start(config, sims, names)?;
    h.run_for(warmup);
    let last = h.trace.last().ok_or("the loop never ran: does its PV and output read back?")?.clone();
    let stepped = match cv {
        Some(tag) => cvs.iter().position(|c| c == tag).ok_or(format!(
            "{tag} is not a CV of {}; the CVs: {}",
            names.join(", "),
            cvs.join(", ")
        ))?,
        None => 0,
    };
    let by = owner[stepped];
    let from = if last.sp[stepped].is_finite() { last.sp[stepped] } else { last.pv[stepped] };
    // 5 % of the SP, at most a quarter of the CV's range where it has one.
    let first = owner.iter().position(|&o| o == by).unwrap_or(0);
    let range = h.status_of(by).and_then(|s| {
        let cv = &s["cv"][stepped - first];
        Some(cv["max"].as_f64()? - cv["min"].as_f64()?)
    });
    let default = if from.abs() > 1e-9 { from.abs() * 0.05 } else { 1.0 };
    let step = step.unwrap_or(range.map_or(default, |r| default.min(r / 4.0)));
    let command = if mpc[by] {
        json!({"cv": {cvs[stepped].clone(): {"setpoint": from + step}}})
    } else {
        json!({"setpoint": from + step})
    };
    h.command_to(by, command)?;
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
    let Run { harness: mut h, mpc, .. } = start(config, sims, &[name])?;
    if mpc[0] {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::control::fixtures::{SIMC, kiln};
    use crate::engine::control::simulate::sim_devices;

    #[test]
    fn the_kiln_step_test_and_its_tuning_from_an_open_loop_step() {
        let text = kiln(&format!("setpoint = 865.0\n{SIMC}"));
        let config = crate::config::parse(&text, "t.toml", &|_| None).unwrap();
        let sims = sim_devices(&text).unwrap();
        let slow = slowest(&config, &sims, "kiln-temp");
        assert_eq!(slow, Duration::from_secs(130), "τ + θ of the kiln");
        let r = setpoint_step(&config, &sims, &["kiln-temp"], None, None, slow * 5, slow * 10).unwrap();
        assert_eq!((r.from, r.step), (865.0, 865.0 * 0.05));
        assert_eq!(
            (r.cvs.as_slice(), r.mvs.as_slice()),
            (&["kiln.temp".to_owned()][..], &["kiln.fuel_valve".to_owned()][..])
        );
        assert!(r.metrics[0].settling_s.is_some() && r.metrics[0].iae > r.step * 10.0, "{:?}", r.metrics);
        let (fit, pi) = tune(&config, &sims, "kiln-temp", 5.0, slow * 5, slow * 10).unwrap();
        assert!((fit.gain - 21.0).abs() < 0.1, "{fit:?}");
        // The scan and the tick add about a period to the dead time: SIMC then detunes a little.
        assert!(fit.dead_time_s >= 10.0 && fit.dead_time_s <= 13.0, "{fit:?}");
        assert!(pi.gain < 0.2857 && pi.gain > 0.2, "{pi:?}");
        let wrong = setpoint_step(&config, &sims, &["kiln-temp"], Some("kiln.fan"), None, slow, slow);
        assert!(wrong.unwrap_err().contains("kiln.fan is not a CV of kiln-temp"));
    }
}
