//! The energy engine's cost per sample: 1000 meters read every second (registers, as the sim
//! `counter` shape makes them), with 15 min intervals, sliding demand (1 min grains), a tariff and
//! carbon; beside it in the same run, 1000 limit alarms on the same samples as the baseline.
//!   cargo bench -p benches --bench energy

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edge_agent::config::parse;
use edge_agent::engine::{Emitter, Engine};
use protocols::{Sample, TagId, Timestamp, Value};

const METERS: usize = 1000;

fn config(energy: bool) -> edge_agent::config::Config {
    let tags: Vec<String> =
        (0..METERS).map(|i| format!("{{ name = \"m{i}.kwh\", shape = \"counter\" }}")).collect();
    let mut text = format!("[[sim.device]]\nname = \"meters\"\ntags = [{}]\n", tags.join(", "));
    if energy {
        text.push_str(
            "[energy]\ntimezone = \"Asia/Shanghai\"\n[energy.carbon]\n[energy.tariff]\ndefault = \"flat\"\n\
             prices = { peak = 1.0, flat = 0.6, valley = 0.3 }\n\
             periods = [{ period = \"valley\", hours = [\"23:00-07:00\"] }, { period = \"peak\", hours = [\"08:00-11:00\"] }]\n",
        );
        for i in 0..METERS {
            text.push_str(&format!(
                "[[energy.meter]]\nname = \"车间{i}\"\nenergy = \"m{i}.kwh\"\nrollover = 65535\ndemand = {{ period = \"15m\", slip = \"1m\" }}\n"
            ));
        }
    } else {
        for i in 0..METERS {
            text.push_str(&format!("[[alarm]]\ntag = \"m{i}.kwh\"\nhigh = 1e12\n"));
        }
    }
    parse(&text, "bench.toml", &|_| None).unwrap()
}

fn engines(energy: bool) -> Vec<Box<dyn Engine>> {
    let cfg = config(energy);
    let reg = cfg.tags.registry.clone();
    cfg.engines.iter().map(|e| e.build(&|t| reg.id(t)).unwrap()).collect()
}

/// One second of readings: every meter once, 10 kWh more than a second ago.
fn second(s: i64) -> Vec<Sample> {
    let ts = 1_736_121_600_000_000_000 + s * 1_000_000_000;
    (0..METERS)
        .map(|i| {
            Sample::good(TagId(i as u32), Timestamp(ts + i as i64), Value::UInt(((s * 10) % 65536) as u64))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine per sample, 1000 meters");
    group.throughput(Throughput::Elements(METERS as u64));
    for (label, energy) in [("energy", true), ("alarm (baseline)", false)] {
        let mut set = engines(energy);
        let mut out = Emitter::default();
        let mut s = 0;
        group.bench_function(label, |b| {
            b.iter(|| {
                let batch = second(s);
                s += 1;
                for sample in &batch {
                    // One energy engine takes every meter; alarm i watches meter i (the runtime's dispatch).
                    let i = if set.len() == 1 { 0 } else { sample.tag.0 as usize };
                    set[i].on_sample(sample, &mut out);
                }
                out.samples.clear();
                out.events.clear();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
