//! Energy totals against the real binary, killed with `kill -9` at random moments: what the engine
//! reports equals what the meter's register says, with nothing counted twice and no interval lost.
//! The sim register starts again from 0 at each start, which the engine must take as a reset.

#[path = "support/agent.rs"]
mod agent;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use agent::{Agent, Scratch, eventually, next_random};
use edge_agent::store::{LogReader, Store, StoreConfig};

const NS: i64 = 1_000_000_000;

fn plant(data: &Path) -> String {
    format!(
        r#"
[agent]
data_dir = "{}"
[api]
listen = "127.0.0.1:0"

[[sim.device]]
name = "meter"
scan = "10ms"
tags = [{{ name = "一号车间.kwh", shape = "counter", rollover = 1000000000 }}]

[energy]
timezone = "Asia/Shanghai"
interval = "1s"

[[energy.meter]]
name = "一号车间"
energy = "一号车间.kwh"
rollover = 1000000000
"#,
        data.display()
    )
}

/// Every sample of `tags` in the store, in store order: tag → [(ts, value)].
fn stored(data: &Path, tags: &[&str]) -> BTreeMap<String, Vec<(i64, f64)>> {
    let store = Store::open(&data.join("store"), &StoreConfig::default()).unwrap();
    let shared = store.shared();
    let mut reader = LogReader::new(shared.clone(), shared.oldest());
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    while let Some(batch) = reader.read(10_000).unwrap() {
        for s in batch.samples.iter() {
            let name = &batch.dict.tags[s.tag.0 as usize].1;
            if tags.contains(&name.as_str()) && !matches!(s.quality, protocols::Quality::Bad(_)) {
                out.entry(name.clone()).or_default().push((s.ts.0, s.value.as_f64().unwrap()));
            }
        }
    }
    out
}

/// What the register says up to `b`, in µkWh, by the rule an energy manager applies: every rise
/// counts, a fall is a reset that counts nothing, a step across `b` counts in proportion to time.
fn register_until(readings: &[(i64, f64)], b: i64) -> i64 {
    let mut total: i128 = 0;
    for w in readings.windows(2) {
        let ((t0, v0), (t1, v1)) = (w[0], w[1]);
        if t0 >= b || v1 < v0 {
            continue;
        }
        let q = ((v1 - v0) * 1e6).round() as i128;
        total += if t1 <= b { q } else { q * i128::from(b - t0) / i128::from(t1 - t0) };
    }
    total as i64
}

#[test]
fn energy_totals_survive_repeated_kill_9_without_double_counting() {
    let scratch = Scratch::new("energy-kill9");
    let data = scratch.0.join("data");
    let config = scratch.file("agent.toml", &plant(&data));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..12 {
        let mut agent = Agent::start(&config);
        std::thread::sleep(Duration::from_millis(700 + next_random(&mut rng) % 1800));
        agent.child.kill().unwrap();
        agent.child.wait().unwrap();
    }
    // A last run that stops cleanly, once it has booked a few more seconds.
    let agent = Agent::start(&config);
    let booked = eventually(Duration::from_secs(20), || agent.get("/energy").0 == 200);
    assert!(booked, "GET /energy: {:?}", agent.get("/energy"));
    std::thread::sleep(Duration::from_secs(3));
    let (status, view) = agent.get("/energy");
    assert_eq!(status, 200);
    assert!(view.contains("一号车间") && view.contains("Asia/Shanghai"), "{view}");
    agent.signal("TERM");
    let mut agent = agent;
    agent.child.wait().unwrap();

    let s = stored(&data, &["一号车间.kwh", "一号车间.energy", "一号车间.energy_total"]);
    // A replay after a kill may repeat a result; a repeat must be the same figure.
    let mut totals: BTreeMap<i64, f64> = BTreeMap::new();
    for &(ts, v) in &s["一号车间.energy_total"] {
        if let Some(old) = totals.insert(ts, v) {
            assert!((old - v).abs() < 1e-9, "total at {ts} reported as {old} and as {v}: counted twice");
        }
    }
    let mut intervals: BTreeMap<i64, f64> = BTreeMap::new();
    for &(ts, v) in &s["一号车间.energy"] {
        if let Some(old) = intervals.insert(ts, v) {
            assert!((old - v).abs() < 1e-9, "interval ending {ts} reported as {old} and as {v}");
        }
    }
    // No interval lost: one result for every second from the first to the last.
    let (first, last) = (*intervals.keys().next().unwrap(), *intervals.keys().next_back().unwrap());
    assert_eq!(intervals.len() as i64, (last - first) / NS + 1, "a second without its interval");
    assert!(last - first > 20 * NS, "the runs booked only {} s", (last - first) / NS);
    // The books agree with the register, and with themselves.
    let total = totals[&last];
    let expected = register_until(&s["一号车间.kwh"], last) as f64 / 1e6;
    assert!((total - expected).abs() < 1e-3, "total {total} kWh, the register says {expected} kWh");
    let sum: f64 = intervals.values().sum();
    assert!((total - sum).abs() < 1e-3, "total {total} kWh, its intervals add up to {sum} kWh");
}
