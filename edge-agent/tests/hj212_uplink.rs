//! The hj212 uplink against `hil-tests/hj212_platform.py`, a platform written apart from the agent's
//! codec that checks each frame's length and CRC: the platform is down at first, then drops
//! acknowledgements on purpose and sends a command; every record still arrives, in both editions. And
//! through the fault proxy: resets, flipped bytes and latency on the link, every record arrives whole.

#[path = "support/hj212.rs"]
mod hj212;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use edge_agent::store::{Dictionary, Store, StoreConfig};
use edge_agent::uplink::{UplinkConfig, UplinkStats};
use hil_tests::faults::{Fault, FaultProxy};
use hj212::{free_port, platform, seen};
use protocols::{Sample, TagId, TextPool, Timestamp, Value};
use serde_json::Value as Json;
use tokio::sync::watch;

const MINUTES: i64 = 20;
/// 2024-01-01 08:00:00 Beijing time.
const T0: i64 = 1_704_067_200;

/// Minute records of 锅炉一号 and one reading that is no record (counted unencodable).
fn cems_store(dir: &std::path::Path) -> Store {
    let mut store = Store::open(dir, &StoreConfig::default()).unwrap();
    let tags = vec![
        ("cems".to_owned(), "锅炉一号.hj212.minute".to_owned()),
        ("锅炉一号".to_owned(), "锅炉一号.温度".to_owned()),
    ];
    store.set_dictionary(Dictionary { site: "华东一厂".into(), gateway: "三号网关".into(), tags }).unwrap();
    let texts = TextPool::new();
    for m in 0..MINUTES {
        let ts = Timestamp::from_secs(T0 + m * 60);
        let record =
            format!("a21026-Cou=0.150,a21026-Min=10.000,a21026-Avg={m}.500,a21026-Max=20.000,a21026-Flag=N");
        let id = texts.intern(&record);
        let samples =
            [Sample::good(TagId(0), ts, Value::Text(id)), Sample::good(TagId(1), ts, Value::Float(85.5))];
        store.append(&samples, &texts, Instant::now()).unwrap();
    }
    store
}

