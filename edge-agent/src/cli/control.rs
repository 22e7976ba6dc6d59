//! `edge-agent control simulate`: a closed-loop step test of one loop against its simulated plant,
//! offline and faster than real time: IAE, overshoot and settling time on stdout, a plot of SP, PV and OP
//! as SVG; `--tune` fits the plant from an open-loop step and suggests SIMC PI settings.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use drivers::units::Span;

use crate::config;
use crate::engine::control::simulate::sim_devices;
use crate::engine::control::steptest::{self, StepReport};
use crate::engine::control::svg;

#[derive(Args, Debug)]
pub struct SimulateArgs {
    #[arg(short, long, default_value = super::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// The loop's name, as in its `name = ".."`; give it again for loops that run together
    /// (decentralised control): the first's CV is stepped unless `--cv` names another.
    #[arg(long = "loop", required = true)]
    pub names: Vec<String>,
    /// Size of the setpoint step, in PV units (default 5 % of the SP).
    #[arg(long)]
    pub step: Option<f64>,
    /// The CV to step, for an MPC (default its first).
    #[arg(long)]
    pub cv: Option<String>,
    /// Time to settle before the step (default 5 × the plant's slowest τ + θ).
    #[arg(long)]
    pub warmup: Option<Span>,
    /// Time after the step (default 10 × the plant's slowest τ + θ).
    #[arg(long)]
    pub duration: Option<Span>,
    /// Where the SVG plot goes (default `<loop>-step.svg`).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Also fit the plant from an open-loop output step and suggest PI settings (SIMC).
    #[arg(long)]
    pub tune: bool,
}

pub fn simulate(args: SimulateArgs) -> ExitCode {
    let cfg = match config::load(&args.config) {
        Ok(cfg) => cfg,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    let text = std::fs::read_to_string(&args.config).unwrap_or_default();
    let sims = match sim_devices(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    let names: Vec<&str> = args.names.iter().map(String::as_str).collect();
    let name = args.names.join("+");
    let slowest = names.iter().map(|n| steptest::slowest(&cfg, &sims, n)).max().unwrap_or_default();
    let warmup = args.warmup.map_or(slowest * 5, Span::get);
    let after = args.duration.map_or(slowest * 10, Span::get);
    let started = Instant::now();
    let report =
        match steptest::setpoint_step(&cfg, &sims, &names, args.cv.as_deref(), args.step, warmup, after) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
    let simulated = warmup + after;
    print!("{}", describe(&name, &report));
    println!(
        "simulated {} in {:.2}s ({:.0}× real time)",
        Span(simulated),
        started.elapsed().as_secs_f64(),
        simulated.as_secs_f64() / started.elapsed().as_secs_f64().max(1e-9)
    );
    let plot = args.plot.clone().unwrap_or_else(|| PathBuf::from(format!("{name}-step.svg")));
    let title = format!("{name}: SP step of {:+} on {}", report.step, report.cvs[report.stepped]);
    if let Err(e) = std::fs::write(&plot, svg::plot(&title, &report.trace, &report.cvs, &report.mvs)) {
        eprintln!("error: cannot write {}: {e}", plot.display());
        return ExitCode::FAILURE;
    }
    println!("plot: {}", plot.display());
    if args.tune {
        let du = output_step(&cfg, &report);
        match steptest::tune(&cfg, &sims, names[0], du, warmup, after) {
            Ok((fit, pi)) => {
                println!(
                    "fitted (two-point, OP step {du:+}): gain {:.4} per unit OP, time constant {:.1}s, dead time {:.1}s",
                    fit.gain, fit.time_constant_s, fit.dead_time_s
                );
                let action = if fit.gain < 0.0 { ", action = \"direct\"" } else { "" };
                println!(
                    "SIMC PI (τc = {:.1}s): tuning = {{ gain = {:.4}, integral = \"{:.1}s\"{action} }}",
                    pi.closed_loop_s, pi.gain, pi.integral_s
                );
            }
            Err(e) => {
                eprintln!("error: --tune: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// 5 % of the output's writable span, or 1 unit.
fn output_step(cfg: &config::Config, report: &StepReport) -> f64 {
    let span = cfg
        .tags
        .registry
        .id(&report.mvs[0])
        .and_then(|id| cfg.tags.info[id.0 as usize].writable)
        .map(|w| w.max - w.min);
    let op = report.trace.last().map_or(0.0, |p| p.op[0]);
    let du = span.map_or(1.0, |s| s * 0.05);
    // Step toward the middle of the range, so the step is not clipped by a limit.
    let mid = cfg
        .tags
        .registry
        .id(&report.mvs[0])
        .and_then(|id| cfg.tags.info[id.0 as usize].writable)
        .map_or(op + 1.0, |w| (w.min + w.max) / 2.0);
    if op > mid { -du } else { du }
}

fn describe(name: &str, r: &StepReport) -> String {
    let mut out = format!(
        "loop {name}: SP of {} stepped {} → {} at {:.0}s\n",
        r.cvs[r.stepped],
        r.from,
        r.from + r.step,
        r.t_step
    );
    for (i, (cv, m)) in r.cvs.iter().zip(&r.metrics).enumerate() {
        if i != r.stepped {
            out.push_str(&format!("  {cv}: IAE {:.3} (PV units·s) while held at its SP\n", m.iae));
            continue;
        }
        let settling = m.settling_s.map_or("not settled".to_owned(), |s| format!("{s:.0}s"));
        out.push_str(&format!(
            "  {cv}: IAE {:.3} (PV units·s), overshoot {:.1}%, settling (2%) {settling}\n",
            m.iae, m.overshoot_pct
        ));
    }
    out
}
