//! A press over one day shift on a fake clock: a stop in the middle, counters, OEE at the shift's
//! end; runtime hours and starts across a restart; rules and their mistakes from the TOML.

use protocols::{Sample, TagId, Timestamp, Value};

use super::MachineState;
use crate::engine::{Emitter, Engine};

const PLANT: &str = r#"
[[sim.device]]
name = "冲压机7"
tags = [
  { name = "冲压机7.速度", shape = "constant" },
  { name = "冲压机7.故障", shape = "constant" },
  { name = "冲压机7.产量", shape = "counter" },
  { name = "冲压机7.合格", shape = "counter" },
]

[[equipment]]
name = "冲压机7"
states = [
  { state = "fault", when = "冲压机7.故障 != 0" },
  { state = "running", when = "冲压机7.速度 > 5" },
]
total = "冲压机7.产量"
good = "冲压机7.合格"
ideal_cycle = "30s"
max_gap = "2h"
shifts = { utc_offset = "+08:00", list = [{ name = "白班", start = "08:00", end = "16:00" }] }
"#;

fn press() -> (Box<dyn Engine>, impl Fn(&str) -> TagId) {
    let cfg = crate::config::parse(PLANT, "t.toml", &|_| None).unwrap();
    let registry = cfg.tags.registry.clone();
    let engine = cfg.engines[0].build(&|t| registry.id(t)).unwrap();
    (engine, move |t: &str| registry.id(t).unwrap())
}

/// 2023-11-15 at h:m:s in Beijing (UTC+8).
fn at(h: i64, m: i64, s: i64) -> Timestamp {
    Timestamp::from_secs(1_699_977_600 + h * 3600 + m * 60 + s)
}

fn last(out: &Emitter, tag: TagId) -> Option<(Timestamp, f64)> {
    out.samples.iter().rev().find(|s| s.tag == tag).map(|s| (s.ts, s.value.as_f64().unwrap()))
}

#[test]
fn oee_over_a_shift_with_an_hour_of_downtime() {
    let (mut e, id) = press();
    let mut out = Emitter::default();
    let mut put = |tag: &str, ts, v: f64| e.on_sample(&Sample::good(id(tag), ts, Value::Float(v)), &mut out);
    put("冲压机7.故障", at(8, 0, 0), 0.0);
    put("冲压机7.产量", at(8, 0, 0), 1_000.0);
    put("冲压机7.合格", at(8, 0, 0), 990.0);
    put("冲压机7.速度", at(8, 0, 0), 12.0);
    put("冲压机7.速度", at(10, 0, 0), 0.0); // stopped for an hour
    put("冲压机7.速度", at(11, 0, 0), 12.0);
    for h in 12..16 {
        put("冲压机7.速度", at(h, 0, 0), 12.0);
    }
    put("冲压机7.产量", at(15, 59, 59), 1_720.0);
    put("冲压机7.合格", at(15, 59, 59), 1_690.0);
    put("冲压机7.速度", at(16, 0, 30), 12.0);
    let end = at(16, 0, 0);
    let figure = |t: &str| last(&out, id(t)).unwrap();
    let (ts, a) = figure("冲压机7.availability");
    assert_eq!(ts, end, "final figures are stamped with the shift's end");
    assert!((a - 7.0 / 8.0).abs() < 1e-12, "7 h running of 8: {a}");
    let (_, p) = figure("冲压机7.performance");
    assert!((p - 30.0 * 720.0 / (7.0 * 3600.0)).abs() < 1e-12, "{p}");
    let (_, q) = figure("冲压机7.quality");
    assert!((q - 700.0 / 720.0).abs() < 1e-12, "{q}");
    let (_, oee) = figure("冲压机7.oee");
    assert!((oee - a * p * q).abs() < 1e-12);
    let ended = out.events.iter().find(|e| e.message.contains("shift 白班 ended")).unwrap();
    assert_eq!(
        ended.message,
        "冲压机7 shift 白班 ended: availability 87.5%, performance 85.7%, quality 97.2%, OEE 72.9%; ran 7.00 h of 8.00 h"
    );
    let states: Vec<i64> = out
        .samples
        .iter()
        .filter(|s| s.tag == id("冲压机7.state"))
        .map(|s| match s.value {
            Value::Int(c) => c,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(states, [0, 1, 0, 1], "stopped until the speed is known, then running, stopped, running");
    assert_eq!(last(&out, id("冲压机7.starts")).unwrap().1, 2.0);
}

#[test]
fn runtime_hours_and_starts_carry_on_after_a_restart_and_a_long_silence_is_not_counted() {
    let (mut e, id) = press();
    let mut out = Emitter::default();
    let speed = id("冲压机7.速度");
    e.on_sample(&Sample::good(speed, at(8, 0, 0), Value::Float(0.0)), &mut out);
    e.on_sample(&Sample::good(speed, at(8, 0, 0), Value::Float(10.0)), &mut out);
    e.on_sample(&Sample::good(speed, at(9, 30, 0), Value::Float(10.0)), &mut out);
    let saved = e.save().unwrap();
    let (mut again, _) = press();
    again.restore(saved).unwrap();
    // Four hours of silence (the gateway was off): only max_gap (2 h) of it is running time.
    again.on_sample(&Sample::good(speed, at(13, 30, 0), Value::Float(0.0)), &mut out);
    again.on_sample(&Sample::good(speed, at(13, 40, 0), Value::Float(10.0)), &mut out);
    again.on_tick(at(13, 40, 5), &mut out);
    let hours = out.samples.iter().rev().find(|s| s.tag == id("冲压机7.runtime_hours")).unwrap();
    assert_eq!(hours.value, Value::Float(3.5), "1.5 h, then 2 of the 4 silent hours");
    assert_eq!(
        out.samples.iter().rev().find(|s| s.tag == id("冲压机7.starts")).unwrap().value,
        Value::UInt(2)
    );
    let fault = id("冲压机7.故障");
    again.on_sample(&Sample::good(fault, at(13, 41, 0), Value::Bool(true)), &mut out);
    assert_eq!(out.samples.last().map(|s| s.tag), Some(id("冲压机7.runtime_hours")));
    let state = out.samples.iter().rev().find(|s| s.tag == id("冲压机7.state")).unwrap();
    assert_eq!(state.value, Value::Int(MachineState::Fault.code()), "fault is the first rule");
}

#[test]
fn rule_mistakes_are_reported_at_their_place() {
    let bad =
        PLANT.replace("冲压机7.速度 > 5", "冲压机7.速度 + 5").replace(r#"end = "16:00""#, r#"end = "25:00""#);
    let lines = crate::config::parse(&bad, "t.toml", &|_| None).unwrap_err().lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("t.toml:15:31: equipment 冲压机7: the expression must give a condition"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("equipment 冲压机7: shift 白班: \"25:00\" is not a time of day"),
        "{}",
        lines[1]
    );
}
