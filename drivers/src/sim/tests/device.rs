use std::time::Duration;

use protocols::{Quality, Reason, TagId, TextId, Value};

use super::*;
use crate::sim::fopdt::Fopdt;
use crate::write::WriteError;

/// The kiln of the config example: fuel valve at 40 %, temperature 20 K per % above 25 °C, τ 2 min, 10 s late.
fn kiln() -> SimDeviceConfig {
    let mut valve = tag("kiln.fuel_valve", Shape::Constant);
    (valve.offset, valve.writable) = (40.0, writable(0.0, 100.0));
    let mut temp = tag("kiln.temp", Shape::Fopdt);
    temp.input = Some(Spanned::new(0..0, "kiln.fuel_valve".to_owned()));
    (temp.gain, temp.offset, temp.time_constant, temp.dead_time) =
        (20.0, 25.0, Span::secs(120), Span::secs(10));
    let mut setpoint = tag("kiln.setpoint", Shape::Constant);
    setpoint.offset = 900.0;
    device(7, vec![valve, temp, setpoint])
}

const VALVE: TagId = TagId(0);
const TEMP: TagId = TagId(1);
const SETPOINT: TagId = TagId(2);

fn temp_at(dev: &mut SimDevice, s: f64) -> f64 {
    float(&dev.scan(at_s(s)).samples[1])
}

#[test]
fn fopdt_step_response_waits_the_dead_time_then_rises_63_percent_in_one_time_constant() {
    let mut dev = build(&kiln());
    for s in 0..100 {
        assert_eq!(temp_at(&mut dev, s as f64), 825.0, "steady state at 40 % valve");
    }
    dev.write(VALVE, Value::Float(50.0)).unwrap();
    // The step acts from the scan at 100 s; the kiln answers from 110 s.
    for s in 100..=110 {
        assert_eq!(temp_at(&mut dev, s as f64), 825.0, "nothing before the dead time, at {s} s");
    }
    let mut at_tau = 0.0;
    for s in 111..=1_400 {
        let t = temp_at(&mut dev, s as f64);
        if s == 230 {
            at_tau = t;
        }
    }
    let expected = 825.0 + 200.0 * (1.0 - (-1.0f64).exp());
    assert!((at_tau - expected).abs() < 1e-6, "63.2 % of the 200 K step at 230 s: {at_tau} vs {expected}");
    let settled = temp_at(&mut dev, 1_401.0);
    assert!((settled - 1_025.0).abs() < 0.01, "settles at gain * 50 + 25: {settled}");
}

#[test]
fn fopdt_response_does_not_depend_on_how_often_it_is_scanned() {
    let mut fine = build(&kiln());
    let mut coarse = build(&kiln());
    fine.scan(at_s(0.0));
    coarse.scan(at_s(0.0));
    fine.write(VALVE, Value::Float(60.0)).unwrap();
    coarse.write(VALVE, Value::Float(60.0)).unwrap();
    fine.scan(at_s(1.0));
    coarse.scan(at_s(1.0));
    for s in 2..200 {
        fine.scan(at_s(s as f64 * 0.999));
    }
    for s in [3.3, 17.0, 90.5, 199.0] {
        coarse.scan(at_s(s));
    }
    let a = float(&fine.scan(at_s(200.0)).samples[1]);
    let b = float(&coarse.scan(at_s(200.0)).samples[1]);
    let expected = 825.0 + 400.0 * (1.0 - (-(200.0 - 1.0 - 10.0) / 120.0f64).exp());
    assert!((a - expected).abs() < 1e-6 && (b - expected).abs() < 1e-6, "{a} {b} {expected}");
}

#[test]
fn the_dead_time_history_stays_bounded() {
    let mut plant =
        Fopdt::new(1.0, 0.0, Duration::from_secs(5), Duration::from_secs(10), Duration::from_secs(1));
    for i in 0..100_000i64 {
        // The input changes every scan, the worst case for the delay line.
        plant.step(i * 1_000_000_000, (i % 7) as f64);
        assert!(plant.history_len() <= 24, "history grew to {} at scan {i}", plant.history_len());
    }
    let mut fast =
        Fopdt::new(1.0, 0.0, Duration::from_secs(5), Duration::from_secs(3600), Duration::from_millis(1));
    for i in 0..200_000i64 {
        fast.step(i * 1_000_000, (i % 3) as f64);
    }
    assert!(fast.history_len() <= crate::sim::MAX_HISTORY);
}

