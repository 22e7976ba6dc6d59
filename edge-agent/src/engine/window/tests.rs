//! Tumbling and sliding windows on a fake clock, with a bad sample, a late one and a restart.

use protocols::{Quality, Reason, Sample, TagId, Timestamp, Value};
use std::time::Duration;

use super::{Function, WindowEngine};
use crate::engine::{Emitter, Engine};

const TEMP: TagId = TagId(0);
const OUT: [TagId; 5] = [TagId(10), TagId(11), TagId(12), TagId(13), TagId(14)];

fn engine(window: u64, slide: u64) -> WindowEngine {
    let outputs = Function::ALL.into_iter().zip(OUT).collect();
    WindowEngine::new(TEMP, Duration::from_secs(window), Duration::from_secs(slide), outputs)
}

/// 10:00:00 of a day, plus `s` seconds.
fn at(s: i64) -> Timestamp {
    Timestamp::from_secs(1_700_006_400 + s)
}

fn feed(e: &mut WindowEngine, out: &mut Emitter, points: &[(i64, f64)]) {
    for &(t, v) in points {
        e.on_sample(&Sample::good(TEMP, at(t), Value::Float(v)), out);
    }
}

/// (end, min, max, mean, stddev, count) of each closed window.
fn windows(out: &mut Emitter) -> Vec<(Timestamp, [Option<f64>; 5])> {
    let mut w: Vec<(Timestamp, [Option<f64>; 5])> = Vec::new();
    for s in out.samples.drain(..) {
        let i = OUT.iter().position(|t| *t == s.tag).unwrap();
        if w.last().is_none_or(|l| l.0 != s.ts) {
            w.push((s.ts, [None; 5]));
        }
        w.last_mut().unwrap().1[i] = s.value.as_f64();
    }
    w
}

#[test]
fn tumbling_minutes_give_min_max_mean_stddev_count_at_each_minute_end() {
    let mut e = engine(60, 60);
    let mut out = Emitter::default();
    feed(&mut e, &mut out, &[(0, 4.0), (15, 7.0), (30, 13.0), (45, 16.0), (59, 2.0), (60, 100.0)]);
    let w = windows(&mut out);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, at(60));
    let [min, max, mean, sd, n] = w[0].1;
    assert_eq!((min, max, mean, n), (Some(2.0), Some(16.0), Some(8.4), Some(5.0)));
    assert!((sd.unwrap() - 35.3f64.sqrt()).abs() < 1e-9);
    // The tag goes quiet: the next window closes on a tick 5 s after its end, not before.
    e.on_tick(at(124), &mut out);
    assert!(out.samples.is_empty());
    e.on_tick(at(125), &mut out);
    let w = windows(&mut out);
    assert_eq!((w[0].0, w[0].1[4], w[0].1[3]), (at(120), Some(1.0), None), "one value has no stddev");
}

#[test]
fn sliding_windows_overlap_and_a_bad_sample_makes_them_uncertain() {
    let mut e = engine(30, 10);
    let mut out = Emitter::default();
    feed(&mut e, &mut out, &[(0, 1.0), (10, 2.0), (20, 3.0)]);
    e.on_sample(&Sample::bad(TEMP, at(25), Reason::Timeout), &mut out);
    feed(&mut e, &mut out, &[(30, 4.0), (40, 5.0)]);
    let qualities: Vec<(Timestamp, Quality)> =
        out.samples.iter().filter(|s| s.tag == OUT[2]).map(|s| (s.ts, s.quality)).collect();
    let w = windows(&mut out);
    let means: Vec<(Timestamp, Option<f64>)> = w.iter().map(|w| (w.0, w.1[2])).collect();
    assert_eq!(
        means,
        [(at(10), Some(1.0)), (at(20), Some(1.5)), (at(30), Some(2.0)), (at(40), Some(3.0))],
        "each mean over the last 30 s"
    );
    assert_eq!(qualities[2], (at(30), Quality::Uncertain(Reason::Timeout)));
    assert_eq!(qualities[3], (at(40), Quality::Uncertain(Reason::Timeout)), "still inside the window");
    // A sample for a window already closed is dropped and counted.
    feed(&mut e, &mut out, &[(5, 9.0)]);
    assert_eq!(e.late(), 1);
}

#[test]
fn a_restart_resumes_the_open_window_from_the_saved_state() {
    let mut e = engine(60, 60);
    let mut out = Emitter::default();
    feed(&mut e, &mut out, &[(0, 1.0), (10, 3.0)]);
    let saved = e.save().unwrap();
    let mut again = engine(60, 60);
    again.restore(saved).unwrap();
    feed(&mut again, &mut out, &[(20, 5.0), (61, 0.0)]);
    let w = windows(&mut out);
    assert_eq!((w[0].1[2], w[0].1[4]), (Some(3.0), Some(3.0)), "1, 3 and 5 in one window");
}
