//! The Wood–Berry column (1973) under MPC and under decentralised PI, on a fake clock.

use std::time::Duration;

use protocols::Timestamp;
use serde_json::json;

use crate::engine::control::simulate::{Harness, harness_for, iae, step_metrics};

const T0: Timestamp = Timestamp(1_700_000_000_000_000_000);

const COLUMN: &str = r#"
[[sim.device]]
name = "column"
scan = "10s"
tags = [
  { name = "col.reflux", shape = "constant", offset = 1.95, writable = { min = 0.0, max = 4.0 } },
  { name = "col.steam", shape = "constant", offset = 1.71, writable = { min = 0.0, max = 4.0 } },
  { name = "col.xd", shape = "wood_berry", composition = "top", reflux = "col.reflux", steam = "col.steam" },
  { name = "col.xb", shape = "wood_berry", composition = "bottom", reflux = "col.reflux", steam = "col.steam" },
]
"#;

/// The published model (Wood & Berry 1973), scaled by `k` to test a model that is wrong.
fn mpc(k: f64, extra: &str) -> String {
    format!(
        r#"{COLUMN}
[[control.mpc]]
name = "column"
period = "1m"
prediction_horizon = 30
control_horizon = 10
cv = [{{ tag = "col.xd", setpoint = 96.0 }}, {{ tag = "col.xb", setpoint = 0.5 }}]
mv = [
  {{ tag = "col.reflux", min = 1.0, max = 3.0, rate = 0.1, move_weight = 0.5 }},
  {{ tag = "col.steam", min = 1.0, max = 3.0, rate = 0.1, move_weight = 0.5 }},
]
model = {{ fopdt = [
  [{{ gain = {a}, time_constant = "16.7m", dead_time = "1m" }}, {{ gain = {b}, time_constant = "21m", dead_time = "3m" }}],
  [{{ gain = {c}, time_constant = "10.9m", dead_time = "7m" }}, {{ gain = {d}, time_constant = "14.4m", dead_time = "3m" }}],
] }}
{extra}
"#,
        a = 12.8 * k,
        b = -18.9 * k,
        c = 6.6 * k,
        d = -19.4 * k
    )
}

/// Decentralised PI, xD on reflux and xB on steam, with the BLT settings Luyben (1986) gives for the
/// column: Kc 0.375 and −0.075, τI 8.29 and 23.6 min.
fn pi() -> String {
    format!(
        r#"{COLUMN}
[[control.pid]]
name = "top"
pv = "col.xd"
output = "col.reflux"
setpoint = 96.0
period = "1m"
tuning = {{ gain = 0.375, integral = "8.29m" }}

[[control.pid]]
name = "bottom"
pv = "col.xb"
output = "col.steam"
setpoint = 0.5
period = "1m"
tuning = {{ gain = 0.075, integral = "23.6m", action = "direct" }}
"#
    )
}

