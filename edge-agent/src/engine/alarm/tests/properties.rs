//! Properties over arbitrary value sequences, delays and deadbands.

use proptest::prelude::*;

use super::*;

fn classify(v: f64) -> i64 {
    match v {
        v if v > 1_000.0 => 2,
        v if v > 950.0 => 1,
        v if v < 50.0 => -2,
        v if v < 100.0 => -1,
        _ => 0,
    }
}

#[derive(Debug, Clone)]
enum Input {
    Good(f64),
    Bad,
    Tick,
}

fn inputs() -> impl Strategy<Value = Vec<(u64, Input)>> {
    let input = prop_oneof![
        6 => (0.0f64..1_100.0).prop_map(Input::Good),
        1 => Just(Input::Bad),
        3 => Just(Input::Tick),
    ];
    proptest::collection::vec((0u64..20_000, input), 1..150)
}

proptest! {
    #[test]
    fn without_delays_or_deadband_the_state_is_the_limit_class_of_the_last_value(
        values in proptest::collection::vec(0.0f64..1_100.0, 1..100),
    ) {
        let cfg = AlarmConfig { deadband: 0.0, on_delay: Span::secs(0), ..kiln() };
        let mut alarm = AlarmEngine::new(&cfg, TEMP, STATE);
        let mut out = Emitter::default();
        for (i, v) in values.iter().enumerate() {
            alarm.on_sample(&Sample::good(TEMP, Timestamp::from_secs(i as i64), Value::Float(*v)), &mut out);
            prop_assert_eq!(alarm.state().code(), classify(*v), "after {}", v);
        }
    }

    #[test]
    fn state_samples_are_in_time_order_never_ahead_of_the_input_and_never_repeat(
        steps in inputs(),
        on_delay_ms in 0u64..30_000,
        off_delay_ms in 0u64..30_000,
        deadband in 0.0f64..40.0,
    ) {
        let cfg = AlarmConfig {
            deadband,
            on_delay: Span::millis(on_delay_ms),
            off_delay: Span::millis(off_delay_ms),
            ..kiln()
        };
        let mut alarm = AlarmEngine::new(&cfg, TEMP, STATE);
        let mut out = Emitter::default();
        let mut now = Timestamp::from_secs(1_700_000_000);
        let mut last: Option<Sample> = None;
        for (gap_ms, input) in steps {
            now = now.saturating_add(std::time::Duration::from_millis(gap_ms));
            match input {
                Input::Good(v) => alarm.on_sample(&Sample::good(TEMP, now, Value::Float(v)), &mut out),
                Input::Bad => alarm.on_sample(&Sample::bad(TEMP, now, Reason::Timeout), &mut out),
                Input::Tick => alarm.on_tick(now, &mut out),
            }
            for s in out.samples.drain(..) {
                prop_assert!(s.ts <= now, "a change is never stamped in the future");
                if let Some(prev) = last {
                    prop_assert!(s.ts >= prev.ts, "state samples in time order");
                    let repeat = prev.quality.is_good() && s.quality.is_good() && prev.value == s.value;
                    prop_assert!(!repeat, "a good state sample always says something new: {:?}", s);
                }
                last = Some(s);
            }
            if let Some(s) = last {
                prop_assert_eq!(s.value, Value::Int(alarm.state().code()), "the last sample is the state");
            }
        }
    }
}
