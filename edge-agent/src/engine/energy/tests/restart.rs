//! A restart in the middle of an interval: the books saved, the engine built again, restored, and fed
//! from the reading after the save, as the lossless host does after `kill -9`.

use std::collections::BTreeMap;

use super::Site;

const METER: &str = r#"
[energy]
timezone = "Asia/Shanghai"
interval = "15m"
[energy.tariff]
default = "flat"
prices = { flat = 0.6, peak = 1.0 }
periods = [{ period = "peak", hours = ["10:00-11:00"] }]
[[energy.meter]]
name = "空压机"
energy = "kwh"
rollover = 999
demand = { period = "15m", slip = "1m" }
"#;

/// Readings every 7 s from 09:50 for an hour, 0.9 kWh each, through several rollovers.
fn readings(site: &Site) -> Vec<(protocols::Timestamp, f64)> {
    let start = site.at("2025-01-06 09:50:00").0;
    (0..514).map(|i| (protocols::Timestamp(start + i * 7_000_000_000), (i as f64 * 0.9) % 1000.0)).collect()
}

fn derived(site: &Site) -> BTreeMap<(u32, i64), f64> {
    site.out.samples.iter().map(|s| ((s.tag.0, s.ts.0), s.value.as_f64().unwrap())).collect()
}

#[test]
fn a_restart_mid_interval_neither_loses_nor_double_counts() {
    let mut whole = Site::new(&["kwh"], METER);
    let all = readings(&whole);
    for &(ts, v) in &all {
        whole.read_at("kwh", ts, v);
    }
    for cut in [1, 77, 200, 333, 512] {
        // The first run saves after `cut` readings, then goes on a little before it is killed.
        let mut first = Site::new(&["kwh"], METER);
        for &(ts, v) in &all[..cut] {
            first.read_at("kwh", ts, v);
        }
        let saved = first.engine.save().unwrap();
        for &(ts, v) in &all[cut..(cut + 30).min(all.len())] {
            first.read_at("kwh", ts, v);
        }
        let mut second = Site::new(&["kwh"], METER);
        second.engine.restore(saved).unwrap();
        for &(ts, v) in &all[cut..] {
            second.read_at("kwh", ts, v);
        }
        // Whatever both runs derived for the same tag and time is the same value: a repeat, not a recount.
        let (a, b) = (derived(&first), derived(&second));
        for (k, v) in &b {
            if let Some(w) = a.get(k) {
                assert_eq!(v, w, "cut {cut}: {k:?} derived twice with different values");
            }
        }
        let mut joined = a;
        joined.extend(b);
        assert_eq!(joined, derived(&whole), "cut {cut}: the two runs together derive what one run does");
    }
    let total = whole.series("空压机.energy_total").last().unwrap().1;
    let sum: f64 = whole.values("空压机.energy").iter().sum();
    assert!((total - sum).abs() < 1e-6, "the total is the sum of its intervals: {total} vs {sum}");
    // The last boundary is 10:45: 55 min of readings every 7 s, 0.9 kWh each.
    assert!((total - 0.9 * 3300.0 / 7.0).abs() < 1e-5, "{total}");
}