fn harness(text: &str, loops: &[&str]) -> Harness {
    harness_for(text, loops, T0).unwrap_or_else(|e| panic!("{e}"))
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

/// A +1 mol % step on the top composition at 30 min; IAE of both CVs over the next 150 min.
fn top_step(h: &mut Harness, step: impl FnOnce(&mut Harness)) -> (f64, f64, f64) {
    h.run_for(minutes(30));
    let t = h.trace.last().unwrap().t;
    step(h);
    h.run_for(minutes(150));
    let top = step_metrics(&h.trace, 0, t, 1.0);
    assert!(top.settling_s.is_some(), "{top:?}");
    (top.iae, iae(&h.trace, 1, t), top.overshoot_pct)
}

#[test]
fn mpc_on_the_wood_berry_column_follows_a_top_step_and_holds_the_bottoms() {
    let mut h = harness(&mpc(1.0, ""), &["column"]);
    let (top, bottom, overshoot) = top_step(&mut h, |h| {
        h.command(json!({"cv": {"col.xd": {"setpoint": 97.0}}})).unwrap();
    });
    assert!((h.value("col.xd").unwrap() - 97.0).abs() < 0.01);
    assert!((h.value("col.xb").unwrap() - 0.5).abs() < 0.01);
    assert!(overshoot < 10.0, "{overshoot}");
    // Reflux acts after 1 min of dead time: no controller does better than 60 mol%·s.
    assert!(top > 60.0 && top < 1500.0, "top IAE {top}");
    assert!(bottom < 600.0, "bottom IAE {bottom}");
}

#[test]
fn mpc_beats_decentralised_pi_on_the_same_step() {
    let mut m = harness(&mpc(1.0, ""), &["column"]);
    let (mt, mb, _) = top_step(&mut m, |h| {
        h.command(json!({"cv": {"col.xd": {"setpoint": 97.0}}})).unwrap();
    });
    let mut p = harness(&pi(), &["top", "bottom"]);
    let (pt, pb, _) = top_step(&mut p, |h| {
        h.command_to(0, json!({"setpoint": 97.0})).unwrap();
    });
    assert!((p.value("col.xd").unwrap() - 97.0).abs() < 0.05, "PI settles too");
    assert!(mt + mb < pt + pb, "MPC IAE {mt:.0} + {mb:.0}, PI IAE {pt:.0} + {pb:.0}");
}

#[test]
fn a_wrong_model_still_reaches_the_setpoints_offset_free() {
    let mut h = harness(&mpc(0.8, ""), &["column"]);
    h.run_for(minutes(30));
    h.command(json!({"cv": {"col.xd": {"setpoint": 96.5}, "col.xb": {"setpoint": 1.0}}})).unwrap();
    h.run_for(minutes(300));
    assert!((h.value("col.xd").unwrap() - 96.5).abs() < 0.01, "{:?}", h.status());
    assert!((h.value("col.xb").unwrap() - 1.0).abs() < 0.01, "{:?}", h.status());
}

#[test]
fn hard_input_limits_and_rates_hold_whatever_the_setpoints_ask() {
    let mut h = harness(&mpc(1.0, ""), &["column"]);
    let steps = [(99.5, 0.1), (90.0, 5.0), (97.0, 0.0), (93.0, 3.0), (99.9, 4.0)];
    for (xd, xb) in steps {
        h.command(json!({"cv": {"col.xd": {"setpoint": xd}, "col.xb": {"setpoint": xb}}})).unwrap();
        h.run_for(minutes(40));
    }
    let near = |u: f64, limit: f64| (u - limit).abs() < 1e-3;
    assert!(
        h.trace.iter().any(|p| p.op.iter().any(|&u| near(u, 3.0) || near(u, 1.0))),
        "the limits were reached"
    );
    for w in h.writes.iter().filter_map(|w| w.value.as_f64()) {
        assert!((1.0..=3.0).contains(&w), "wrote {w}");
    }
    for pair in h.trace.windows(2) {
        for (a, b) in pair[0].op.iter().zip(&pair[1].op) {
            assert!((b - a).abs() <= 0.1 + 1e-9, "{a} → {b}");
        }
    }
}

#[test]
fn an_infeasible_qp_holds_the_moves_raises_an_alarm_then_takes_the_fail_safe() {
    let mut h = harness(&mpc(1.0, "max_failed_solves = 3\nfail_safe = \"manual\""), &["column"]);
    h.run_for(minutes(10));
    // Reflux is at 1.95: a maximum of 1.5 cannot be reached at 0.1 per period in one move, and the
    // QP's hard limits make the problem infeasible for several periods.
    h.command(json!({"mv": {"col.reflux": {"max": 1.5, "rate": 0.01}}})).unwrap();
    let (before, t) = (h.trace.last().unwrap().op.clone(), h.trace.last().unwrap().t);
    h.run_for(minutes(2));
    assert!(h.trace.iter().filter(|p| p.t > t).all(|p| p.op == before), "holds the last safe move");
    assert!(h.events.iter().any(|e| e.message.starts_with("ALARM QP not solved")), "{:?}", h.events);
    h.run_for(minutes(3));
    let status = h.status().unwrap();
    assert_eq!(status["fault"]["kind"], "solve_failed", "{status}");
    assert_eq!(status["mode"], "manual");
}

#[test]
fn the_target_layer_spends_the_cheaper_input_when_only_limits_bind() {
    // xD only has to stay above 95.5 and xB below 1.0: the economics choose where inside.
    let extra = "";
    let text = mpc(1.0, extra)
        .replace(r#"{ tag = "col.xd", setpoint = 96.0 }"#, r#"{ tag = "col.xd", min = 95.5 }"#)
        .replace(r#"{ tag = "col.xb", setpoint = 0.5 }"#, r#"{ tag = "col.xb", max = 1.0 }"#)
        .replace("rate = 0.1, move_weight = 0.5 }", "rate = 0.1, move_weight = 0.5, cost = 1.0 }");
    let mut h = harness(&text, &["column"]);
    h.run_for(minutes(200));
    let (xd, xb) = (h.value("col.xd").unwrap(), h.value("col.xb").unwrap());
    assert!(xd > 95.5 - 0.05 && xb < 1.0 + 0.05, "inside the limits: {xd} {xb}");
    // Both flows cost: the column runs at the least reflux and steam that keep both limits.
    let (r, s) = (h.value("col.reflux").unwrap(), h.value("col.steam").unwrap());
    assert!(r + s < 1.95 + 1.71 - 0.05, "it saved: reflux {r}, steam {s}");
    assert!((xd - 95.5).abs() < 0.05 || (xb - 1.0).abs() < 0.05, "a limit binds: {xd} {xb}");
}
