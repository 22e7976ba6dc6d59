//! PID loops closed on the simulated kiln (`fopdt`: 21 °C per % of fuel valve, τ 2 min, θ 10 s), on a
//! fake clock.

mod safety;

use std::time::Duration;

use protocols::Timestamp;
use serde_json::json;

use crate::engine::control::simulate::{Harness, harness_for, step_metrics};

pub(super) use crate::engine::control::fixtures::{SIMC, T0, kiln};

pub(super) fn harness(text: &str) -> Harness {
    harness_for(text, &["kiln-temp"], T0).unwrap_or_else(|e| panic!("{e}"))
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

#[test]
fn simc_pi_on_the_kiln_settles_a_setpoint_step_without_much_overshoot() {
    let mut h = harness(&kiln(&format!("setpoint = 865.0\n{SIMC}")));
    h.run_for(minutes(15));
    let before = h.value("kiln.temp").unwrap();
    assert!((before - 865.0).abs() < 0.5, "settled at the first SP: {before}");
    let t_step = h.trace.last().unwrap().t;
    h.command(json!({"setpoint": 915.0})).unwrap();
    h.run_for(minutes(20));
    let m = step_metrics(&h.trace, 0, t_step, 50.0);
    // Nothing can act within the dead time: IAE is at least step × θ.
    assert!(m.iae > 50.0 * 10.0, "{m:?}");
    // SIMC with τc = θ: closed-loop time constant ~θ, a few percent overshoot, settled in minutes.
    assert!(m.iae < 50.0 * 60.0, "{m:?}");
    assert!(m.overshoot_pct < 20.0, "{m:?}");
    assert!(m.settling_s.is_some_and(|s| s < 300.0), "{m:?}");
}

#[test]
fn setpoint_weighting_takes_the_overshoot_out_of_a_setpoint_step() {
    let run = |b: f64| {
        let tuning = format!(r#"tuning = {{ gain = 0.2857, integral = "80s", setpoint_weight = {b} }}"#);
        let mut h = harness(&kiln(&format!("setpoint = 865.0\n{tuning}")));
        h.run_for(minutes(15));
        let t = h.trace.last().unwrap().t;
        h.command(json!({"setpoint": 915.0})).unwrap();
        h.run_for(minutes(20));
        step_metrics(&h.trace, 0, t, 50.0)
    };
    let (full, half) = (run(1.0), run(0.5));
    assert!(half.overshoot_pct < full.overshoot_pct / 2.0, "b = 1: {full:?}; b = 0.5: {half:?}");
    assert!(half.settling_s.is_some(), "{half:?}");
}

#[test]
fn an_unreachable_setpoint_does_not_wind_the_integral_up() {
    for anti_windup in ["back_calculation", "conditional"] {
        let tuning =
            format!(r#"tuning = {{ gain = 0.2857, integral = "80s", anti_windup = "{anti_windup}" }}"#);
        let mut h = harness(&kiln(&format!("setpoint = 865.0\n{tuning}")));
        h.run_for(minutes(15));
        // 2200 °C needs 103.6 % of valve: the valve sits at 100 % for ten minutes.
        h.command(json!({"setpoint": 2200.0})).unwrap();
        h.run_for(minutes(10));
        assert_eq!(h.value("kiln.fuel_valve"), Some(100.0), "{anti_windup}");
        h.command(json!({"setpoint": 1800.0})).unwrap();
        let t = h.trace.last().unwrap().t;
        let excursion = 1800.0 - h.value("kiln.temp").unwrap();
        h.run_for(minutes(1));
        // Without anti-windup the integral gathered over ten minutes keeps the valve open far longer.
        let left = h.trace.iter().find(|p| p.t > t && p.op[0] < 99.0).map(|p| p.t - t);
        assert!(left.is_some_and(|s| s <= 15.0), "{anti_windup}: valve left 100 % after {left:?} s");
        h.run_for(minutes(15));
        let m = step_metrics(&h.trace, 0, t, excursion);
        assert!(m.overshoot_pct < 35.0, "{anti_windup}: {m:?}");
    }
}

#[test]
fn manual_to_auto_and_back_is_bumpless() {
    let mut h = harness(&kiln(&format!("setpoint = 865.0\nmode = \"manual\"\n{SIMC}")));
    h.run_for(minutes(2));
    h.command(json!({"mode": "manual", "output": 35.0})).unwrap();
    h.run_for(minutes(10));
    assert_eq!(h.value("kiln.fuel_valve"), Some(35.0));
    // PV ≈ 760 °C, SP 865 °C: a P term of 30 % would jump if the integral did not track.
    assert!(h.value("kiln.temp").unwrap() < 800.0);
    h.command(json!({"mode": "auto"})).unwrap();
    h.run_for(Duration::from_secs(1));
    let op = h.trace.last().unwrap().op[0];
    assert!((op - 35.0).abs() < 0.5, "first auto OP {op}");
    h.run_for(minutes(15));
    assert!((h.value("kiln.temp").unwrap() - 865.0).abs() < 1.0);
    let before = h.trace.last().unwrap().op[0];
    h.command(json!({"mode": "manual"})).unwrap();
    h.run_for(minutes(1));
    assert_eq!(h.value("kiln.fuel_valve"), Some(before), "manual holds the last OP");
}

#[test]
fn a_retune_in_auto_is_bumpless() {
    let mut twins = [0, 1].map(|_| harness(&kiln(&format!("setpoint = 865.0\n{SIMC}"))));
    for h in &mut twins {
        h.run_for(minutes(15));
        h.command(json!({"setpoint": 900.0})).unwrap();
        h.run_for(Duration::from_secs(30));
    }
    // Gain doubled while SP − PV is ~30 °C: without bumpless transfer the P term would jump by ~9 %.
    twins[1].command(json!({"tuning": {"gain": 0.5714}})).unwrap();
    let [a, b] = twins.map(|mut h| {
        h.run_for(Duration::from_secs(1));
        h.trace.last().unwrap().op[0]
    });
    assert!((a - b).abs() < 1.0, "kept tuning {a}, retuned {b}");
}

#[test]
fn isa_and_parallel_forms_of_the_same_gains_drive_the_same_output() {
    let isa = format!("setpoint = 865.0\n{SIMC}");
    let parallel = r#"setpoint = 865.0
tuning = { form = "parallel", kp = 0.2857, ki = 0.00357125 }"#;
    let mut a = harness(&kiln(&isa));
    let mut b = harness(&kiln(parallel));
    a.run_for(minutes(10));
    b.run_for(minutes(10));
    for (p, q) in a.trace.iter().zip(&b.trace) {
        assert!((p.op[0] - q.op[0]).abs() < 1e-6, "{p:?} / {q:?}");
    }
}

#[test]
fn the_output_stays_inside_its_limits_and_rate() {
    let keys =
        format!("setpoint = 865.0\noutput_limits = {{ min = 10.0, max = 60.0 }}\noutput_rate = 0.5\n{SIMC}");
    let mut h = harness(&kiln(&keys));
    h.run_for(minutes(5));
    h.command(json!({"setpoint": 1300.0})).unwrap();
    h.run_for(minutes(10));
    h.command(json!({"setpoint": 300.0})).unwrap();
    h.run_for(minutes(10));
    for w in h.trace.windows(2) {
        let (a, b) = (w[0].op[0], w[1].op[0]);
        assert!((10.0..=60.0).contains(&b), "{b}");
        assert!((b - a).abs() <= 0.5 * (w[1].t - w[0].t) + 1e-9, "{a} → {b}");
    }
    assert!(h.trace.iter().any(|p| p.op[0] == 60.0) && h.trace.iter().any(|p| p.op[0] == 10.0));
}

#[test]
fn a_loop_on_chinese_tag_names_controls_the_boiler() {
    let text = r#"
[[sim.device]]
name = "锅炉一号"
scan = "1s"
tags = [
  { name = "锅炉一号.燃料阀", shape = "constant", offset = 30.0, writable = { min = 0.0, max = 100.0 } },
  { name = "锅炉一号.温度", shape = "fopdt", input = "锅炉一号.燃料阀", gain = 4.0, offset = 20.0, time_constant = "1m", dead_time = "5s" },
]

[[control.pid]]
name = "锅炉一号.温度控制"
pv = "锅炉一号.温度"
output = "锅炉一号.燃料阀"
setpoint = 200.0
tuning = { gain = 1.5, integral = "40s" }
"#;
    let mut h = harness_for(text, &["锅炉一号.温度控制"], T0).unwrap();
    h.run_for(minutes(10));
    assert!((h.value("锅炉一号.温度").unwrap() - 200.0).abs() < 0.5);
    let config = crate::config::parse(text, "t.toml", &|_| None).unwrap();
    assert!(config.tags.registry.id("锅炉一号.温度控制.op").is_some(), "derived tags keep the plant's names");
}

#[test]
fn feedforward_moves_the_output_at_once_by_its_gain() {
    let text =
        kiln(&format!("setpoint = 865.0\nfeedforward = {{ tag = \"kiln.load\", gain = 0.5 }}\n{SIMC}"))
            .replace(
                "]\n\n[[control.pid]]",
                "  { name = \"kiln.load\", shape = \"constant\" },\n]\n\n[[control.pid]]",
            );
    let config = crate::config::parse(&text, "t.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let id = |t: &str| config.tags.registry.id(t).unwrap();
    let cfg = crate::engine::control::simulate::find_loop(&config, "kiln-temp").unwrap();
    let mut engine = cfg.build_in(&config.tags).unwrap();
    let mut out = crate::engine::Emitter::default();
    let mut tick = |s: i64, load: f64, out: &mut crate::engine::Emitter| {
        let at = Timestamp(T0.0 + s * 1_000_000_000);
        for (tag, v) in [("kiln.temp", 865.0), ("kiln.fuel_valve", 40.0), ("kiln.load", load)] {
            engine.on_sample(&crate::engine::control::simulate::good(id(tag), at, v), out);
        }
        engine.on_tick(at, out);
        let written: Vec<f64> = out.writes.drain(..).filter_map(|w| w.value.as_f64()).collect();
        for w in &written {
            let intent = crate::engine::WriteIntent {
                tag: id("kiln.fuel_valve"),
                value: protocols::Value::Float(*w),
                reason: "",
            };
            engine.on_write_result(intent, Ok(()), out);
        }
        written
    };
    // Bumpless: PV at SP, load steady, the valve is confirmed where it is.
    let steady: Vec<f64> = (0..5).flat_map(|s| tick(s, 0.0, &mut out)).collect();
    assert_eq!(steady, [40.0]);
    // PV still at SP: only the feedforward acts, 0.5 % of valve per unit of load.
    assert_eq!(tick(5, 10.0, &mut out), [45.0]);
}

#[test]
fn a_late_step_moves_the_output_at_most_one_period_of_its_rate() {
    use super::algo::{Action, AntiWindup, Gains, OutputLimits, Pid};
    let gains = Gains {
        kp: 10.0,
        ki: 0.0,
        kd: 0.0,
        b: 1.0,
        tf: 0.0,
        tt: 1.0,
        anti_windup: AntiWindup::Conditional,
        action: Action::Reverse,
    };
    let limits = OutputLimits { min: 0.0, max: 100.0, rate: Some(20.0) };
    let mut pid = Pid::new(gains, limits, 0.0).with_rate_span(0.1);
    // On time: 20 %/s over 0.1 s.
    assert!((pid.update(100.0, 0.0, 0.0, 0.1) - 2.0).abs() < 1e-9);
    // 0.4 s late: still one period's worth, not 8 %.
    assert!((pid.update(100.0, 0.0, 0.0, 0.4) - 4.0).abs() < 1e-9);
}
