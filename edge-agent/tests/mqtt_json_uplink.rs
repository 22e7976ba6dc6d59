//! The plain JSON uplink against Mosquitto, end to end from the store: one message per sample on a
//! topic made of site, gateway, device and tag, or one per scan of a device; a Bad sample carries its
//! reason and no value; a Good NaN is counted unencodable, not sent as a good nothing; every other
//! sample arrives once and the cursor reaches the store's head.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use edge_agent::store::{Dictionary, Store, StoreConfig};
use edge_agent::uplink::UplinkStats;
use hil_tests::mosquitto::{Mosquitto, Probe};
use protocols::{Reason, Sample, TagId, TextPool, Timestamp, Value};
use serde_json::{Value as Json, json};
use tokio::sync::watch;

const TAGS: [(&str, &str); 3] =
    [("锅炉一号", "锅炉一号.温度"), ("锅炉一号", "锅炉一号.压力"), ("锅炉二号", "锅炉二号.温度")];
const T0: i64 = 1_700_000_000_000;
const SCANS: usize = 40;

/// Scan `s`: every tag a value of its own; 锅炉一号.压力 is Bad (comms lost) in scan 7; 锅炉二号.温度
/// reads a Good NaN in scan 9 (a driver's decode of a float register holding 0x7FC00000).
fn scan(store: &mut Store, s: usize) {
    let ts = Timestamp((T0 + s as i64 * 1000) * 1_000_000);
    let samples: Vec<Sample> = (0..TAGS.len())
        .map(|t| match (s, t) {
            (7, 1) => Sample::bad(TagId(1), ts, Reason::CommsLost),
            (9, 2) => Sample::good(TagId(2), ts, Value::Float(f64::NAN)),
            _ => Sample::good(TagId(t as u32), ts, Value::Float(s as f64 + t as f64 / 10.0)),
        })
        .collect();
    store.append(&samples, &TextPool::new(), Instant::now()).unwrap();
}

async fn until(within: Duration, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_sample_and_per_scan_messages_carry_every_sample_once_with_its_quality() {
    let broker = Mosquitto::start();
    let sub = Probe::connect(&broker, "historian", &["华东一厂/#"]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let names = TAGS.iter().map(|&(d, t)| (d.to_owned(), t.to_owned())).collect();
    store
        .set_dictionary(Dictionary {
            site: "华东一厂".into(), gateway: "三号网关".into(), tags: names
        })
        .unwrap();
    for s in 0..SCANS {
        scan(&mut store, s);
    }
    let url = broker.url();
    let text = format!(
        r#"
[agent]
site = "华东一厂"
gateway = "三号网关"
[[uplink]]
name = "per-sample"
type = "mqtt_json"
url = "{url}"
topic = "{{site}}/{{gateway}}/{{device}}/{{tag}}"
batch_age = "20ms"
[[uplink]]
name = "per-scan"
type = "mqtt_json"
url = "{url}"
topic = "{{site}}/扫描/{{device}}"
per = "scan"
batch_age = "20ms"
"#
    );
    let config = edge_agent::config::parse(&text, "agent.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    let (stop_tx, stop) = watch::channel(false);
    let mut running = Vec::new();
    for u in config.uplinks {
        let stats = Arc::new(UplinkStats::new(&u.name));
        running.push((stats.clone(), u.start(store.shared(), stats, stop.clone())));
    }
    for (stats, _) in &running {
        until(Duration::from_secs(20), "the store acknowledged", || {
            stats.acked.load(Relaxed) == store.head()
        })
        .await;
    }
    // Every sample but the NaN; per scan, 锅炉二号's scan 9 had nothing else and sends nothing.
    let total = SCANS * TAGS.len() - 1;
    sub.until(Duration::from_secs(10), "every message", |m| m.len() >= total + SCANS * 2 - 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_tx.send(true).unwrap();
    for (stats, task) in running {
        task.await.unwrap().expect("the uplink stops cleanly");
        assert_eq!(stats.sent_samples.load(Relaxed), total as u64, "{}", stats.name);
        assert_eq!(stats.unencodable_samples.load(Relaxed), 1, "{}: the Good NaN", stats.name);
    }

    let got = sub.messages();
    let body = |payload: &[u8]| serde_json::from_slice::<Json>(payload).expect("JSON");
    // Per sample: one message each, on its own topic.
    let at = |s: i64| T0 + s * 1000;
    let mut per_sample: BTreeMap<(String, i64), Json> = BTreeMap::new();
    for r in got.iter().filter(|r| !r.topic.contains("/扫描/")) {
        let b = body(&r.payload);
        let ts = b["ts"].as_i64().unwrap();
        assert!(per_sample.insert((r.topic.clone(), ts), b).is_none(), "{} at {ts} twice", r.topic);
    }
    assert_eq!(per_sample.len(), total, "every sample once");
    assert!(
        !per_sample.contains_key(&("华东一厂/三号网关/锅炉二号/锅炉二号.温度".into(), at(9))),
        "the Good NaN is not sent as a good sample with no value"
    );
    assert_eq!(
        per_sample[&("华东一厂/三号网关/锅炉二号/锅炉二号.温度".into(), at(3))],
        json!({"ts": at(3), "value": 3.2, "quality": "good"})
    );
    assert_eq!(
        per_sample[&("华东一厂/三号网关/锅炉一号/锅炉一号.压力".into(), at(7))],
        json!({"ts": at(7), "quality": "bad", "reason": "comms_lost"}),
        "a Bad sample has its reason and no value"
    );
    // Per scan: one message per device and timestamp, the Bad tag named under `quality`.
    let mut per_scan: BTreeMap<(String, i64), Json> = BTreeMap::new();
    for r in got.iter().filter(|r| r.topic.contains("/扫描/")) {
        let b = body(&r.payload);
        assert!(per_scan.insert((r.topic.clone(), b["ts"].as_i64().unwrap()), b).is_none(), "{}", r.topic);
    }
    assert_eq!(per_scan.len(), SCANS * 2 - 1, "one message per device and scan with a value");
    assert!(!per_scan.contains_key(&("华东一厂/扫描/锅炉二号".into(), at(9))));
    assert_eq!(
        per_scan[&("华东一厂/扫描/锅炉一号".into(), at(7))],
        json!({"ts": at(7), "device": "锅炉一号", "values": {"锅炉一号.温度": 7.0}, "quality": {"锅炉一号.压力": "bad"}})
    );
    assert_eq!(
        per_scan[&("华东一厂/扫描/锅炉一号".into(), at(8))],
        json!({"ts": at(8), "device": "锅炉一号", "values": {"锅炉一号.温度": 8.0, "锅炉一号.压力": 8.1}, "quality": {}})
    );
}
