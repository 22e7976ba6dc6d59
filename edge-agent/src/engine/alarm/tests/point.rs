//! Every condition besides the limits, on a fake clock, table-driven: what is fed when, and what the
//! condition is after it.

use super::*;
use crate::engine::alarm::point::PointTags;
use crate::engine::alarm::{AlarmPoint, DeviationConfig, DigitalConfig, LifecycleState, RateConfig};

pub const SETPOINT: TagId = TagId(5);
pub const LIFECYCLE: TagId = TagId(6);
pub const EVENT: TagId = TagId(7);

pub fn point(cfg: &AlarmConfig) -> AlarmPoint {
    let tags = PointTags {
        watched: TEMP,
        setpoint: cfg.deviation.as_ref().map(|_| SETPOINT),
        limit_state: STATE,
        lifecycle: LIFECYCLE,
        event: EVENT,
    };
    AlarmPoint::new(cfg, tags)
}

pub fn bare() -> AlarmConfig {
    AlarmConfig { on_delay: Span::secs(5), ..AlarmConfig::on(Spanned::new(0..0, "kiln.temp".to_owned())) }
}

#[derive(Clone, Copy)]
pub enum In {
    V(f64),
    Sp(f64),
    Fault,
    T,
}

/// Feeds `(time, input)` steps and checks whether `condition` is active after each.
fn replay(cfg: AlarmConfig, condition: &str, steps: &[(&str, In, bool)]) -> Vec<String> {
    let mut p = point(&cfg);
    let mut out = Emitter::default();
    for &(t, input, active) in steps {
        let ts = at(t);
        match input {
            In::V(v) => p.on_sample(&Sample::good(TEMP, ts, Value::Float(v)), &mut out),
            In::Sp(v) => p.on_sample(&Sample::good(SETPOINT, ts, Value::Float(v)), &mut out),
            In::Fault => p.on_sample(&Sample::bad(TEMP, ts, Reason::Timeout), &mut out),
            In::T => p.on_tick(ts, &mut out),
        }
        let l = p.lifecycle(condition).unwrap();
        assert_eq!(l.active, active, "{condition} at {t}: {:?}", l);
    }
    out.events.into_iter().map(|e| e.message).collect()
}

use In::*;

#[test]
fn rate_of_change_with_on_delay() {
    let cfg = AlarmConfig { rate: Some(RateConfig { limit: 10.0, per: Span::secs(60) }), ..bare() };
    let events = replay(
        cfg,
        "RATE",
        &[
            ("10:00:00", V(500.0), false),
            ("10:00:10", V(501.0), false), // 6 per minute
            ("10:00:20", V(504.0), false), // 18 per minute: the delay starts
            ("10:00:24", T, false),
            ("10:00:25", T, true),
            ("10:00:30", V(505.0), false), // 6 per minute: back under, and no off delay
            ("10:00:40", V(510.0), false), // 30 per minute: the delay starts again
            ("10:00:45", T, true),
        ],
    );
    assert_eq!(events[0], "kiln.temp RATE active, priority medium: rising 18.000 per 1m, limit 10 for 5s");
}

#[test]
fn deviation_from_the_setpoint_tag_with_deadband() {
    let cfg = AlarmConfig {
        deviation: Some(DeviationConfig { setpoint: Spanned::new(0..0, "kiln.sp".into()), limit: 20.0 }),
        deadband: 5.0,
        on_delay: Span::secs(0),
        ..bare()
    };
    replay(
        cfg,
        "DEVIATION",
        &[
            ("10:00:00", V(900.0), false), // no setpoint yet: nothing to compare
            ("10:00:01", Sp(880.0), false),
            ("10:00:02", V(899.0), false),
            ("10:00:03", V(901.0), true),
            ("10:00:04", V(896.0), true), // 16 off: inside the deadband
            ("10:00:05", V(894.0), false),
            ("10:00:06", Sp(920.0), false),
            ("10:00:07", V(894.0), true), // the setpoint moved away
        ],
    );
}

