use std::f64::consts::TAU;

use protocols::Value;

use super::*;

fn all_shapes() -> Vec<SimTagConfig> {
    let mut walk = tag("kiln.fan_kw", Shape::RandomWalk);
    (walk.offset, walk.amplitude, walk.min, walk.max) = (11.0, 0.2, Some(8.0), Some(15.0));
    let mut noise = tag("kiln.o2", Shape::Noise);
    (noise.offset, noise.amplitude) = (3.0, 0.1);
    vec![tag("kiln.sine", Shape::Sine), walk, noise, tag("kiln.gas_m3", Shape::Counter)]
}

#[test]
fn the_same_seed_gives_the_same_plant_and_another_seed_another() {
    let a = scan_seconds(&mut build(&device(7, all_shapes())), 50);
    let b = scan_seconds(&mut build(&device(7, all_shapes())), 50);
    let c = scan_seconds(&mut build(&device(8, all_shapes())), 50);
    assert_eq!(a, b);
    let walk = |runs: &Vec<Vec<Sample>>| runs.iter().map(|s| float(&s[1])).collect::<Vec<_>>();
    let noise = |runs: &Vec<Vec<Sample>>| runs.iter().map(|s| float(&s[2])).collect::<Vec<_>>();
    assert_ne!(walk(&a), walk(&c));
    assert_ne!(noise(&a), noise(&c));
    // Shapes without randomness do not depend on the seed.
    assert_eq!(a.iter().map(|s| s[0]).collect::<Vec<_>>(), c.iter().map(|s| s[0]).collect::<Vec<_>>());
}

#[test]
fn a_tags_stream_depends_on_its_name_not_its_place() {
    let mut reordered = all_shapes();
    reordered.reverse();
    let a = scan_seconds(&mut build(&device(7, all_shapes())), 20);
    let b = scan_seconds(&mut build(&device(7, reordered)), 20);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x[2].value, y[1].value, "kiln.o2 noise");
        assert_eq!(x[1].value, y[2].value, "kiln.fan_kw walk");
    }
}

#[test]
fn each_wave_matches_its_formula() {
    // (shape, time in s, expected) with offset 10, amplitude 4, period 20 s.
    let cases: &[(Shape, f64, f64)] = &[
        (Shape::Sine, 0.0, 10.0),
        (Shape::Sine, 5.0, 14.0),
        (Shape::Sine, 10.0, 10.0),
        (Shape::Sine, 15.0, 6.0),
        (Shape::Sine, 2.5, 10.0 + 4.0 * (TAU * 2.5 / 20.0).sin()),
        (Shape::Sine, 47.0, 10.0 + 4.0 * (TAU * 47.0 / 20.0).sin()),
        (Shape::Ramp, 0.0, 10.0),
        (Shape::Ramp, 5.0, 11.0),
        (Shape::Ramp, 19.0, 13.8),
        (Shape::Ramp, 20.0, 10.0),
        (Shape::Ramp, 35.0, 13.0),
        (Shape::Step, 0.0, 10.0),
        (Shape::Step, 9.9, 10.0),
        (Shape::Step, 10.0, 14.0),
        (Shape::Step, 19.9, 14.0),
        (Shape::Step, 20.0, 10.0),
        (Shape::Step, 31.0, 14.0),
        (Shape::Constant, 0.0, 10.0),
        (Shape::Constant, 99.0, 10.0),
    ];
    for &(shape, t, expected) in cases {
        let mut cfg = tag("kiln.wave", shape);
        (cfg.offset, cfg.amplitude, cfg.period) = (10.0, 4.0, Span::secs(20));
        let mut dev = build(&device(1, vec![cfg]));
        dev.scan(at_s(0.0));
        let got = float(&dev.scan(at_s(t)).samples[0]);
        assert!((got - expected).abs() < 1e-9, "{shape:?} at {t}s: {got} != {expected}");
    }
}

#[test]
fn the_counter_steps_each_scan_and_rolls_over_like_a_16_bit_register() {
    let mut gas = tag("kiln.gas_m3", Shape::Counter);
    (gas.offset, gas.step, gas.rollover) = (65_530.0, 3, 65_535);
    let mut dev = build(&device(1, vec![gas]));
    let got: Vec<Value> = scan_seconds(&mut dev, 5).iter().map(|s| s[0].value).collect();
    let expected = [65_530, 65_533, 0, 3, 6].map(Value::UInt);
    assert_eq!(got, expected, "65533 + 3 wraps to 0: values run 0..=rollover");

    let mut wide = tag("kiln.energy_wh", Shape::Counter);
    (wide.offset, wide.step, wide.rollover) = (0.0, u64::MAX, u64::MAX);
    let mut dev = build(&device(1, vec![wide]));
    let got: Vec<Value> = scan_seconds(&mut dev, 3).iter().map(|s| s[0].value).collect();
    assert_eq!(got, [0, u64::MAX, u64::MAX - 1].map(Value::UInt), "a 64-bit counter wraps without overflow");
}

#[test]
fn the_random_walk_starts_at_its_offset_and_stays_inside_its_bounds() {
    let mut walk = tag("kiln.fan_kw", Shape::RandomWalk);
    (walk.offset, walk.amplitude, walk.min, walk.max) = (11.0, 0.8, Some(10.0), Some(12.0));
    let mut dev = build(&device(3, vec![walk]));
    let values: Vec<f64> = scan_seconds(&mut dev, 5_000).iter().map(|s| float(&s[0])).collect();
    assert_eq!(values[0], 11.0);
    assert!(values.iter().all(|v| (10.0..=12.0).contains(v)));
    assert!(values.windows(2).all(|w| (w[1] - w[0]).abs() <= 0.8 + 1e-12), "moves at most ±amplitude");
    // It wanders: both bounds are reached in 5000 scans of ±0.8 in a band of 2.
    assert!(values.contains(&10.0) && values.contains(&12.0));
}

#[test]
fn noise_has_its_offset_as_mean_and_its_amplitude_as_deviation() {
    let mut o2 = tag("kiln.o2", Shape::Noise);
    (o2.offset, o2.amplitude) = (3.0, 0.1);
    let mut dev = build(&device(11, vec![o2]));
    let v: Vec<f64> = scan_seconds(&mut dev, 20_000).iter().map(|s| float(&s[0])).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    assert!((mean - 3.0).abs() < 0.005, "mean {mean}");
    assert!((sd - 0.1).abs() < 0.005, "standard deviation {sd}");
}
