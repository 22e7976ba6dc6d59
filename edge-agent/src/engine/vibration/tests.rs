//! Vibration features against numpy on the same waveform, zone boundaries table-driven, the trend's
//! estimate, and blocks assembled from bursts of samples.

use std::path::PathBuf;
use std::process::Command;

use protocols::{Reason, Sample, TagId, Timestamp, Value};

use super::engine::{VibrationEngine, Wiring};
use super::features::{Analyser, Features};
use super::zone::{Trend, boundaries, zone};
use super::{Band, Foundation, Unit};
use crate::engine::{Emitter, Engine};

const FS: f64 = 2560.0;
const N: usize = 2048;

/// Three tones, noise from a fixed LCG, impacts every 200 samples, an offset: a pump with a bearing fault.
fn waveform() -> Vec<f64> {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    (0..N)
        .map(|i| {
            let t = i as f64 / FS;
            let tones = 3.0 * (2.0 * std::f64::consts::PI * 25.0 * t).sin()
                + 0.8 * (2.0 * std::f64::consts::PI * 157.3 * t + 0.4).sin()
                + 0.2 * (2.0 * std::f64::consts::PI * 640.0 * t).cos();
            let impact = if i % 200 == 7 { 5.0 } else { 0.0 };
            0.7 + tones + impact + 0.6 * noise()
        })
        .collect()
}

fn bands() -> Vec<Band> {
    [("1x", 20.0, 30.0), ("mid", 100.0, 200.0), ("bearing", 500.0, 1000.0)]
        .map(|(n, low, high)| Band { name: n.into(), low, high })
        .to_vec()
}

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hil-tests/.venv/bin/python");
    let python = std::env::var_os("EDGE_TEST_PYTHON").map(PathBuf::from).unwrap_or(venv);
    assert!(
        python.exists(),
        "{} is missing: run hil-tests/run.sh, which installs numpy in a venv",
        python.display()
    );
    python
}

