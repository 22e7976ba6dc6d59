//! Fail-safe: a lost or bad PV, a write that fails or is not confirmed, a late tick; and cascade.

use std::time::Duration;

use protocols::Timestamp;
use serde_json::json;

use super::{SIMC, T0, harness, kiln};
use crate::engine::control::simulate::{Harness, good};
use crate::engine::{Emitter, Engine};

fn alarms(h: &Harness) -> Vec<String> {
    h.events.iter().map(|e| e.message.clone()).filter(|m| m.starts_with("ALARM")).collect()
}

fn fault(h: &Harness) -> Option<String> {
    h.status().unwrap()["fault"]["kind"].as_str().map(str::to_owned)
}

#[test]
fn a_frozen_pv_holds_the_output_raises_an_alarm_and_resumes_when_it_returns() {
    let mut h = harness(&kiln(&format!("setpoint = 865.0\nstale_after = \"5s\"\n{SIMC}")));
    h.run_for(Duration::from_secs(600));
    h.command(json!({"setpoint": 900.0})).unwrap();
    h.run_for(Duration::from_secs(20));
    let temp = h.tag("kiln.temp");
    h.silent.insert(temp);
    h.run_for(Duration::from_secs(6));
    let held = h.trace.last().unwrap().op[0];
    h.run_for(Duration::from_secs(60));
    assert_eq!(fault(&h).as_deref(), Some("input_stale"));
    assert_eq!(h.value("kiln.fuel_valve"), Some(held), "hold: the valve stays where it was");
    assert_eq!(alarms(&h).len(), 1, "{:?}", h.events);
    h.silent.clear();
    h.run_for(Duration::from_secs(600));
    assert_eq!(fault(&h), None);
    assert!((h.value("kiln.temp").unwrap() - 900.0).abs() < 1.0, "back in control");
    assert!(h.events.iter().any(|e| e.message.contains("cleared")));
}

#[test]
fn a_bad_pv_drives_the_output_to_its_safe_value() {
    let keys = format!("setpoint = 865.0\nfail_safe = \"safe_output\"\nsafe_output = 5.0\n{SIMC}");
    let mut h = harness(&kiln(&keys));
    h.run_for(Duration::from_secs(300));
    h.bad.insert(h.tag("kiln.temp"));
    h.run_for(Duration::from_secs(3));
    assert_eq!(fault(&h).as_deref(), Some("input_bad"));
    assert_eq!(h.trace.last().unwrap().op[0], 5.0);
    assert!(alarms(&h)[0].contains("kiln.temp is bad (timeout)"), "{:?}", alarms(&h));
}

#[test]
fn a_failed_write_switches_to_manual_until_an_operator_puts_it_back() {
    let mut h = harness(&kiln(&format!("setpoint = 865.0\nfail_safe = \"manual\"\n{SIMC}")));
    h.run_for(Duration::from_secs(120));
    h.refuse_writes = Some("exception 4 (server device failure)".into());
    h.command(json!({"setpoint": 880.0})).unwrap();
    h.run_for(Duration::from_secs(5));
    assert_eq!(h.status().unwrap()["mode"], "manual");
    assert_eq!(fault(&h).as_deref(), Some("write_failed"));
    h.refuse_writes = None;
    h.run_for(Duration::from_secs(60));
    assert_eq!(fault(&h).as_deref(), Some("write_failed"), "latched: the actuator's state is unknown");
    assert_eq!(h.status().unwrap()["mode"], "manual");
    h.command(json!({"mode": "auto"})).unwrap();
    h.run_for(Duration::from_secs(600));
    assert_eq!(fault(&h), None);
    assert!((h.value("kiln.temp").unwrap() - 880.0).abs() < 1.0);
}

#[test]
fn a_write_the_device_does_not_follow_is_caught_by_read_back() {
    let keys = format!("setpoint = 865.0\nverify_timeout = \"5s\"\n{SIMC}");
    let mut h = harness(&kiln(&keys));
    h.run_for(Duration::from_secs(300));
    h.ignore_writes = true;
    h.command(json!({"setpoint": 950.0})).unwrap();
    h.run_for(Duration::from_secs(4));
    assert_eq!(fault(&h), None, "within the verify timeout");
    h.run_for(Duration::from_secs(4));
    assert_eq!(fault(&h).as_deref(), Some("readback_mismatch"));
    let held = h.trace.last().unwrap().op[0];
    h.run_for(Duration::from_secs(30));
    assert_eq!(h.trace.last().unwrap().op[0], held);
}

