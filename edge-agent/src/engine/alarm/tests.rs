//! The kiln's temperature alarm on a fake clock, read like an operator's log.

use protocols::{Quality, Reason, Sample, TagId, Timestamp, Value};
use serde_spanned::Spanned;

use super::{AlarmConfig, AlarmEngine, AlarmState};
use crate::engine::{Emitter, Engine};
use drivers::units::Span;

const TEMP: TagId = TagId(3);
const STATE: TagId = TagId(4);

/// "10:00:05" on the day of the test, as nanoseconds since the epoch.
fn at(hms: &str) -> Timestamp {
    let p: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    Timestamp::from_secs(1_700_000_000 - 1_700_000_000 % 86_400 + p[0] * 3600 + p[1] * 60 + p[2])
}

fn kiln() -> AlarmConfig {
    AlarmConfig {
        low_low: Some(50.0),
        low: Some(100.0),
        high: Some(950.0),
        high_high: Some(1000.0),
        deadband: 5.0,
        on_delay: Span::secs(10),
        off_delay: Span::secs(0),
        ..AlarmConfig::on(Spanned::new(0..0, "kiln.temp".to_owned()))
    }
}

enum Step {
    Value(f64),
    Bad(Reason),
    Uncertain(Reason),
    Tick,
}
use Step::*;

/// Feeds the steps in order and returns every state sample and event message.
struct Plant {
    alarm: AlarmEngine,
    out: Emitter,
}

impl Plant {
    fn new(cfg: &AlarmConfig) -> Self {
        Plant { alarm: AlarmEngine::new(cfg, TEMP, STATE), out: Emitter::default() }
    }

    fn at(&mut self, hms: &str, step: Step) -> &mut Self {
        let ts = at(hms);
        match step {
            Value(v) => {
                self.alarm.on_sample(&Sample::good(TEMP, ts, protocols::Value::Float(v)), &mut self.out)
            }
            Bad(r) => self.alarm.on_sample(&Sample::bad(TEMP, ts, r), &mut self.out),
            Uncertain(r) => {
                let s = Sample {
                    tag: TEMP,
                    ts,
                    value: protocols::Value::Float(1.0),
                    quality: Quality::Uncertain(r),
                };
                self.alarm.on_sample(&s, &mut self.out)
            }
            Tick => self.alarm.on_tick(ts, &mut self.out),
        }
        self
    }

    fn state(&self) -> AlarmState {
        self.alarm.state()
    }

    /// State samples emitted so far as (time, code, quality); drains them.
    fn take_states(&mut self) -> Vec<(Timestamp, i64, Quality)> {
        self.out
            .samples
            .drain(..)
            .map(|s| {
                assert_eq!(s.tag, STATE);
                let Value::Int(code) = s.value else { panic!("state is an Int, got {:?}", s.value) };
                (s.ts, code, s.quality)
            })
            .collect()
    }

    fn take_events(&mut self) -> Vec<(Timestamp, String)> {
        self.out
            .events
            .drain(..)
            .map(|e| {
                assert_eq!(e.source, "alarm kiln.temp");
                (e.ts, e.message)
            })
            .collect()
    }
}

#[test]
fn at_10_00_05_the_alarm_is_still_delayed_at_10_00_10_it_is_active() {
    let mut kiln_temp = Plant::new(&kiln());
    kiln_temp.at("10:00:00", Value(952.3));
    assert_eq!(kiln_temp.take_states(), [(at("10:00:00"), 0, Quality::Good)], "first value publishes NORMAL");
    kiln_temp.at("10:00:05", Tick);
    assert_eq!(kiln_temp.state(), AlarmState::Normal, "still delayed");
    assert!(kiln_temp.take_states().is_empty());
    kiln_temp.at("10:00:10", Tick);
    assert_eq!(kiln_temp.state(), AlarmState::High);
    assert_eq!(kiln_temp.take_states(), [(at("10:00:10"), 1, Quality::Good)]);
    assert_eq!(
        kiln_temp.take_events(),
        [(at("10:00:10"), "kiln.temp HIGH: 952.3 above 950 for 10s".to_owned())]
    );
}