const NUMPY: &str = r#"
import json, sys
import numpy as np
x = np.loadtxt(sys.argv[1]); fs = float(sys.argv[2]); unit = sys.argv[3]; bands = json.loads(sys.argv[4])
n = len(x); xc = x - x.mean()
p = np.abs(np.fft.rfft(xc)) ** 2 / n ** 2
p[1:(n + 1) // 2] *= 2
f = np.fft.rfftfreq(n, 1 / fs)
iso = (f >= 10) & (f < 1000) & (f > 0)
v = p[iso] if unit == "velocity" else p[iso] * (1e3 / (2 * np.pi * f[iso])) ** 2
rms = np.sqrt(np.mean(xc ** 2)); peak = np.max(np.abs(xc))
print(json.dumps({
    "rms": rms, "peak": peak, "crest_factor": peak / rms,
    "kurtosis": np.mean(xc ** 4) / np.mean(xc ** 2) ** 2,
    "velocity_rms": np.sqrt(v.sum()),
    "bands": [np.sqrt(p[(f >= lo) & (f < hi)].sum()) for (lo, hi) in bands],
}))
"#;

fn numpy(x: &[f64], unit: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wave.txt");
    std::fs::write(&file, x.iter().map(|v| format!("{v:.17e}\n")).collect::<String>()).unwrap();
    let bands: Vec<[f64; 2]> = bands().iter().map(|b| [b.low, b.high]).collect();
    let run = Command::new(python())
        .args([
            "-c",
            NUMPY,
            file.to_str().unwrap(),
            &FS.to_string(),
            unit,
            &serde_json::to_string(&bands).unwrap(),
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "numpy: {}", String::from_utf8_lossy(&run.stderr));
    serde_json::from_slice(&run.stdout).unwrap()
}

fn close(ours: f64, theirs: &serde_json::Value, what: &str) {
    let theirs = theirs.as_f64().unwrap();
    assert!((ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0), "{what}: ours {ours}, numpy {theirs}");
}

fn check_against_numpy(f: &Features, n: &serde_json::Value) {
    for (what, ours) in [
        ("rms", f.rms),
        ("peak", f.peak),
        ("crest_factor", f.crest_factor),
        ("kurtosis", f.kurtosis),
        ("velocity_rms", f.velocity_rms),
    ] {
        close(ours, &n[what], what);
    }
    for (i, b) in f.bands.iter().enumerate() {
        close(*b, &n["bands"][i], &format!("band {i}"));
    }
}

#[test]
fn features_of_a_velocity_waveform_match_numpy() {
    let x = waveform();
    let f = Analyser::new(N, FS, Unit::Velocity).features(&x, &bands()).unwrap();
    check_against_numpy(&f, &numpy(&x, "velocity"));
}

#[test]
fn velocity_from_an_acceleration_waveform_matches_numpy_and_the_closed_form() {
    let x: Vec<f64> = waveform().iter().map(|v| v * 9.81).collect();
    let f = Analyser::new(N, FS, Unit::Acceleration).features(&x, &bands()).unwrap();
    check_against_numpy(&f, &numpy(&x, "acceleration"));
    // A pure tone on a bin, 10 m/s² at 80 Hz: v = a / 2πf, RMS = peak / √2, in mm/s.
    let tone: Vec<f64> =
        (0..N).map(|i| 10.0 * (2.0 * std::f64::consts::PI * 80.0 * i as f64 / FS).sin()).collect();
    let f = Analyser::new(N, FS, Unit::Acceleration).features(&tone, &[]).unwrap();
    let expected = 10.0 / (2.0 * std::f64::consts::PI * 80.0) / 2f64.sqrt() * 1e3;
    assert!((f.velocity_rms - expected).abs() < 1e-9 * expected, "{} vs {expected}", f.velocity_rms);
    // A sine's crest factor is √2 and its kurtosis 3/2.
    assert!((f.crest_factor - 2f64.sqrt()).abs() < 1e-3 && (f.kurtosis - 1.5).abs() < 1e-9, "{f:?}");
}

#[test]
fn iso_10816_3_zones_by_group_and_foundation() {
    // (group, foundation, velocity RMS mm/s, zone 1..4 = A..D)
    let table: &[(u8, Foundation, f64, u8)] = &[
        (1, Foundation::Rigid, 2.3, 1),
        (1, Foundation::Rigid, 2.31, 2),
        (1, Foundation::Rigid, 4.6, 3),
        (1, Foundation::Rigid, 7.2, 4),
        (1, Foundation::Flexible, 3.5, 1),
        (1, Foundation::Flexible, 7.0, 2),
        (1, Foundation::Flexible, 11.0, 3),
        (1, Foundation::Flexible, 11.1, 4),
        (2, Foundation::Rigid, 1.4, 1),
        (2, Foundation::Rigid, 2.8, 2),
        (2, Foundation::Rigid, 4.5, 3),
        (2, Foundation::Rigid, 4.51, 4),
        (2, Foundation::Flexible, 2.2, 1),
        (2, Foundation::Flexible, 4.4, 2),
        (2, Foundation::Flexible, 7.1, 3),
        (2, Foundation::Flexible, 9.0, 4),
    ];
    for &(group, foundation, v, z) in table {
        assert_eq!(
            zone(v, &boundaries(group, foundation).unwrap()),
            z,
            "group {group} {foundation:?} {v} mm/s"
        );
    }
    assert_eq!(boundaries(3, Foundation::Rigid), None);
}

#[test]
fn a_rising_trend_estimates_the_time_to_the_next_boundary() {
    let b = boundaries(2, Foundation::Rigid).unwrap();
    let mut trend = Trend::default();
    // 1.0 mm/s rising 0.1 mm/s per hour, one point an hour for a day.
    for h in 0..24 {
        trend.push(h as f64 * 3600.0, 1.0 + 0.1 * h as f64, 7.0 * 86_400.0);
    }
    let now = 23.0 * 3600.0;
    let secs = trend.time_to_next(now, &b).unwrap();
    // At 23 h the fit is 3.3 mm/s (zone C): 4.5 is 12 hours away.
    assert!((secs / 3600.0 - 12.0).abs() < 1e-6, "{}", secs / 3600.0);
    let mut falling = Trend::default();
    for h in 0..24 {
        falling.push(h as f64 * 3600.0, 3.0 - 0.05 * h as f64, 7.0 * 86_400.0);
    }
    assert_eq!(falling.time_to_next(now, &b), None, "no warning when it improves");
}

const WAVE: TagId = TagId(0);

fn engine() -> VibrationEngine {
    VibrationEngine::new(Wiring {
        name: "泵3.驱动端".into(),
        waveform: Some((WAVE, Analyser::new(N, FS, Unit::Velocity), N, FS)),
        rms: None,
        bands: bands(),
        boundaries: boundaries(2, Foundation::Rigid).unwrap(),
        trend: std::time::Duration::from_secs(86_400),
        warn_within: std::time::Duration::from_secs(86_400),
        outputs: (1..=9).map(TagId).collect(),
    })
}

fn burst(e: &mut VibrationEngine, out: &mut Emitter, t0: i64, x: &[f64]) {
    for (i, v) in x.iter().enumerate() {
        let ts = Timestamp(t0 + (i as f64 * 1e9 / FS).round() as i64);
        e.on_sample(&Sample::good(WAVE, ts, Value::Float(*v)), out);
    }
}

#[test]
fn a_burst_of_samples_is_one_block_and_a_gap_or_a_bad_sample_drops_it() {
    let mut e = engine();
    let mut out = Emitter::default();
    let x = waveform();
    let t0 = Timestamp::from_secs(1_700_000_000).0;
    burst(&mut e, &mut out, t0, &x);
    let rms = out.samples.iter().find(|s| s.tag == TagId(1)).unwrap();
    let f = Analyser::new(N, FS, Unit::Velocity).features(&x, &bands()).unwrap();
    assert_eq!(rms.value, Value::Float(f.velocity_rms));
    assert_eq!(
        out.samples.iter().find(|s| s.tag == TagId(2)).unwrap().value,
        Value::Int(i64::from(zone(f.velocity_rms, &boundaries(2, Foundation::Rigid).unwrap())))
    );
    out.samples.clear();
    // Half a block, a 10 ms gap, then a whole block: the half is dropped, the whole one counts.
    burst(&mut e, &mut out, t0 + 10_000_000_000, &x[..N / 2]);
    burst(&mut e, &mut out, t0 + 10_000_000_000 + 410_000_000, &x);
    assert_eq!(e.dropped_blocks(), 1);
    assert_eq!(out.samples.iter().filter(|s| s.tag == TagId(1)).count(), 1);
    burst(&mut e, &mut out, t0 + 20_000_000_000, &x[..10]);
    e.on_sample(&Sample::bad(WAVE, Timestamp(t0 + 20_004_000_000), Reason::Timeout), &mut out);
    assert_eq!(e.dropped_blocks(), 2);
}

#[test]
fn rising_vibration_from_an_rms_tag_moves_zones_and_warns_early() {
    const RMS: TagId = TagId(20);
    let mut e = VibrationEngine::new(Wiring {
        name: "风机1".into(),
        waveform: None,
        rms: Some(RMS),
        bands: vec![],
        boundaries: boundaries(2, Foundation::Rigid).unwrap(),
        trend: std::time::Duration::from_secs(7 * 86_400),
        warn_within: std::time::Duration::from_secs(86_400),
        outputs: vec![TagId(1), TagId(2), TagId(3)],
    });
    let mut out = Emitter::default();
    for h in 0..30 {
        let ts = Timestamp::from_secs(1_700_000_000 + h * 3600);
        e.on_sample(&Sample::good(RMS, ts, Value::Float(1.0 + 0.1 * h as f64)), &mut out);
    }
    let messages: Vec<&str> = out.events.iter().map(|e| e.message.as_str()).collect();
    assert!(messages.iter().any(|m| m.starts_with("风机1 zone A → B: 1.50 mm/s")), "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("风机1 zone B → C: 2.90 mm/s")), "{messages:?}");
    let warning = messages.iter().find(|m| m.contains("early warning")).unwrap();
    assert!(warning.contains("zone C in about"), "{warning}");
    assert_eq!(e.zone(), Some(3));
}
