//! The MQTT ingest driver against Mosquitto: malformed JSON and protobuf are counted on their device and
//! never stop the driver; Sparkplug B from another edge node becomes tags by the names its births give,
//! data it cannot name makes it ask that node for a rebirth, a DDEATH takes the device's tags Bad; and
//! every config mistake is reported at its file:line:col.

use std::time::Duration;

use drivers::ErrorKind;
use hil_tests::harness::Harness;
use hil_tests::mosquitto::{Mosquitto, Probe};
use protocols::sparkplug::{self, Metric, Payload, Reading};
use protocols::{Quality, Reason, Value};

fn config(url: &str) -> String {
    format!(
        r#"
[[mqtt.broker]]
name = "车间总线"
url = "{url}"
[[mqtt.broker.subscription]]
topic = "厂区/{{device}}/遥测"
device = "锅炉一号"
timestamp = "/ts"
tags = [{{ name = "锅炉一号.温度", pointer = "/温度" }}]
[[mqtt.broker.subscription]]
format = "sparkplug"
group = "华东一厂"
node = "外部网关"
devices = ["泵站一号"]
tags = [{{ name = "泵站一号.流量", metric = "流量" }}]
"#
    )
}

fn payload(seq: u64, metrics: Vec<Metric>) -> Vec<u8> {
    sparkplug::encode(&Payload {
        timestamp: Some(1_714_521_600_000),
        metrics,
        seq: Some(seq),
        ..Default::default()
    })
}