#[test]
fn the_state_change_carries_the_instant_the_delay_ran_out_not_the_next_sample() {
    let mut kiln_temp = Plant::new(&kiln());
    for t in ["10:00:00", "10:00:03", "10:00:06", "10:00:09"] {
        kiln_temp.at(t, Value(955.0));
    }
    assert_eq!(kiln_temp.state(), AlarmState::Normal);
    kiln_temp.at("10:00:12", Value(956.0));
    assert_eq!(kiln_temp.take_states().last(), Some(&(at("10:00:10"), 1, Quality::Good)));
}

#[test]
fn a_spike_shorter_than_on_delay_raises_nothing() {
    let mut kiln_temp = Plant::new(&kiln());
    kiln_temp.at("10:00:00", Value(1_020.0)).at("10:00:09", Value(1_030.0)).at("10:00:09", Tick);
    kiln_temp.at("10:00:09", Value(940.0)).at("10:00:10", Tick).at("10:05:00", Tick);
    assert_eq!(kiln_temp.state(), AlarmState::Normal);
    assert_eq!(kiln_temp.take_states(), [(at("10:00:00"), 0, Quality::Good)]);
    assert!(kiln_temp.take_events().is_empty());
    // A second spike starts a fresh timer: the first one's 9 s do not count.
    kiln_temp.at("10:06:00", Value(960.0)).at("10:06:05", Tick);
    assert_eq!(kiln_temp.state(), AlarmState::Normal);
    kiln_temp.at("10:06:10", Tick);
    assert_eq!(kiln_temp.state(), AlarmState::High);
}

#[test]
fn chatter_inside_the_deadband_does_not_toggle_the_alarm() {
    let mut kiln_temp = Plant::new(&kiln());
    kiln_temp.at("10:00:00", Value(952.0)).at("10:00:10", Tick);
    kiln_temp.take_states();
    for (i, v) in [948.0, 951.0, 946.0, 950.5, 945.5, 949.0, 945.1].into_iter().enumerate() {
        kiln_temp.at(&format!("10:00:{}", 11 + i), Value(v));
        assert_eq!(kiln_temp.state(), AlarmState::High, "{v} is within 5 of the 950 limit");
    }
    assert!(kiln_temp.take_states().is_empty(), "no toggling");
    kiln_temp.at("10:00:30", Value(945.0));
    assert_eq!(kiln_temp.state(), AlarmState::Normal, "back inside by the deadband");
    assert_eq!(kiln_temp.take_states(), [(at("10:00:30"), 0, Quality::Good)]);
    assert_eq!(kiln_temp.take_events()[1].1, "kiln.temp NORMAL: 945 back below 945 for 0s (HIGH cleared)");
}

#[test]
fn off_delay_holds_the_alarm_until_the_value_stays_back_inside() {
    let mut cfg = kiln();
    cfg.off_delay = Span::secs(30);
    let mut kiln_temp = Plant::new(&cfg);
    kiln_temp.at("10:00:00", Value(960.0)).at("10:00:10", Tick);
    kiln_temp.at("10:01:00", Value(940.0)).at("10:01:20", Value(947.0)); // back above 945: timer restarts
    kiln_temp.at("10:01:25", Value(930.0)).at("10:01:50", Tick);
    assert_eq!(kiln_temp.state(), AlarmState::High, "only 25 s back inside");
    kiln_temp.at("10:01:55", Tick);
    assert_eq!(kiln_temp.state(), AlarmState::Normal);
    assert_eq!(kiln_temp.take_states().last(), Some(&(at("10:01:55"), 0, Quality::Good)));
}

