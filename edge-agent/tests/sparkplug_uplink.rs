//! The Sparkplug B uplink against Mosquitto, with every payload cross-checked by Eclipse Tahu's own
//! decoder: a broker restart mid-stream loses no metric and sends none twice, seq runs without a gap in
//! each session, the second session's bdSeq follows the first, and the backlog is flagged historical.
//! The outage lasts 10 s; the figure for a one-minute outage:
//!   MQTT_OUTAGE_SECS=60 cargo test -p edge-agent --test sparkplug_uplink -- --nocapture

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use edge_agent::store::{Dictionary, Store, StoreConfig};
use edge_agent::uplink::{UplinkConfig, UplinkStats};
use hil_tests::mosquitto::{Mosquitto, Probe, tahu_decode};
use protocols::sparkplug::{self, MessageType, Reading, Topic};
use protocols::{Sample, TagId, TextPool, Timestamp, Value};
use tokio::sync::watch;

const TAGS: [(&str, &str); 3] =
    [("锅炉一号", "锅炉一号.温度"), ("锅炉一号", "锅炉一号.压力"), ("锅炉二号", "锅炉二号.温度")];
const T0: i64 = 1_700_000_000_000;

fn uplink(url: &str) -> UplinkConfig {
    let text = format!(
        "[agent]\nsite = \"华东一厂\"\ngateway = \"三号网关\"\n[[uplink]]\nname = \"scada\"\ntype = \"sparkplug_b\"\nurl = \"{url}\"\ngroup_id = \"华东一厂\"\nedge_node = \"三号网关\"\nbatch_size = 100\nbatch_age = \"20ms\"\nbacklog_rate = 20000\nmax_retry_wait = \"1s\"\nreconnect_max = \"2s\"\n"
    );
    let config = edge_agent::config::parse(&text, "agent.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    config.uplinks.into_iter().next().unwrap()
}

/// Scan `scan` of every tag: one sample each, a value no other scan has, one second apart.
fn scan(store: &mut Store, scan: usize) {
    let ts = Timestamp((T0 + scan as i64 * 1000) * 1_000_000);
    let samples: Vec<Sample> = (0..TAGS.len())
        .map(|t| Sample::good(TagId(t as u32), ts, Value::Float(scan as f64 + t as f64 / 10.0)))
        .collect();
    store.append(&samples, &TextPool::new(), Instant::now()).unwrap();
}

/// How long the broker is down: `MQTT_OUTAGE_SECS` (10 s by default; the closing figure uses 60).
fn outage_length() -> Duration {
    let secs =
        std::env::var("MQTT_OUTAGE_SECS").map_or(10, |v| v.parse().expect("MQTT_OUTAGE_SECS: whole seconds"));
    Duration::from_secs(secs)
}

async fn until(within: Duration, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_no_metric_sends_none_twice_and_flags_the_backlog() {
    let mut broker = Mosquitto::start();
    let host = Probe::connect(&broker, "scada-host", &["spBv1.0/#"]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let names = TAGS.iter().map(|&(d, t)| (d.to_owned(), t.to_owned())).collect();
    store
        .set_dictionary(Dictionary {
            site: "华东一厂".into(), gateway: "三号网关".into(), tags: names
        })
        .unwrap();
    let (before, after) = (300, 300);
    for s in 0..before {
        scan(&mut store, s);
    }
    let cfg = uplink(&broker.url());
    let stats = Arc::new(UplinkStats::new("scada"));
    let (stop_tx, stop) = watch::channel(false);
    let task = cfg.start(store.shared(), stats.clone(), stop);
    until(Duration::from_secs(20), "the first scans acknowledged", || {
        stats.acked.load(Relaxed) == store.head()
    })
    .await;

    // A broker outage while the plant goes on, 100 scans a second: its scans pile up in the store.
    let outage_len = outage_length();
    broker.stop();
    let down = Instant::now();
    let mut outage = 0;
    while down.elapsed() < outage_len {
        scan(&mut store, before + outage);
        outage += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    broker.restart();
    let back = Instant::now();
    // Live scans keep coming while the backlog is sent.
    for s in before + outage..before + outage + after {
        scan(&mut store, s);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Reconnecting waits out the backoff (at most `reconnect_max`, 2 s here); then the backlog goes.
    until(Duration::from_secs(30), "connected again", || stats.up.load(Relaxed)).await;
    let reconnected = back.elapsed();
    until(Duration::from_secs(60), "the whole store acknowledged", || {
        stats.acked.load(Relaxed) == store.head()
    })
    .await;
    let republished = back.elapsed();
    stop_tx.send(true).unwrap();
    task.await.unwrap().expect("the uplink stops cleanly");
    let total = (before + outage + after) * TAGS.len();
    assert_eq!(stats.sent_samples.load(Relaxed), total as u64);

    let data = |m: &[hil_tests::mosquitto::Received]| {
        m.iter()
            .filter(|r| r.topic.contains("/DDATA/"))
            .map(|r| sparkplug::decode(&r.payload).unwrap().metrics.len())
            .sum::<usize>()
    };
    host.until(Duration::from_secs(30), "every metric at the host", |m| data(m) >= total).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = host.messages();
    eprintln!(
        "figure: a {outage_len:?} outage, {outage} scans × {} tags of backlog, republished in {republished:.2?} after the broker came back (connected again after {reconnected:.2?})",
        TAGS.len()
    );

    // Tahu's decoder reads every payload as ours does.
    let tahu = tahu_decode(&got.iter().map(|r| r.payload.clone()).collect::<Vec<_>>());
    let mut aliases: HashMap<u64, String> = HashMap::new();
    let mut seen: BTreeMap<(String, u64), (usize, bool)> = BTreeMap::new();
    let (mut sessions, mut expect_seq, mut bd_seqs) = (0, 0u64, Vec::new());
    for (r, t) in got.iter().zip(&tahu) {
        assert!(t.get("error").is_none(), "Tahu cannot decode {}: {t}", r.topic);
        let Some(Topic::Node { kind, group, node, .. }) = Topic::parse(&r.topic) else {
            panic!("{}", r.topic)
        };
        assert_eq!((group, node), ("华东一厂", "三号网关"));
        let p = sparkplug::decode(&r.payload).unwrap();
        assert_eq!(t["metrics"].as_array().unwrap().len(), p.metrics.len(), "{t}");
        if kind == MessageType::NDeath {
            continue;
        }
        if kind == MessageType::NBirth {
            sessions += 1;
            expect_seq = 0;
            let bd = p
                .metrics
                .iter()
                .find(|m| m.name.as_deref() == Some(sparkplug::BD_SEQ))
                .expect("bdSeq in NBIRTH");
            bd_seqs.push(Reading::of(bd, None).unwrap());
        }
        assert_eq!(p.seq, Some(expect_seq), "{} in session {sessions}: a gap in seq", r.topic);
        expect_seq = (expect_seq + 1) % 256;
        for (m, tm) in p.metrics.iter().zip(t["metrics"].as_array().unwrap()) {
            if kind == MessageType::DBirth {
                aliases.insert(m.alias.unwrap(), m.name.clone().unwrap());
                assert_eq!(tm["name"], m.name.clone().unwrap());
            }
            if kind != MessageType::DData {
                continue;
            }
            let tag = aliases.get(&m.alias.unwrap()).expect("an alias born before its data").clone();
            let Reading::Float(v) = Reading::of(m, None).unwrap() else { panic!("{m:?}") };
            assert_eq!(tm["value"].as_f64(), Some(v), "Tahu reads another value: {tm}");
            let historical = m.is_historical == Some(true);
            assert_eq!(tm["isHistorical"].as_bool().unwrap_or(false), historical, "{tm}");
            let entry = seen.entry((tag, m.timestamp.unwrap())).or_insert((0, historical));
            entry.0 += 1;
        }
    }
    assert_eq!(sessions, 2, "one session before the outage, one after");
    // bdSeq moves on with every connection attempt (the will of each CONNECT carries the next one).
    assert_ne!(bd_seqs[1], bd_seqs[0], "the second session is told apart from the first");
    assert!(bd_seqs.iter().all(|b| matches!(b, Reading::Int(0..=255))), "{bd_seqs:?}");
    let twice: Vec<_> = seen.iter().filter(|(_, (n, _))| *n > 1).collect();
    assert!(twice.is_empty(), "metrics sent twice: {}", twice.len());
    assert_eq!(seen.len(), total, "every metric once");
    // The outage's scans came back from the backlog, flagged; only the batches already on their way
    // when the broker went (in_flight × batch_size samples) were encoded as live before it.
    let mut unflagged = 0;
    for s in 0..before + outage + after {
        for (_, tag) in TAGS {
            let ts = (T0 + s as i64 * 1000) as u64;
            let (_, historical) =
                seen.get(&(tag.to_string(), ts)).unwrap_or_else(|| panic!("{tag} of scan {s} lost"));
            if (before..before + outage).contains(&s) && !historical {
                unflagged += 1;
            }
        }
    }
    assert!(unflagged <= 2 * 100, "{unflagged} backlog metrics not flagged historical");
    eprintln!("figure: {} metrics, 0 lost, 0 sent twice", seen.len());
}
