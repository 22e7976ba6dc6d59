//! Each Western Electric rule on a constructed series, limits of each chart from a constructed
//! baseline, and Cp / Cpk over a shift.

use protocols::{Sample, TagId, Timestamp, Value};

use super::Chart;
use super::engine::{SpcEngine, Wiring};
use super::rules::{History, Rule};
use crate::engine::shifts::ShiftsConfig;
use crate::engine::{Emitter, Engine};

#[test]
fn each_western_electric_rule_fires_on_the_point_that_completes_its_pattern() {
    // (points in sigmas from the centre line, rules fired at the last point)
    let cases: &[(&[f64], &[Rule])] = &[
        (&[0.5, -3.2], &[Rule::We1]),
        (&[0.5, 2.9], &[]),
        (&[2.5, 0.1, 2.2], &[Rule::We2]),
        (&[2.5, -0.1, -2.2], &[]),
        (&[2.5, 2.2, -0.3], &[]),
        (&[-1.5, -1.2, 0.3, -1.1, -1.4], &[Rule::We3]),
        (&[1.5, 1.2, -0.3, 1.1, 0.9], &[]),
        (&[0.5, 0.2, 0.9, 0.1, 0.4, 0.3, 0.8, 0.6], &[Rule::We4]),
        (&[0.5, 0.2, 0.9, 0.1, -0.4, 0.3, 0.8, 0.6], &[]),
        (&[1.5, 1.2, 2.3, 1.1, 3.4], &[Rule::We1, Rule::We2, Rule::We3]),
    ];
    for (points, expected) in cases {
        let mut h = History::default();
        let mut last = Vec::new();
        for &z in *points {
            last = h.push(z);
        }
        assert_eq!(&last, expected, "{points:?}");
    }
}

const WEIGHT: TagId = TagId(0);

fn spc(chart: Chart, n: usize, baseline: usize, shifts: Option<ShiftsConfig>) -> SpcEngine {
    SpcEngine::new(Wiring {
        tag_name: "灌装线.净重".into(),
        tag: WEIGHT,
        chart,
        n,
        baseline,
        lsl: Some(495.0),
        usl: Some(505.0),
        calendar: shifts.map(|s| s.calendar("t").unwrap()),
        outputs: (1..=8).map(TagId).collect(),
    })
}

fn feed(e: &mut SpcEngine, out: &mut Emitter, t0: i64, values: &[f64]) {
    for (i, v) in values.iter().enumerate() {
        e.on_sample(&Sample::good(WEIGHT, Timestamp::from_secs(t0 + i as i64), Value::Float(*v)), out);
    }
}

#[test]
fn xbar_r_limits_from_the_baseline_then_we1_and_the_range_rule() {
    let mut e = spc(Chart::XbarR, 5, 3, None);
    let mut out = Emitter::default();
    // Three subgroups, each of mean 500 and range 2.
    feed(
        &mut e,
        &mut out,
        0,
        &[
            499.0, 500.0, 501.0, 500.0, 500.0, 500.0, 501.0, 499.0, 500.0, 500.0, 500.0, 500.0, 500.0, 499.0,
            501.0,
        ],
    );
    let l = e.limits().unwrap();
    // A2 = 0.577, D4 = 2.114, d2 = 2.326 for subgroups of 5.
    assert_eq!((l.cl, l.d_cl), (500.0, 2.0));
    assert!((l.ucl - (500.0 + 0.577 * 2.0)).abs() < 1e-12 && (l.lcl - (500.0 - 0.577 * 2.0)).abs() < 1e-12);
    assert!((l.d_ucl - 2.114 * 2.0).abs() < 1e-12 && (l.sigma - 2.0 / 2.326).abs() < 1e-12);
    assert!(out.events[0].message.starts_with("灌装线.净重 control limits from 3 points: CL 500.0000"));
    // A subgroup of mean 501.5 (beyond 3σ of the mean, σ = 0.385) with a range of 5 (beyond D4·R̄).
    feed(&mut e, &mut out, 100, &[499.0, 502.0, 504.0, 501.5, 501.0]);
    let messages: Vec<&str> = out.events.iter().skip(1).map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("WE1: one point beyond 3σ"), "{}", messages[0]);
    assert!(messages[1].contains("dispersion beyond its control limits"), "{}", messages[1]);
    let rule = out.samples.iter().rev().find(|s| s.tag == TagId(6)).unwrap();
    assert_eq!(rule.value, Value::Int(1));
}