#[test]
fn escalation_and_de_escalation_through_high_and_high_high() {
    // (time, input, state after)
    let timeline: &[(&str, Step, AlarmState)] = &[
        ("10:00:00", Value(960.0), AlarmState::Normal),
        ("10:00:10", Tick, AlarmState::High),
        ("10:00:20", Value(1_004.0), AlarmState::High),
        ("10:00:25", Tick, AlarmState::High),
        ("10:00:30", Tick, AlarmState::HighHigh),
        ("10:00:40", Value(996.0), AlarmState::HighHigh),
        ("10:00:41", Value(995.0), AlarmState::High),
        ("10:00:50", Value(940.0), AlarmState::Normal),
        // Straight past both limits: one change to HIGH_HIGH, no flicker through HIGH.
        ("10:01:00", Value(1_050.0), AlarmState::Normal),
        ("10:01:10", Tick, AlarmState::HighHigh),
        ("10:01:20", Value(900.0), AlarmState::Normal),
    ];
    let mut replay = Plant::new(&kiln());
    let mut codes = Vec::new();
    for (t, step, expected) in timeline {
        replay.at(
            t,
            match step {
                Value(v) => Value(*v),
                _ => Tick,
            },
        );
        assert_eq!(replay.state(), *expected, "at {t}");
        codes.extend(replay.take_states().into_iter().map(|(ts, c, _)| (ts, c)));
    }
    let expected = [
        ("10:00:00", 0),
        ("10:00:10", 1),
        ("10:00:30", 2),
        ("10:00:41", 1),
        ("10:00:50", 0),
        ("10:01:10", 2),
        ("10:01:20", 0),
    ]
    .map(|(t, c)| (at(t), c));
    assert_eq!(codes, expected);
    let events: Vec<String> = replay.take_events().into_iter().map(|e| e.1).collect();
    assert_eq!(events[1], "kiln.temp HIGH_HIGH: 1004 above 1000 for 10s");
    assert_eq!(events[2], "kiln.temp HIGH: 995 back below 995 for 0s (HIGH_HIGH cleared)");
    assert_eq!(events[4], "kiln.temp HIGH_HIGH: 1050 above 1000 for 10s");
    assert_eq!(events[5], "kiln.temp NORMAL: 900 back below 945 for 0s (HIGH_HIGH and HIGH cleared)");
}

#[test]
fn the_low_side_mirrors_the_high_side_with_negative_codes() {
    let mut kiln_temp = Plant::new(&kiln());
    let timeline: &[(&str, f64, i64)] = &[
        ("10:00:00", 400.0, 0),
        ("10:00:01", 90.0, 0),
        ("10:00:11", 92.0, -1),
        ("10:00:12", 40.0, -1),
        ("10:00:22", 41.0, -2),
        ("10:00:23", 54.0, -2),
        ("10:00:24", 55.0, -1),
        ("10:00:25", 104.0, -1),
        ("10:00:26", 105.0, 0),
    ];
    for &(t, v, code) in timeline {
        kiln_temp.at(t, Value(v));
        assert_eq!(kiln_temp.state().code(), code, "at {t} with {v}");
    }
    let events: Vec<String> = kiln_temp.take_events().into_iter().map(|e| e.1).collect();
    assert_eq!(events[0], "kiln.temp LOW: 90 below 100 for 10s");
    assert_eq!(events[1], "kiln.temp LOW_LOW: 40 below 50 for 10s");
}

#[test]
fn bad_input_holds_the_state_once_as_uncertain_and_the_next_good_value_resumes() {
    let mut kiln_temp = Plant::new(&kiln());
    kiln_temp.at("10:00:00", Value(960.0)).at("10:00:10", Tick);
    kiln_temp.take_states();
    kiln_temp.take_events();
    kiln_temp.at("10:01:00", Bad(Reason::Timeout));
    assert_eq!(kiln_temp.take_states(), [(at("10:01:00"), 1, Quality::Uncertain(Reason::Timeout))]);
    assert_eq!(
        kiln_temp.take_events(),
        [(at("10:01:00"), "kiln.temp input bad (timeout): alarm held at HIGH".to_owned())]
    );
    // Neither more bad values nor time clear it, and nothing more is emitted.
    kiln_temp
        .at("10:01:01", Bad(Reason::Timeout))
        .at("10:01:02", Uncertain(Reason::Stale))
        .at("10:30:00", Tick);
    assert_eq!(kiln_temp.state(), AlarmState::High);
    assert!(kiln_temp.take_states().is_empty() && kiln_temp.take_events().is_empty());
    // The next good value resumes: here it is inside the deadband, so the alarm clears at once.
    kiln_temp.at("10:31:00", Value(930.0));
    assert_eq!(kiln_temp.state(), AlarmState::Normal);
    assert_eq!(kiln_temp.take_states(), [(at("10:31:00"), 0, Quality::Good)]);
}