#[test]
fn a_write_to_a_constant_changes_the_next_samples() {
    let mut dev = build(&kiln());
    assert_eq!(dev.scan(at_s(0.0)).samples[0].value, Value::Float(40.0));
    dev.write(VALVE, Value::Float(65.5)).unwrap();
    assert_eq!(dev.scan(at_s(1.0)).samples[0].value, Value::Float(65.5));
    dev.write(VALVE, Value::Int(70)).unwrap();
    assert_eq!(dev.scan(at_s(2.0)).samples[0].value, Value::Float(70.0));
    assert_eq!(dev.scan(at_s(3.0)).samples[0].value, Value::Float(70.0), "a write holds");
}

#[test]
fn writes_out_of_limits_to_plants_or_undeclared_tags_are_refused() {
    let mut dev = build(&kiln());
    let cases: &[(TagId, Value, &str)] = &[
        (VALVE, Value::Float(100.5), "out of limits"),
        (VALVE, Value::Float(-1.0), "out of limits"),
        (VALVE, Value::Float(f64::NAN), "out of limits"),
        (VALVE, Value::Text(TextId(0)), "type"),
        (TEMP, Value::Float(900.0), "not writable"),
        (SETPOINT, Value::Float(950.0), "not writable"),
        (TagId(99), Value::Float(1.0), "not writable"),
    ];
    for &(tag, value, kind) in cases {
        let err = dev.write(tag, value).unwrap_err();
        let ok = match kind {
            "out of limits" => matches!(err, WriteError::OutOfLimits { .. }),
            "type" => matches!(err, WriteError::Type { .. }),
            _ => matches!(err, WriteError::NotWritable { .. }),
        };
        assert!(ok, "{tag:?} {value:?}: expected {kind}, got {err}");
    }
    let samples = dev.scan(at_s(0.0)).samples;
    assert_eq!((samples[0].value, samples[2].value), (Value::Float(40.0), Value::Float(900.0)), "unchanged");
}

#[test]
fn inside_a_fault_window_every_tag_reads_bad_timeout() {
    let mut cfg = kiln();
    cfg.fault = fault(10, 3);
    let mut dev = build(&cfg);
    let down: Vec<usize> = (0..35)
        .filter(|&s| {
            let out = dev.scan(at_s(s as f64));
            assert_eq!(out.samples.len(), 3);
            if out.answered {
                assert!(out.samples.iter().all(|x| x.quality == Quality::Good));
            } else {
                assert!(out.samples.iter().all(|x| x.quality == Quality::Bad(Reason::Timeout)));
                assert!(out.samples.iter().all(|x| x.ts == at_s(s as f64)), "a gap is never silent");
            }
            !out.answered
        })
        .collect();
    assert_eq!(down, [10, 11, 12, 20, 21, 22, 30, 31, 32]);
}

#[test]
fn a_fault_starting_at_zero_takes_the_device_down_from_its_first_scan() {
    let mut cfg = kiln();
    cfg.fault = fault(10, 3).map(|f| SimFaultConfig { start: Some(Span::secs(0)), ..f });
    let mut dev = build(&cfg);
    let down: Vec<usize> = (0..25).filter(|&s| !dev.scan(at_s(s as f64)).answered).collect();
    assert_eq!(down, [0, 1, 2, 10, 11, 12, 20, 21, 22]);
}