#[test]
fn stale_when_no_sample_arrives_and_back_with_the_next() {
    let cfg = AlarmConfig { stale: Some(Span::secs(30)), ..bare() };
    let events = replay(
        cfg,
        "STALE",
        &[
            ("10:00:00", V(900.0), false),
            ("10:00:29", T, false),
            ("10:00:30", T, true),
            ("10:05:00", T, true),
            ("10:05:01", Fault, false), // a bad sample is still a sample
            ("10:05:20", T, false),
        ],
    );
    let stale: Vec<&String> = events.iter().filter(|e| e.contains("STALE")).collect();
    assert_eq!(stale[0], "kiln.temp STALE active, priority medium: no sample for 30s");
    assert_eq!(stale[1], "kiln.temp STALE returned to normal (still unacknowledged): a sample arrived");
}

#[test]
fn frozen_when_the_value_does_not_move_for_long() {
    let cfg = AlarmConfig { frozen: Some(Span::secs(600)), frozen_band: 0.1, ..bare() };
    replay(
        cfg,
        "FROZEN",
        &[
            ("10:00:00", V(900.0), false),
            ("10:05:00", V(900.05), false),
            ("10:09:59", V(900.0), false),
            ("10:10:00", V(900.0), true),
            ("10:11:00", V(900.2), false),
            ("10:15:00", Fault, false),
            ("10:21:00", V(900.2), false), // the bad value broke the run: a fresh 10 minutes from here
            ("10:31:00", V(900.2), true),
        ],
    );
}

#[test]
fn bad_quality_with_on_and_off_delays() {
    let cfg = AlarmConfig { bad_quality: true, off_delay: Span::secs(3), ..bare() };
    replay(
        cfg,
        "BAD_QUALITY",
        &[
            ("10:00:00", V(900.0), false),
            ("10:00:01", Fault, false),
            ("10:00:05", Fault, false),
            ("10:00:06", T, true),
            ("10:00:07", V(900.0), true),
            ("10:00:09", T, true),
            ("10:00:10", T, false),
        ],
    );
}

#[test]
fn digital_state_off_normal() {
    let cfg = AlarmConfig {
        digital: Some(DigitalConfig { normal: 0.0, label: Some("TRIP".into()) }),
        on_delay: Span::secs(0),
        ..bare()
    };
    let events = replay(
        cfg,
        "TRIP",
        &[
            ("10:00:00", V(0.0), false),
            ("10:00:01", V(1.0), true),
            ("10:00:02", Fault, true),
            ("10:00:03", V(0.0), false),
        ],
    );
    assert_eq!(events[0], "kiln.temp TRIP active, priority medium: 1, normal is 0");
}

#[test]
fn limit_levels_each_have_a_lifecycle_and_the_tag_state_shows_the_most_pressing() {
    let mut p = point(&kiln());
    let mut out = Emitter::default();
    p.on_sample(&Sample::good(TEMP, at("10:00:00"), Value::Float(1_010.0)), &mut out);
    p.on_tick(at("10:00:10"), &mut out);
    assert!(p.lifecycle("HIGH_HIGH").unwrap().active && p.lifecycle("HIGH").unwrap().active);
    assert_eq!(p.state(), LifecycleState::Unacknowledged);
    let texts: Vec<String> = out
        .samples
        .iter()
        .filter(|s| s.tag == EVENT)
        .map(|s| match s.value {
            Value::Text(t) => out.texts.get(t).unwrap().to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        [
            "kiln.temp HIGH_HIGH active, priority medium: kiln.temp HIGH_HIGH: 1010 above 1000 for 10s",
            "kiln.temp HIGH active, priority medium: kiln.temp HIGH_HIGH: 1010 above 1000 for 10s",
        ]
    );
    let states: Vec<(Timestamp, Value)> =
        out.samples.iter().filter(|s| s.tag == LIFECYCLE).map(|s| (s.ts, s.value)).collect();
    assert_eq!(states, [(at("10:00:00"), Value::Int(0)), (at("10:00:10"), Value::Int(1))]);
    assert!(out.samples.iter().any(|s| s.tag == STATE && s.value == Value::Int(2)), "the limit state stays");
}