fn uplink(port: u16, edition: &str) -> UplinkConfig {
    let text = format!(
        "[agent]\nsite = \"华东一厂\"\ngateway = \"三号网关\"\n\n[[uplink]]\nname = \"platform\"\ntype = \"hj212\"\naddress = \"127.0.0.1:{port}\"\nedition = \"{edition}\"\npassword = \"123456\"\ntimeout = \"300ms\"\nretries = 1\nbatch_age = \"20ms\"\nmax_retry_wait = \"1s\"\nstations = [{{ stack = \"锅炉一号\", mn = \"MN0001\" }}]\n"
    );
    let config = edge_agent::config::parse(&text, "agent.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    config.uplinks.into_iter().next().unwrap()
}

async fn outage_then_platform(edition: &str, flag: u8) {
    let dir = tempfile::tempdir().unwrap();
    let store = cems_store(dir.path());
    let port = free_port();
    let log = dir.path().join("seen.jsonl");
    let cfg = uplink(port, edition);
    let stats = Arc::new(UplinkStats::new(&cfg.name));
    let (stop_tx, stop) = watch::channel(false);
    let task = cfg.start(store.shared(), stats.clone(), stop);
    // The platform is down for a second: connects are refused, nothing is acknowledged.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stats.acked.load(Relaxed), 0);
    let _platform = platform(port, &log, &["--drop-acks", "2", "--command", "CN=1062;RtdInterval=60"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.acked.load(Relaxed) < store.head() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The command's replies follow the next upload; give them a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_tx.send(true).unwrap();
    task.await.unwrap().expect("the uplink stops cleanly");
    assert_eq!(stats.acked.load(Relaxed), store.head(), "{:?}", stats.last_error());

    let frames = seen(&log);
    assert!(
        frames.iter().all(|f| f["len_ok"] == true && f["crc_ok"] == true && f["crlf_ok"] == true),
        "{frames:?}"
    );
    let uploads: Vec<&Json> = frames.iter().filter(|f| f["fields"]["CN"] == "2051").collect();
    let times: BTreeSet<String> =
        uploads.iter().map(|f| f["cp"][0]["DataTime"].as_str().unwrap().to_owned()).collect();
    let want: BTreeSet<String> = (0..MINUTES).map(|m| format!("2024010108{m:02}00")).collect();
    assert_eq!(times, want, "every minute arrived");
    assert_eq!(uploads.len() as i64, MINUTES + 2, "the two dropped acknowledgements were resent once each");
    for f in &uploads {
        assert_eq!(f["fields"]["Flag"], flag.to_string());
        assert_eq!(f["fields"]["MN"], "MN0001");
        assert_eq!(f["fields"]["PW"], "123456");
    }
    let minute_7 = uploads.iter().find(|f| f["cp"][0]["DataTime"] == "20240101080700").unwrap();
    assert_eq!(minute_7["cp"][1]["a21026-Avg"], "7.500");
    // The platform sends its command on each session (the dropped acknowledgements cost one): each
    // is answered 9011 (will do), then 9012 (done).
    let replies: Vec<&str> =
        frames.iter().filter_map(|f| f["fields"]["CN"].as_str()).filter(|c| c.starts_with("901")).collect();
    assert!(!replies.is_empty() && replies.chunks(2).all(|p| p == ["9011", "9012"]), "{replies:?}");
}

#[tokio::test]
async fn edition_2017_outage_dropped_acks_and_a_command() {
    outage_then_platform("2017", 5).await;
}

#[tokio::test]
async fn edition_2025_outage_dropped_acks_and_a_command() {
    outage_then_platform("2025", 9).await;
}

/// The platform asks for minutes 08:05 to 08:09 again: they come back from the store, between its
/// 9011 and 9012, each acknowledged like a live upload.
#[tokio::test]
async fn history_resend_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = cems_store(dir.path());
    let port = free_port();
    let log = dir.path().join("seen.jsonl");
    let _platform =
        platform(port, &log, &["--command", "CN=2051;BeginTime=20240101080500;EndTime=20240101080900"]);
    let cfg = uplink(port, "2017");
    let stats = Arc::new(UplinkStats::new(&cfg.name));
    let (stop_tx, stop) = watch::channel(false);
    let task = cfg.start(store.shared(), stats.clone(), stop);
    let deadline = Instant::now() + Duration::from_secs(30);
    while (stats.acked.load(Relaxed) < store.head() || seen(&log).iter().all(|f| f["fields"]["CN"] != "9012"))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send(true).unwrap();
    task.await.unwrap().expect("the uplink stops cleanly");
    let frames = seen(&log);
    let cns: Vec<&str> = frames.iter().filter_map(|f| f["fields"]["CN"].as_str()).collect();
    let at = |cn: &str| cns.iter().position(|c| *c == cn).unwrap_or_else(|| panic!("no {cn}: {cns:?}"));
    let (request, done) = (at("9011"), at("9012"));
    let resent: Vec<&str> = frames[request..done]
        .iter()
        .filter(|f| f["fields"]["CN"] == "2051")
        .map(|f| f["cp"][0]["DataTime"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (5..=9).map(|m| format!("2024010108{m:02}00")).collect();
    assert_eq!(resent, want, "{cns:?}");
    assert_eq!(frames[done]["cp"][0]["ExeRtn"], "1");
    assert_eq!(cns.iter().filter(|c| **c == "2051").count() as i64, MINUTES + 5);
}

/// Resets, then flipped bytes (each way: an upload the platform finds corrupt is not acknowledged, a
/// corrupt acknowledgement is not taken as one), then latency, while a minute record is stored every
/// 150 ms: every minute arrives in a whole frame carrying its own values, and every record is
/// acknowledged.
#[tokio::test]
async fn through_the_fault_proxy_every_minute_arrives_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let tags = vec![("cems".to_owned(), "锅炉一号.hj212.minute".to_owned())];
    store.set_dictionary(Dictionary { site: "华东一厂".into(), gateway: "三号网关".into(), tags }).unwrap();
    let port = free_port();
    let log = dir.path().join("seen.jsonl");
    let _platform = platform(port, &log, &[]);
    let proxy = FaultProxy::start(format!("127.0.0.1:{port}"), 2017);
    let cfg = uplink(proxy.addr.port(), "2017");
    let stats = Arc::new(UplinkStats::new(&cfg.name));
    let (stop_tx, stop) = watch::channel(false);
    let task = cfg.start(store.shared(), stats.clone(), stop);
    let texts = TextPool::new();
    let latency = Fault::Latency { delay: Duration::from_millis(40), jitter: Duration::from_millis(40) };
    for m in 0..MINUTES {
        // Seven minutes a fault: each sees uploads, acknowledgements and resends.
        let fault = match m {
            0 => Some(Fault::Reset { chance: 0.5 }),
            7 => Some(Fault::Flip { chance: 0.5 }),
            14 => Some(latency.clone()),
            _ => None,
        };
        if let Some(fault) = fault {
            proxy.set(fault);
        }
        let record =
            format!("a21026-Cou=0.150,a21026-Min=10.000,a21026-Avg={m}.500,a21026-Max=20.000,a21026-Flag=N");
        let sample =
            Sample::good(TagId(0), Timestamp::from_secs(T0 + m * 60), Value::Text(texts.intern(&record)));
        store.append(&[sample], &texts, Instant::now()).unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    proxy.set(Fault::Pass);
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.acked.load(Relaxed) < store.head() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send(true).unwrap();
    task.await.unwrap().expect("the uplink stops cleanly");
    let counts = proxy.counts();
    assert_eq!(stats.acked.load(Relaxed), store.head(), "{:?}; {counts:?}", stats.last_error());
    assert!(counts.resets > 0 && counts.flipped_bytes > 0 && counts.delayed_chunks > 0, "{counts:?}");

    let frames = seen(&log);
    let whole: Vec<&Json> = frames
        .iter()
        .filter(|f| f["len_ok"] == true && f["crc_ok"] == true && f["crlf_ok"] == true)
        .filter(|f| f["fields"]["CN"] == "2051")
        .collect();
    let times: BTreeSet<String> =
        whole.iter().map(|f| f["cp"][0]["DataTime"].as_str().unwrap().to_owned()).collect();
    let want: BTreeSet<String> = (0..MINUTES).map(|m| format!("2024010108{m:02}00")).collect();
    assert_eq!(times, want, "every minute arrived in a whole frame");
    for f in &whole {
        let minute: i64 = f["cp"][0]["DataTime"].as_str().unwrap()[10..12].parse().unwrap();
        assert_eq!(f["cp"][1]["a21026-Avg"], format!("{minute}.500"), "a whole frame carries its own values");
    }
    let corrupt = frames.iter().filter(|f| f["crc_ok"] != true).count();
    eprintln!(
        "through the proxy: {} frames, {corrupt} of them corrupt on arrival, {} whole uploads for {MINUTES} \
         minutes; {counts:?}",
        frames.len(),
        whole.len()
    );
}