#[test]
fn config_mistakes_name_the_device_and_tag_and_say_what_to_do() {
    let base = kiln;
    let cases: Vec<(SimDeviceConfig, &str)> = vec![
        (
            {
                let mut c = base();
                c.tags[1].input = None;
                c
            },
            "kiln / tag kiln.temp: a `fopdt` tag needs `input",
        ),
        (
            {
                let mut c = base();
                c.tags[1].input = Some(Spanned::new(0..0, "kiln.gas".into()));
                c
            },
            "input \"kiln.gas\" is not a tag of this device",
        ),
        (
            {
                let mut c = base();
                c.tags[1].input = Some(Spanned::new(0..0, "kiln.temp".into()));
                c
            },
            "cannot be its own input",
        ),
        (
            {
                let mut c = base();
                c.tags[1].writable = writable(0.0, 1.0);
                c
            },
            "only `constant` tags accept writes",
        ),
        (
            {
                let mut c = base();
                c.tags[0].writable = writable(5.0, 1.0);
                c
            },
            "writable `min` 5 is above `max` 1",
        ),
        (
            {
                let mut c = base();
                c.tags[2].name = Spanned::new(0..0, "kiln.temp".into());
                c
            },
            "declared twice",
        ),
        (
            {
                let mut c = base();
                c.fault = fault(10, 10);
                c
            },
            "must be shorter than a non-zero `every`",
        ),
        (
            {
                let mut c = base();
                c.scan = Span::secs(0);
                c
            },
            "`scan` is zero",
        ),
        (
            {
                let mut c = base();
                c.tags.push(tag("kiln.hum", Shape::Sine));
                c.tags[3].period = Span::secs(0);
                c
            },
            "kiln.hum: `period` is zero",
        ),
        (
            {
                let mut c = base();
                c.tags.push(tag("kiln.gas", Shape::Counter));
                c.tags[3].rollover = 0;
                c
            },
            "`rollover` is 0",
        ),
        (
            {
                let mut c = base();
                c.tags.push(tag("kiln.fan", Shape::RandomWalk));
                (c.tags[3].min, c.tags[3].max) = (Some(2.0), Some(1.0));
                c
            },
            "`min` 2 is above `max` 1",
        ),
    ];
    for (cfg, expected) in cases {
        let names: Vec<String> = cfg.tags.iter().map(|t| t.name.get_ref().clone()).collect();
        let err = SimDevice::new(&cfg, |n| names.iter().position(|x| x == n).map(|i| TagId(i as u32)))
            .map(|_| ())
            .unwrap_err();
        assert!(err.contains(expected), "{err:?} should contain {expected:?}");
        assert!(err.starts_with("sim device kiln"), "{err}");
        assert_eq!(cfg.check(), Err(err), "the load-time check finds the same mistake");
    }
    assert_eq!(kiln().check(), Ok(()));
    let unregistered = SimDevice::new(&kiln(), |_| None).map(|_| ()).unwrap_err();
    assert!(unregistered.contains("kiln.fuel_valve: the tag registry has no id"), "{unregistered}");
}

#[test]
fn the_wood_berry_column_answers_a_reflux_step_with_its_published_gains_and_dead_times() {
    use crate::sim::wood_berry::Composition;
    let mut reflux = tag("col.reflux", Shape::Constant);
    reflux.offset = 1.95;
    reflux.writable = writable(0.0, 4.0);
    let mut steam = tag("col.steam", Shape::Constant);
    steam.offset = 1.71;
    let column = |name: &str, c: Composition| {
        let mut t = tag(name, Shape::WoodBerry);
        (t.composition, t.reflux, t.steam) = (
            Some(c),
            Some(Spanned::new(0..0, "col.reflux".into())),
            Some(Spanned::new(0..0, "col.steam".into())),
        );
        t
    };
    let cfg = device(
        0,
        vec![reflux, steam, column("col.xd", Composition::Top), column("col.xb", Composition::Bottom)],
    );
    let names = ["col.reflux", "col.steam", "col.xd", "col.xb"];
    let mut dev =
        SimDevice::new(&cfg, |n| names.iter().position(|x| *x == n).map(|i| TagId(i as u32))).unwrap();
    let minute = 60_000_000_000i64;
    let at = |m: i64| Timestamp(m * minute / 6);
    let value = |s: &crate::sim::ScanOutcome, i: usize| s.samples[i].value.as_f64().unwrap();
    let first = dev.scan(at(0));
    assert_eq!((value(&first, 2), value(&first, 3)), (96.0, 0.5), "the paper's operating point");
    dev.write(TagId(0), Value::Float(2.05)).unwrap();
    let mut xd = Vec::new();
    let mut xb = Vec::new();
    for k in 1..=6 * 300 {
        let s = dev.scan(at(k));
        xd.push(value(&s, 2));
        xb.push(value(&s, 3));
    }
    // Ten-second scans: xD has not moved within its 1 min dead time, xB within its 7 min.
    assert_eq!(xd[4], 96.0);
    assert!(xd[7] > 96.0);
    assert_eq!(xb[6 * 7 - 2], 0.5);
    assert!(xb[6 * 7 + 1] > 0.5);
    // 300 min on, the gains: 12.8 and 6.6 per lb/min of reflux.
    assert!((xd.last().unwrap() - (96.0 + 1.28)).abs() < 1e-6, "{}", xd.last().unwrap());
    assert!((xb.last().unwrap() - (0.5 + 0.66)).abs() < 1e-6, "{}", xb.last().unwrap());
}
