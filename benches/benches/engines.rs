//! Engine cost per sample at plant scale: 10,000 tags on 100 devices, one scan of all of them run
//! through the engines. Baselines in the same run: the dispatch alone (no engine reads the tags), 2,000
//! limit-only alarms; then 2,000 alarms with rate, stale and bad-quality conditions and lifecycles, and
//! that plus 1,000 derived expressions, 100 windowed statistics, 10 machines with OEE and 10 SPC charts.
//!   cargo bench -p benches --bench engines
//! Throughput is in samples, so criterion's report reads as time per scan and samples per second;
//! ns/sample = time per scan / 10,000.

use std::fmt::Write;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edge_agent::engine::Emitter;
use edge_agent::runtime::engines::EngineSet;
use protocols::{Sample, TagId, Timestamp, Value};

const DEVICES: usize = 100;
const TAGS: usize = 100;

fn plant(engines: &str) -> String {
    let mut t = String::new();
    for d in 0..DEVICES {
        let _ = writeln!(t, "[[sim.device]]\nname = \"dev{d:03}\"\ntags = [");
        for i in 0..TAGS {
            let _ = writeln!(t, "  {{ name = \"dev{d:03}.t{i:02}\", shape = \"sine\" }},");
        }
        t.push_str("]\n");
    }
    t.push_str(engines);
    t
}

/// 20 alarms on each device: 2,000.
fn alarms(full: bool) -> String {
    let mut t = String::new();
    for d in 0..DEVICES {
        for i in 0..20 {
            let _ = writeln!(
                t,
                "[[alarm]]\ntag = \"dev{d:03}.t{i:02}\"\nhigh = 90.0\nhigh_high = 95.0\ndeadband = 1.0\non_delay = \"5s\""
            );
            if full {
                t.push_str("rate = { limit = 10.0, per = \"1s\" }\nstale = \"30s\"\nbad_quality = true\n");
            }
        }
    }
    t
}

fn mix() -> String {
    let mut t = alarms(true);
    for d in 0..DEVICES {
        for i in 0..10 {
            let _ = writeln!(
                t,
                "[[derived]]\ntag = \"dev{d:03}.d{i}\"\nexpr = \"dev{d:03}.t{:02} * 2 + max(dev{d:03}.t{:02}, 0) / 3\"",
                20 + i,
                30 + i
            );
        }
        let _ = writeln!(t, "[[statistics]]\ntag = \"dev{d:03}.t50\"\nwindow = \"1m\"\nslide = \"10s\"");
    }
    for d in 0..10 {
        let _ = writeln!(
            t,
            "[[equipment]]\nname = \"m{d}\"\nstates = [{{ state = \"running\", when = \"dev{d:03}.t60 > 0\" }}]\ntotal = \"dev{d:03}.t61\"\ngood = \"dev{d:03}.t62\"\nideal_cycle = \"1s\"\nshifts = {{ list = [{{ name = \"day\", start = \"06:00\", end = \"18:00\" }}] }}"
        );
        let _ = writeln!(
            t,
            "[[spc]]\ntag = \"dev{d:03}.t70\"\nchart = \"xbar_r\"\nsubgroup = 5\nbaseline = 20\nlsl = -2.0\nusl = 2.0"
        );
    }
    t
}

/// One scan: every declared tag once, values on a slow sine so alarms move now and then.
fn scan(n: u64, tags: usize) -> Vec<Sample> {
    let ts = Timestamp::from_secs(1_700_000_000 + n as i64);
    (0..tags)
        .map(|i| {
            let v = 80.0 + 20.0 * ((n as f64 / 30.0) + i as f64).sin();
            Sample::good(TagId(i as u32), ts, Value::Float(v))
        })
        .collect()
}

fn engines(c: &mut Criterion) {
    let mut g = c.benchmark_group("engines_one_scan_10k_tags");
    let tags = DEVICES * TAGS;
    g.throughput(Throughput::Elements(tags as u64));
    let cases = [
        ("no_engines", String::new()),
        ("2k_limit_alarms", alarms(false)),
        ("2k_alarms_full", alarms(true)),
        ("2k_alarms_1k_derived_stats_oee_spc", mix()),
    ];
    for (name, engines) in cases {
        let config = edge_agent::config::parse(&plant(&engines), "bench.toml", &|_| None).unwrap();
        let mut set = EngineSet::build(&config, None);
        let mut out = Emitter::default();
        let mut scans: Vec<Vec<Sample>> = (0..64).map(|n| scan(n, tags)).collect();
        let mut n = 0usize;
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                // A second later each scan; restamping costs the same in every case, baseline included.
                let ts = Timestamp::from_secs(1_700_000_000 + n as i64);
                let len = scans.len();
                let batch = &mut scans[n % len];
                n += 1;
                batch.iter_mut().for_each(|s| s.ts = ts);
                set.on_samples(batch, &mut out);
                set.tick_due(batch[0].ts, &mut out);
                out.samples.clear();
                out.events.clear();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, engines);
criterion_main!(benches);
