//! The ISA-18.2 lifecycle through operator commands on a fake clock: acknowledge, return to normal,
//! shelve with expiry, out of service, and what survives a restart.

use super::point::*;
use super::*;
use crate::engine::alarm::{LifecycleState, Priority};
use crate::engine::{Command, CommandError, Gauges};

fn ack(who: &str) -> Command {
    Command::Acknowledge { condition: None, by: Some(who.into()), comment: None }
}

fn high_only() -> AlarmConfig {
    AlarmConfig { high: Some(950.0), deadband: 5.0, priority: Priority::High, ..bare() }
}

fn raised() -> (crate::engine::alarm::AlarmPoint, Emitter) {
    let mut p = point(&high_only());
    let mut out = Emitter::default();
    p.on_sample(&Sample::good(TEMP, at("10:00:00"), Value::Float(960.0)), &mut out);
    p.on_tick(at("10:00:05"), &mut out);
    assert_eq!(p.state(), LifecycleState::Unacknowledged);
    (p, out)
}

#[test]
fn acknowledged_then_returned_is_normal_returned_then_acknowledged_is_normal_too() {
    let (mut p, mut out) = raised();
    p.on_command(at("10:01:00"), &ack("李工"), &mut out).unwrap();
    assert_eq!(p.state(), LifecycleState::Acknowledged);
    assert_eq!(out.events.last().unwrap().message, "kiln.temp HIGH acknowledged by 李工");
    p.on_sample(&Sample::good(TEMP, at("10:02:00"), Value::Float(940.0)), &mut out);
    assert_eq!(p.state(), LifecycleState::Normal);

    p.on_sample(&Sample::good(TEMP, at("10:03:00"), Value::Float(970.0)), &mut out);
    p.on_tick(at("10:03:05"), &mut out);
    p.on_sample(&Sample::good(TEMP, at("10:04:00"), Value::Float(900.0)), &mut out);
    assert_eq!(p.state(), LifecycleState::ReturnedUnacknowledged, "it must still be seen");
    p.on_command(at("10:05:00"), &ack("王工"), &mut out).unwrap();
    assert_eq!(p.state(), LifecycleState::Normal);
    let refused = p.on_command(at("10:05:01"), &ack("王工"), &mut out).unwrap_err();
    assert_eq!(refused, CommandError::Refused("alarm on kiln.temp: nothing to acknowledge".into()));
    assert_eq!(p.lifecycle("HIGH").unwrap().activations, 2);
}

#[test]
fn shelving_hides_the_alarm_until_it_expires_and_is_capped_by_max_shelve() {
    let (mut p, mut out) = raised();
    let shelve = |d: u64| Command::Shelve {
        condition: Some("high".into()),
        duration: Span::secs(d),
        by: Some("夜班".into()),
        reason: Some("sensor being replaced".into()),
    };
    let too_long = p.on_command(at("10:01:00"), &shelve(9 * 3600), &mut out).unwrap_err();
    assert!(matches!(too_long, CommandError::Refused(m) if m.contains("at most 8h")));
    p.on_command(at("10:01:00"), &shelve(3600), &mut out).unwrap();
    assert_eq!(p.state(), LifecycleState::Shelved);
    assert_eq!(
        out.events.last().unwrap().message,
        "kiln.temp HIGH shelved for 1h by 夜班: sensor being replaced"
    );
    p.on_tick(at("11:00:59"), &mut out);
    assert_eq!(p.state(), LifecycleState::Shelved, "still shelved at 10:59 past");
    p.on_tick(at("11:01:00"), &mut out);
    assert_eq!(p.state(), LifecycleState::Unacknowledged, "back, and still standing");
    assert_eq!(
        out.events.last().unwrap().message,
        "kiln.temp HIGH shelving expired, standing unacknowledged"
    );
    let nope =
        Command::Shelve { condition: Some("RATE".into()), duration: Span::secs(60), by: None, reason: None };
    let e = p.on_command(at("11:02:00"), &nope, &mut out).unwrap_err();
    assert_eq!(e, CommandError::Refused("alarm on kiln.temp has no condition \"RATE\"; it has HIGH".into()));
}

#[test]
fn out_of_service_until_put_back() {
    let (mut p, mut out) = raised();
    let oos = Command::OutOfService {
        condition: None,
        by: Some("仪表班".into()),
        reason: Some("calibration".into()),
    };
    p.on_command(at("10:01:00"), &oos, &mut out).unwrap();
    assert_eq!(p.state(), LifecycleState::OutOfService);
    assert!(p.on_command(at("10:01:01"), &oos, &mut out).is_err(), "already out of service");
    p.on_sample(&Sample::good(TEMP, at("10:02:00"), Value::Float(900.0)), &mut out);
    assert_eq!(p.state(), LifecycleState::OutOfService);
    p.on_command(at("10:03:00"), &Command::InService { condition: None, by: None }, &mut out).unwrap();
    assert_eq!(p.state(), LifecycleState::ReturnedUnacknowledged);
    let codes: Vec<Value> = out.samples.iter().filter(|s| s.tag == LIFECYCLE).map(|s| s.value).collect();
    assert_eq!(codes, [0, 1, 5, 3].map(Value::Int));
}

#[test]
fn an_acknowledgement_survives_a_restart_and_a_standing_alarm_is_not_raised_again() {
    let (mut p, mut out) = raised();
    p.on_command(at("10:01:00"), &ack("李工"), &mut out).unwrap();
    let saved = serde_json::to_string(&p.save().unwrap()).unwrap();

    let mut after = point(&high_only());
    after.restore(serde_json::from_str(&saved).unwrap()).unwrap();
    let mut out = Emitter::default();
    after.on_sample(&Sample::good(TEMP, at("10:30:00"), Value::Float(961.0)), &mut out);
    after.on_tick(at("10:30:10"), &mut out);
    assert_eq!(after.state(), LifecycleState::Acknowledged);
    assert!(out.events.is_empty(), "nothing new to say: {:?}", out.events);
    after.on_sample(&Sample::good(TEMP, at("10:31:00"), Value::Float(940.0)), &mut out);
    assert_eq!(after.state(), LifecycleState::Normal);
    assert_eq!(after.lifecycle("HIGH").unwrap().activations, 1);
}

#[test]
fn metrics_count_conditions_by_priority() {
    let cfg = AlarmConfig {
        high_high: Some(1_000.0),
        priorities: [("HIGH_HIGH".to_owned(), Priority::Urgent)].into(),
        stale: Some(Span::secs(30)),
        ..high_only()
    };
    let mut p = point(&cfg);
    let mut out = Emitter::default();
    p.on_sample(&Sample::good(TEMP, at("10:00:00"), Value::Float(1_200.0)), &mut out);
    p.on_tick(at("10:00:05"), &mut out);
    let shelve =
        Command::Shelve { condition: Some("HIGH".into()), duration: Span::secs(60), by: None, reason: None };
    p.on_command(at("10:00:06"), &shelve, &mut out).unwrap();
    let mut g = Gauges::default();
    p.gauges(&mut g);
    let get = |f: &str, p: &str| g.get(f, &[("priority", p)]);
    assert_eq!(get("edge_alarms_active", "urgent"), Some(1.0));
    assert_eq!(get("edge_alarms_active", "high"), Some(1.0), "HIGH; STALE is not active");
    assert_eq!(get("edge_alarms_shelved", "high"), Some(1.0));
    assert_eq!(get("edge_alarms_unacknowledged", "urgent"), Some(1.0));
    assert_eq!(get("edge_alarm_activations_total", "high"), Some(1.0));
    assert_eq!(get("edge_alarms_active", "low"), None);
}