fn flow(name: bool, alias: u64, v: f64) -> Metric {
    let mut m = Metric {
        name: name.then(|| "流量".into()),
        alias: Some(alias),
        datatype: name.then(|| Reading::Float(v).datatype().code()),
        ..Default::default()
    };
    Reading::Float(v).put(&mut m);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_are_counted_and_the_driver_keeps_reading() {
    let broker = Mosquitto::start();
    let field = Probe::connect(&broker, "现场", &["spBv1.0/华东一厂/NCMD/外部网关"]).await;
    let h = Harness::start(&config(&broker.url()));
    let boiler = "厂区/锅炉一号/遥测";
    let temps = |h: &Harness| h.samples("锅炉一号.温度").len();
    // The boiler reports until the subscription is in place and a first reading went through.
    let reporter = Probe::connect(&broker, "锅炉一号", &[]).await;
    let reporting = tokio::spawn(async move {
        loop {
            reporter.publish(boiler, r#"{"ts": "2024-05-01T08:00:00+08:00", "温度": 80.5}"#, false).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    h.until(Duration::from_secs(15), "a first reading", |h| temps(h) > 0).await;
    reporting.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = h.latest("锅炉一号.温度").unwrap();
    assert_eq!((first.value, first.quality), (Value::Float(80.5), Quality::Good));
    assert_eq!(first.ts.0, 1_714_521_600_000_000_000, "the payload's RFC 3339 time");
    let seen = temps(&h);

    // Not JSON, three ways: counted, no sample, the driver goes on.
    let cut = "{\"温度\": 8".as_bytes().to_vec();
    for bad in [cut, b"\xe7\x83\xad\xff\xfe".to_vec(), b"temperature=80".to_vec()] {
        field.publish(boiler, bad, false).await;
    }
    // A field of the wrong shape: a Bad sample and a count.
    field.publish(boiler, r#"{"ts": 1714521601000, "温度": "热"}"#, false).await;
    field.publish(boiler, r#"{"ts": 1714521602000, "温度": 81.0}"#, false).await;
    h.until(Duration::from_secs(10), "the good reading after the bad ones", |h| {
        h.latest("锅炉一号.温度").is_some_and(|s| s.value == Value::Float(81.0))
    })
    .await;
    let after: Vec<_> = h.samples("锅炉一号.温度")[seen..].iter().map(|s| s.quality).collect();
    assert!(after.ends_with(&[Quality::Bad(Reason::DecodeError), Quality::Good]), "{after:?}");
    let dev = h.device("锅炉一号");
    assert!(dev.errors(ErrorKind::Decode) >= 4, "{}", dev.errors(ErrorKind::Decode));
    assert!(
        dev.last_error().unwrap_or_default().contains("topic 厂区/锅炉一号/遥测"),
        "{:?}",
        dev.last_error()
    );
    assert!(dev.is_up(), "a device that sends garbage is there: it stays up");

    // Sparkplug B from another node: the birth names alias 5, data by alias is read by that name.
    field.publish("spBv1.0/华东一厂/NBIRTH/外部网关", payload(0, vec![]), false).await;
    field
        .publish("spBv1.0/华东一厂/DBIRTH/外部网关/泵站一号", payload(1, vec![flow(true, 5, 12.5)]), false)
        .await;
    field
        .publish("spBv1.0/华东一厂/DDATA/外部网关/泵站一号", payload(2, vec![flow(false, 5, 13.0)]), false)
        .await;
    h.until(Duration::from_secs(10), "the flow by alias", |h| {
        h.latest("泵站一号.流量").is_some_and(|s| s.value == Value::Float(13.0))
    })
    .await;
    // Garbage protobuf on DDATA: counted on the pump, nothing else changes.
    let flows = h.samples("泵站一号.流量").len();
    field.publish("spBv1.0/华东一厂/DDATA/外部网关/泵站一号", vec![0x0a, 0xff, 0xff, 0x12], false).await;
    // An alias no birth named: counted, and the node is asked for a rebirth (NCMD).
    field
        .publish("spBv1.0/华东一厂/DDATA/外部网关/泵站一号", payload(3, vec![flow(false, 9, 1.0)]), false)
        .await;
    field
        .until(Duration::from_secs(10), "a rebirth request", |m| {
            m.iter().any(|r| {
                sparkplug::decode(&r.payload).is_ok_and(|p| {
                    p.metrics.iter().any(|x| {
                        x.name.as_deref() == Some(sparkplug::REBIRTH)
                            && Reading::of(x, None) == Ok(Reading::Bool(true))
                    })
                })
            })
        })
        .await;
    let pump = h.device("泵站一号");
    h.until(Duration::from_secs(5), "both counted", |_| pump.errors(ErrorKind::Decode) == 2).await;
    assert_eq!(h.samples("泵站一号.流量").len(), flows, "no sample from garbage");

    // DDEATH: the pump's tags go Bad, comms lost.
    field.publish("spBv1.0/华东一厂/DDEATH/外部网关/泵站一号", payload(4, vec![]), false).await;
    h.until(Duration::from_secs(10), "the flow Bad after DDEATH", |h| {
        h.latest("泵站一号.流量").is_some_and(|s| s.quality == Quality::Bad(Reason::CommsLost))
    })
    .await;
    assert!(!h.device("泵站一号").is_up());
    assert!(h.stop().await < Duration::from_secs(4));
}

#[test]
fn every_mqtt_config_mistake_is_reported_at_its_line_and_column() {
    let text = r#"
[[mqtt.broker]]
name = "车间总线"
url = "tcp://10.0.0.9:1883"
protocol = "4"
keep_alive = "100ms"
[[mqtt.broker.subscription]]
topic = "厂区/锅炉+/遥测"
device = "锅炉一号"
tags = [{ name = "锅炉一号.温度", pointer = "/温度" }]
[[mqtt.broker.subscription]]
topic = "厂区/{device}/遥测"
devices = ["锅炉一号", "锅炉二号"]
qos = 2
timestamp = "ts"
tags = [{ name = "{device}.压力", pointer = "压力" }]
[[mqtt.broker.subscription]]
format = "sparkplug"
group = "华东一厂"
devices = ["泵站一号"]
tags = [{ name = "泵站一号.流量", metric = "流量" }]
[[mqtt.broker.subscription]]
topic = "厂区/状态"
device = "锅炉三号"
colour = "红"
tags = [{ name = "锅炉三号.状态", pointer = "/s" }]
"#;
    let Err(err) = edge_agent::config::parse(text, "agent.toml", &|_| None) else { panic!("no errors") };
    let err = err.to_string();
    let line_of = |needle: &str| 1 + text.lines().position(|l| l.contains(needle)).expect(needle);
    let expected = [
        ("tcp://", "write the broker as \"mqtt://host:1883\""),
        ("protocol", "write \"3.1.1\" or \"5\""),
        ("keep_alive", "keep_alive: at least \"1s\""),
        ("锅炉+", "stand alone as a level"),
        ("qos = 2", "qos: 0 or 1"),
        ("timestamp = \"ts\"", "a JSON pointer"),
        ("pointer = \"压力\"", "a JSON pointer starts with `/`"),
        ("devices = [\"泵站一号\"]", "needs the `group` and `node`"),
        ("colour", "colour"),
    ];
    for (needle, says) in expected {
        let at = format!("agent.toml:{}:", line_of(needle));
        let line = err.lines().find(|l| l.contains(&at) && l.contains(says));
        assert!(line.is_some(), "no error at {at} saying {says:?} in:\n{err}");
        let col = line.unwrap().split(':').nth(3).unwrap_or_default();
        assert!(col.parse::<usize>().is_ok_and(|c| c > 0), "no column in {line:?}");
    }
}
