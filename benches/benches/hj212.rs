//! HJ 212 frames per second, encoded and decoded, for a typical CEMS upload (a minute record of
//! SO2, NOx, dust, O2 and flow: 727 bytes framed) and the standard's own short command; and the CEMS
//! engine for 50 stacks reading each instrument every second, per simulated minute.
//!   cargo bench -p benches --bench hj212

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edge_agent::config::parse;
use edge_agent::engine::{Emitter, Engine};
use protocols::hj212::{
    Cp, Edition, Field, Flag, FrameDecoder, MAX_SEGMENT, Segment, decode_frame, encode_frames,
};
use protocols::{Sample, TagId, Timestamp, Value};

const STANDARD: &str = "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n";

fn minute_record() -> Segment {
    let mut groups = vec![vec![Field::new("DataTime", "20240101120000")]];
    for code in ["a21026", "a21002", "a34013", "a19001", "a00000"] {
        groups.push(
            ["Cou", "Min", "Avg", "Max", "ZsAvg"]
                .iter()
                .map(|f| Field::new(format!("{code}-{f}"), "12345.678"))
                .chain([Field::new(format!("{code}-Flag"), "N")])
                .collect(),
        );
    }
    Segment {
        qn: Some("20240101120000123".into()),
        st: "31".into(),
        cn: 2051,
        pw: "123456".into(),
        mn: "010000A8900016F000169DC0".into(),
        flag: Some(Flag::new(Edition::V2017, true, false)),
        packet: None,
        cp: Cp { groups },
    }
}

fn codec(c: &mut Criterion) {
    let seg = minute_record();
    let frame = encode_frames(&seg, MAX_SEGMENT).unwrap().remove(0);
    let mut g = c.benchmark_group("hj212");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("encode minute record ({} bytes)", frame.len()), |b| {
        b.iter(|| encode_frames(std::hint::black_box(&seg), MAX_SEGMENT).unwrap())
    });
    g.bench_function(format!("decode minute record ({} bytes)", frame.len()), |b| {
        b.iter(|| {
            let (text, _) = decode_frame(std::hint::black_box(frame.as_bytes()), MAX_SEGMENT).unwrap();
            Segment::decode(text).unwrap()
        })
    });
    g.bench_function("decode the standard's 1062 (113 bytes)", |b| {
        b.iter(|| {
            let (text, _) = decode_frame(std::hint::black_box(STANDARD.as_bytes()), MAX_SEGMENT).unwrap();
            Segment::decode(text).unwrap()
        })
    });
    g.bench_function("stream-decode 100 minute records", |b| {
        let stream: String = std::iter::repeat_n(frame.as_str(), 100).collect();
        b.iter(|| {
            let mut d = FrameDecoder::new(MAX_SEGMENT);
            d.push(stream.as_bytes());
            let mut n = 0;
            while let Some(s) = d.next_segment() {
                n += usize::from(s.is_ok());
            }
            assert_eq!(n, 100);
        })
    });
    g.finish();
}

const STACKS: usize = 50;
const INPUTS: [&str; 8] = ["氧量", "湿度", "烟温", "流速", "状态", "SO2", "NO", "烟尘"];

fn stacks() -> (Vec<Box<dyn Engine>>, Vec<TagId>) {
    let mut text = String::new();
    for s in 0..STACKS {
        let tags: Vec<String> = INPUTS
            .iter()
            .map(|t| {
                format!("{{ name = \"锅炉{s}.{t}\", shape = \"noise\", offset = 5.0, amplitude = 0.1 }}")
            })
            .collect();
        text.push_str(&format!("[[sim.device]]\nname = \"锅炉{s}\"\ntags = [{}]\n", tags.join(", ")));
        text.push_str(&format!(
            "[[cems]]\nstack = \"锅炉{s}\"\no2 = \"锅炉{s}.氧量\"\no2_reference = 6.0\nmoisture = \"锅炉{s}.湿度\"\n\
             temperature = \"锅炉{s}.烟温\"\nvelocity = \"锅炉{s}.流速\"\narea = 4.0\nstatus = \"锅炉{s}.状态\"\n\
             pollutants = [\n\
             {{ name = \"so2\", code = \"a21026\", tag = \"锅炉{s}.SO2\", unit = \"ppm\", molar_mass = 64.06, limit = 35.0 }},\n\
             {{ name = \"nox\", code = \"a21002\", tag = \"锅炉{s}.NO\", unit = \"ppm\", molar_mass = 46.01, limit = 50.0 }},\n\
             {{ name = \"dust\", code = \"a34013\", tag = \"锅炉{s}.烟尘\", actual = true, wet = true, limit = 5.0 }},\n]\n"
        ));
    }
    let cfg = parse(&text, "bench.toml", &|_| None).unwrap();
    let reg = cfg.tags.registry.clone();
    let engines = cfg.engines.iter().map(|e| e.build(&|t| reg.id(t)).unwrap()).collect();
    let inputs = (0..STACKS).flat_map(|s| INPUTS.map(|t| reg.id(&format!("锅炉{s}.{t}")).unwrap())).collect();
    (engines, inputs)
}

fn engine(c: &mut Criterion) {
    let (mut engines, inputs) = stacks();
    let mut g = c.benchmark_group("cems");
    // One simulated minute: every instrument of every stack once a second, a tick a second.
    g.throughput(Throughput::Elements(1));
    let mut minute = 0i64;
    g.bench_function("50 stacks, one minute of 1 s readings", |b| {
        b.iter(|| {
            let mut out = Emitter::default();
            for sec in 0..60 {
                let ts = Timestamp::from_secs(1_704_038_400 + minute * 60 + sec);
                for (i, e) in engines.iter_mut().enumerate() {
                    for (k, tag) in inputs[i * INPUTS.len()..(i + 1) * INPUTS.len()].iter().enumerate() {
                        let v = if k == 4 { 0.0 } else { 5.0 + (sec as f64) * 0.01 };
                        e.on_sample(&Sample::good(*tag, ts, Value::Float(v)), &mut out);
                    }
                    e.on_tick(ts, &mut out);
                }
                out.samples.clear();
            }
            minute += 1;
        })
    });
    g.finish();
}

criterion_group!(benches, codec, engine);
criterion_main!(benches);