#[test]
fn xbar_s_and_individuals_limits_use_their_own_constants() {
    let mut s = spc(Chart::XbarS, 4, 2, None);
    let mut out = Emitter::default();
    feed(&mut s, &mut out, 0, &[498.0, 500.0, 502.0, 500.0, 499.0, 501.0, 499.0, 501.0]);
    let l = s.limits().unwrap();
    let s1 = (8.0f64 / 3.0).sqrt();
    let s2 = (4.0f64 / 3.0).sqrt();
    let sbar = (s1 + s2) / 2.0;
    assert!((l.ucl - (500.0 + 1.628 * sbar)).abs() < 1e-12, "A3 for 4");
    assert!(
        (l.d_ucl - 2.266 * sbar).abs() < 1e-12 && (l.sigma - sbar / 0.9213).abs() < 1e-12,
        "B4 and c4 for 4"
    );

    let mut i = spc(Chart::Individuals, 1, 5, None);
    feed(&mut i, &mut out, 0, &[500.0, 501.0, 499.0, 500.0, 502.0]);
    let l = i.limits().unwrap();
    // Moving ranges 1, 2, 1, 2: MR̄ = 1.5, σ = 1.5 / 1.128.
    assert!((l.cl - 500.4).abs() < 1e-12 && (l.sigma - 1.5 / 1.128).abs() < 1e-12);
    assert!((l.ucl - (500.4 + 3.0 * 1.5 / 1.128)).abs() < 1e-12 && (l.d_ucl - 3.267 * 1.5).abs() < 1e-12);
    // Eight in a row above the centre line, none beyond 1σ: WE4 only.
    let before = out.events.len();
    feed(&mut i, &mut out, 10, &[500.6; 8]);
    let fired: Vec<&str> = out.events[before..].iter().map(|e| e.message.as_str()).collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(fired[0].contains("WE4"));
}

#[test]
fn cp_and_cpk_per_shift_and_a_summary_when_the_shift_ends() {
    let shifts: ShiftsConfig = toml::from_str(
        r#"utc_offset = "+00:00"
list = [{ name = "A", start = "00:00", end = "12:00" }, { name = "B", start = "12:00", end = "00:00" }]"#,
    )
    .unwrap();
    let mut e = spc(Chart::Individuals, 1, 3, Some(shifts));
    let mut out = Emitter::default();
    let day = 1_700_006_400 /* a midnight, UTC */;
    let values = [500.0, 501.0, 499.0, 500.0, 502.0, 500.0];
    feed(&mut e, &mut out, day + 3600, &values);
    let mu = values.iter().sum::<f64>() / 6.0;
    let mr_bar = (1.0 + 2.0 + 1.0 + 2.0 + 2.0) / 5.0;
    let sigma = mr_bar / 1.128;
    let cp = out.samples.iter().rev().find(|s| s.tag == TagId(7)).unwrap().value.as_f64().unwrap();
    let cpk = out.samples.iter().rev().find(|s| s.tag == TagId(8)).unwrap().value.as_f64().unwrap();
    assert!((cp - 10.0 / (6.0 * sigma)).abs() < 1e-12, "{cp}");
    assert!((cpk - ((505.0 - mu).min(mu - 495.0) / (3.0 * sigma))).abs() < 1e-12, "{cpk}");
    feed(&mut e, &mut out, day + 13 * 3600, &[500.0]);
    let summary = out.events.iter().find(|e| e.message.contains("shift A")).unwrap();
    assert_eq!(summary.message, format!("灌装线.净重 shift A: Cp {cp:.2}, Cpk {cpk:.2} over 6 values"));
}