#[test]
fn a_late_tick_is_a_missed_deadline() {
    let text = kiln(&format!("setpoint = 865.0\nperiod = \"100ms\"\n{SIMC}"));
    let config = crate::config::parse(&text, "t.toml", &|_| None).unwrap();
    let (pv, valve) =
        (config.tags.registry.id("kiln.temp").unwrap(), config.tags.registry.id("kiln.fuel_valve").unwrap());
    let cfg = crate::engine::control::simulate::find_loop(&config, "kiln-temp").unwrap();
    let mut engine = cfg.build_in(&config.tags).unwrap();
    let mut out = Emitter::default();
    let at = |ms: i64| Timestamp(T0.0 + ms * 1_000_000);
    let feed = |e: &mut Box<dyn Engine>, ms: i64, out: &mut Emitter| {
        e.on_sample(&good(pv, at(ms), 850.0), out);
        e.on_sample(&good(valve, at(ms), 40.0), out);
        e.on_tick(at(ms), out);
    };
    for ms in (0..=1000).step_by(100) {
        feed(&mut engine, ms, &mut out);
    }
    assert!(out.events.is_empty(), "{:?}", out.events);
    // 100 ms period, deadline one more period: 250 ms between ticks is late.
    feed(&mut engine, 1250, &mut out);
    assert!(out.events[0].message.contains("tick 150.0ms late"), "{:?}", out.events);
    feed(&mut engine, 1350, &mut out);
    assert!(out.events[1].message.contains("cleared"), "{:?}", out.events);
}

const CASCADE: &str = r#"
[[sim.device]]
name = "kiln"
scan = "1s"
tags = [
  { name = "kiln.fuel_valve", shape = "constant", offset = 40.0, writable = { min = 0.0, max = 100.0 } },
  { name = "kiln.fuel_flow", shape = "fopdt", input = "kiln.fuel_valve", gain = 2.0, time_constant = "5s", dead_time = "1s" },
  { name = "kiln.temp", shape = "fopdt", input = "kiln.fuel_flow", gain = 10.5, offset = 25.0, time_constant = "2m", dead_time = "10s" },
]

[[control.pid]]
name = "kiln-temp"
pv = "kiln.fuel_flow"
output = "kiln.fuel_valve"
setpoint = 80.0
setpoint_limits = { min = 0.0, max = 250.0 }
mode = "cascade"
tuning = { gain = 0.5, integral = "4s" }

[control.pid.outer]
pv = "kiln.temp"
setpoint = 865.0
setpoint_limits = { min = 0.0, max = 2500.0 }
tuning = { gain = 0.57, integral = "80s" }
every = 2
"#;

#[test]
fn cascade_the_master_stops_pushing_while_the_inner_valve_is_stuck() {
    let mut h = harness(CASCADE);
    h.run_for(Duration::from_secs(900));
    assert!((h.value("kiln.temp").unwrap() - 865.0).abs() < 1.0, "{:?}", h.status());
    // 2200 °C needs more fuel than the valve passes: the inner valve saturates at 100 %.
    h.command(json!({"outer_setpoint": 2200.0})).unwrap();
    h.run_for(Duration::from_secs(900));
    assert_eq!(h.value("kiln.fuel_valve"), Some(100.0));
    let sp = h.status().unwrap()["sp"].as_f64().unwrap();
    // Back-propagation: the inner SP stays near the flow the open valve gives (200), not at its 250 limit.
    assert!(sp < 210.0, "inner SP wound up to {sp}");
    h.command(json!({"outer_setpoint": 1500.0})).unwrap();
    let t = h.trace.last().unwrap().t;
    h.run_for(Duration::from_secs(60));
    let left = h.trace.iter().find(|p| p.t > t && p.op[0] < 99.0).map(|p| p.t - t);
    assert!(left.is_some_and(|s| s < 30.0), "valve left 100 % after {left:?} s");
    // Outer PV lost: the cascade sheds to auto on the inner loop.
    h.silent.insert(h.tag("kiln.temp"));
    h.run_for(Duration::from_secs(10));
    assert_eq!(h.status().unwrap()["mode"], "auto");
}

#[test]
fn config_mistakes_point_at_their_place() {
    let text = r#"
[[sim.device]]
name = "kiln"
tags = [
  { name = "kiln.fuel_valve", shape = "constant" },
  { name = "kiln.temp", shape = "constant" },
]

[[control.pid]]
name = "kiln-temp"
pv = "kiln.temp"
output = "kiln.fuel_valve"
tuning = { form = "parallel", gain = 1.0 }
fail_safe = "safe_output"
derivative_time = "1s"
"#;
    let errors = crate::config::parse(text, "agent.toml", &|_| None).unwrap_err().lines();
    assert!(
        errors.iter().any(|l| l.starts_with("agent.toml:15:1: unknown field `derivative_time`")),
        "{errors:#?}"
    );
    let text = text.replace("derivative_time = \"1s\"\n", "");
    let errors = crate::config::parse(&text, "agent.toml", &|_| None).unwrap_err().lines();
    assert_eq!(
        errors,
        [
            "agent.toml:12:10: control.pid \"kiln-temp\": output tag \"kiln.fuel_valve\", which is not writable; add `writable = { min = .., max = .. }` to its tag",
            "agent.toml:13:10: control.pid \"kiln-temp\": `gain`, `integral` and `derivative` belong to the ISA form; with form = \"parallel\" write `kp`, `ki`, `kd`",
            "agent.toml:14:13: control.pid \"kiln-temp\": fail_safe = \"safe_output\" needs `safe_output = <value>`, the output to go to",
        ]
    );
}
