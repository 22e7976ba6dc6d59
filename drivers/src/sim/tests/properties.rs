//! Properties over arbitrary seeds, parameters and scan schedules.

use proptest::prelude::*;
use protocols::Value;

use crate::sim::ScanOutcome;

use super::*;

/// Scan instants from irregular gaps (1 ms to 5 s), as a loaded gateway would scan.
fn schedule() -> impl Strategy<Value = Vec<Timestamp>> {
    proptest::collection::vec(1_000_000i64..5_000_000_000, 1..200).prop_map(|gaps| {
        gaps.iter()
            .scan(T0, |t, g| {
                let now = *t;
                *t += g;
                Some(Timestamp(now))
            })
            .collect()
    })
}

fn plant(seed: u64, tau_s: u64, dead_s: u64) -> SimDeviceConfig {
    let mut valve = tag("kiln.fuel_valve", Shape::Constant);
    (valve.offset, valve.writable) = (40.0, writable(0.0, 100.0));
    let mut temp = tag("kiln.temp", Shape::Fopdt);
    temp.input = Some(Spanned::new(0..0, "kiln.fuel_valve".to_owned()));
    (temp.gain, temp.offset) = (20.0, 25.0);
    (temp.time_constant, temp.dead_time) = (Span::secs(tau_s), Span::secs(dead_s));
    let mut walk = tag("kiln.fan_kw", Shape::RandomWalk);
    (walk.offset, walk.amplitude, walk.min, walk.max) = (11.0, 0.5, Some(8.0), Some(15.0));
    let mut cfg =
        device(seed, vec![valve, temp, walk, tag("kiln.o2", Shape::Noise), tag("kiln.gas", Shape::Counter)]);
    cfg.fault = fault(60, 5);
    cfg
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn values_are_a_pure_function_of_seed_config_writes_and_scan_times(
        seed in any::<u64>(),
        times in schedule(),
        write_at in any::<prop::sample::Index>(),
        valve in 0.0f64..100.0,
    ) {
        let cfg = plant(seed, 120, 10);
        let (mut a, mut b) = (build(&cfg), build(&cfg));
        let w = write_at.index(times.len());
        for (i, &t) in times.iter().enumerate() {
            if i == w {
                a.write(TagId(0), Value::Float(valve)).unwrap();
                b.write(TagId(0), Value::Float(valve)).unwrap();
            }
            let (x, y) = (a.scan(t), b.scan(t));
            // Compare bit patterns: a Bad sample carries NaN, which is never equal to itself.
            let bits = |o: &ScanOutcome| o.samples.iter().map(|s| s.to_words()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&x), bits(&y));
            prop_assert_eq!(x.answered, y.answered);
        }
    }

    #[test]
    fn fopdt_matches_the_analytic_step_response_on_any_schedule(
        times in schedule(),
        step_at in any::<prop::sample::Index>(),
        valve in 0.0f64..100.0,
        tau_s in 1u64..300,
        dead_s in 0u64..60,
    ) {
        // A write before the first scan is not a step: the plant starts in steady state for it.
        prop_assume!(times.len() >= 2);
        let mut dev = build(&plant(1, tau_s, dead_s));
        let w = 1 + step_at.index(times.len() - 1);
        let step_time = times[w].as_nanos();
        for (i, &t) in times.iter().enumerate() {
            if i == w {
                dev.write(TagId(0), Value::Float(valve)).unwrap();
            }
            let out = dev.scan(t);
            // Read the plant's value even inside a fault window: the model must not care.
            let got = dev.last_value(TagId(1)).and_then(Value::as_f64).unwrap();
            let since = (t.as_nanos() - step_time - dead_s as i64 * 1_000_000_000) as f64 / 1e9;
            let expected = if since <= 0.0 {
                825.0
            } else {
                825.0 + 20.0 * (valve - 40.0) * (1.0 - (-since / tau_s as f64).exp())
            };
            prop_assert!((got - expected).abs() < 1e-6, "at scan {i}: {got} vs {expected}");
            prop_assert_eq!(out.samples.len(), 5);
        }
    }

    #[test]
    fn walks_stay_in_bounds_and_counters_below_rollover(
        seed in any::<u64>(),
        offset in -50.0f64..50.0,
        amplitude in 0.0f64..20.0,
        (min, width) in (-20.0f64..20.0, 0.0f64..10.0),
        (start, step, rollover) in (0u64..100_000, 0u64..70_000, 1u64..70_000),
        scans in 1usize..300,
    ) {
        let mut walk = tag("kiln.fan_kw", Shape::RandomWalk);
        (walk.offset, walk.amplitude, walk.min, walk.max) = (offset, amplitude, Some(min), Some(min + width));
        let mut gas = tag("kiln.gas", Shape::Counter);
        (gas.offset, gas.step, gas.rollover) = (start as f64, step, rollover);
        let mut dev = build(&device(seed, vec![walk, gas]));
        let mut last = None;
        for s in scan_seconds(&mut dev, scans) {
            let v = float(&s[0]);
            prop_assert!(v >= min && v <= min + width, "{v} outside [{min}, {}]", min + width);
            let Value::UInt(c) = s[1].value else { panic!("counter is unsigned") };
            prop_assert!(c <= rollover);
            if let Some(prev) = last {
                prop_assert_eq!(c, ((prev + step as u128) % (rollover as u128 + 1)) as u64);
            }
            last = Some(c as u128);
        }
    }
}