#[test]
fn bad_input_does_not_raise_and_restarts_a_pending_delay() {
    let mut kiln_temp = Plant::new(&kiln());
    kiln_temp.at("10:00:00", Value(960.0)).at("10:00:05", Uncertain(Reason::SensorFault));
    assert_eq!(kiln_temp.take_states()[1], (at("10:00:05"), 0, Quality::Uncertain(Reason::SensorFault)));
    kiln_temp.at("10:00:15", Tick);
    assert_eq!(
        kiln_temp.state(),
        AlarmState::Normal,
        "a violation seen through a bad input counts for nothing"
    );
    kiln_temp.at("10:00:16", Value(960.0));
    assert_eq!(kiln_temp.take_states(), [(at("10:00:16"), 0, Quality::Good)], "quality back to good");
    assert_eq!(kiln_temp.take_events()[1].1, "kiln.temp input good again: 960, alarm NORMAL");
    kiln_temp.at("10:00:25", Tick);
    assert_eq!(kiln_temp.state(), AlarmState::Normal);
    kiln_temp.at("10:00:26", Tick);
    assert_eq!(kiln_temp.state(), AlarmState::High, "10 s of good values");
    let text = Sample {
        tag: TEMP,
        ts: at("10:00:27"),
        value: protocols::Value::Text(protocols::TextId(1)),
        quality: Quality::Good,
    };
    kiln_temp.alarm.on_sample(&text, &mut kiln_temp.out);
    assert_eq!(
        kiln_temp.take_states().last(),
        Some(&(at("10:00:27"), 1, Quality::Uncertain(Reason::DecodeError)))
    );
}

#[test]
fn samples_of_other_tags_are_ignored() {
    let mut kiln_temp = Plant::new(&kiln());
    kiln_temp.alarm.on_sample(
        &Sample::good(TagId(9), at("10:00:00"), protocols::Value::Float(5_000.0)),
        &mut kiln_temp.out,
    );
    kiln_temp.at("10:10:00", Tick);
    assert!(kiln_temp.take_states().is_empty());
    assert_eq!(kiln_temp.state(), AlarmState::Normal);
}

#[test]
fn an_alarm_with_only_some_limits_and_no_delays_acts_at_once() {
    let cfg = AlarmConfig { low_low: None, low: None, high_high: None, on_delay: Span::secs(0), ..kiln() };
    let mut kiln_temp = Plant::new(&cfg);
    kiln_temp.at("10:00:00", Value(10.0)).at("10:00:01", Value(951.0));
    assert_eq!(kiln_temp.state(), AlarmState::High);
    kiln_temp.at("10:00:02", Value(5_000.0)).at("10:00:03", Value(-5_000.0));
    let codes: Vec<i64> = kiln_temp.take_states().into_iter().map(|s| s.1).collect();
    assert_eq!(codes, [0, 1, 0], "no high-high or low levels configured");
}

#[test]
fn config_mistakes_say_which_alarm_and_what_to_write() {
    let cases: &[(AlarmConfig, &str)] = &[
        (kiln(), ""),
        (AlarmConfig { low_low: None, low: None, high_high: None, ..kiln() }, ""),
        (AlarmConfig { high: Some(1_000.0), ..kiln() }, "`high` (1000) must be below `high_high` (1000)"),
        (AlarmConfig { low: Some(960.0), ..kiln() }, "`low` (960) must be below `high` (950)"),
        (AlarmConfig { low_low: Some(f64::NAN), ..kiln() }, "`low_low` is NaN; write a finite number"),
        (AlarmConfig { deadband: -1.0, ..kiln() }, "`deadband` is -1"),
        (
            AlarmConfig { low_low: None, low: None, high: None, high_high: None, ..kiln() },
            "no condition set; give at least one of low_low",
        ),
    ];
    for (cfg, expected) in cases {
        match cfg.check() {
            Ok(()) => assert!(expected.is_empty(), "{cfg:?} passed, expected {expected:?}"),
            Err(e) => {
                assert!(!expected.is_empty() && e.contains(expected), "{e:?} should contain {expected:?}");
                assert!(e.starts_with("alarm on kiln.temp: "), "{e}");
            }
        }
    }
}

mod lifecycle;
mod point;
mod properties;
