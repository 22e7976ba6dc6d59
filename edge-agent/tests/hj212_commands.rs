//! The platform's commands take effect (HJ 212-2017 §6.5): 1062/1064 pace real-time and minute
//! uploads, 1072 changes the password from the next frame and across a restart, a re-send request is
//! served while the link is idle; resends, reply timeouts and sessions are counted.

#[path = "support/hj212.rs"]
mod hj212;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use edge_agent::store::{Dictionary, Store, StoreConfig};
use edge_agent::uplink::{UplinkConfig, UplinkStats};
use hj212::{free_port, platform, seen};
use protocols::{Sample, TagId, TextPool, Timestamp, Value};
use serde_json::Value as Json;
use tokio::sync::watch;

/// 2024-01-01 08:00:00 Beijing time.
const T0: i64 = 1_704_067_200;

/// 锅炉一号's records from 08:00:00 for `minutes`: real-time every 30 s, a minute record each minute.
fn cems_store(dir: &std::path::Path, minutes: i64) -> Store {
    let mut store = Store::open(dir, &StoreConfig::default()).unwrap();
    let tags = vec![
        ("cems".to_owned(), "锅炉一号.hj212.rtd".to_owned()),
        ("cems".to_owned(), "锅炉一号.hj212.minute".to_owned()),
    ];
    store.set_dictionary(Dictionary { site: "华东一厂".into(), gateway: "三号网关".into(), tags }).unwrap();
    append(&mut store, 0, minutes);
    store
}

fn append(store: &mut Store, from: i64, to: i64) {
    let texts = TextPool::new();
    for k in from * 2..to * 2 {
        let ts = Timestamp::from_secs(T0 + k * 30);
        let rtd = texts.intern(&format!("a21026-Rtd={k}.250,a21026-Flag=N"));
        let mut samples = vec![Sample::good(TagId(0), ts, Value::Text(rtd))];
        if k % 2 == 0 {
            let min =
                texts.intern(&format!("a21026-Min=1.000,a21026-Avg={k}.500,a21026-Max=9.000,a21026-Flag=N"));
            samples.push(Sample::good(TagId(1), ts, Value::Text(min)));
        }
        store.append(&samples, &texts, Instant::now()).unwrap();
    }
}

fn uplink(port: u16) -> UplinkConfig {
    let text = format!(
        "[agent]\nsite = \"华东一厂\"\ngateway = \"三号网关\"\n\n[[uplink]]\nname = \"province-1\"\ntype = \"hj212\"\naddress = \"127.0.0.1:{port}\"\npassword = \"123456\"\ntimeout = \"300ms\"\nretries = 1\nbatch_age = \"20ms\"\nmax_retry_wait = \"1s\"\nstations = [{{ stack = \"锅炉一号\", mn = \"MN0001\" }}]\n"
    );
    let config = edge_agent::config::parse(&text, "agent.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    config.uplinks.into_iter().next().unwrap()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn times(frames: &[Json], cn: &str) -> Vec<String> {
    let mut t: Vec<String> = frames
        .iter()
        .filter(|f| f["fields"]["CN"] == cn)
        .map(|f| f["cp"][0]["DataTime"].as_str().unwrap().to_owned())
        .collect();
    t.dedup();
    t
}

#[tokio::test]
async fn intervals_set_by_the_platform_pace_real_time_and_minute_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let store = cems_store(dir.path(), 10);
    let port = free_port();
    let log = dir.path().join("seen.jsonl");
    let _platform = platform(
        port,
        &log,
        &["--drop-acks", "1", "--command", "CN=1062;RtdInterval=60", "--command", "CN=1064;MinInterval=5"],
    );
    let cfg = uplink(port);
    let stats = Arc::new(UplinkStats::new(&cfg.name));
    let (stop_tx, stop) = watch::channel(false);
    let task = cfg.start(store.shared(), stats.clone(), stop);
    until("every record acknowledged", || stats.acked.load(Relaxed) == store.head()).await;
    stop_tx.send(true).unwrap();
    task.await.unwrap().expect("the uplink stops cleanly");

    let frames = seen(&log);
    // 08:00:00 went before the commands took effect; then the top of each minute only.
    let rtd: Vec<String> = (0..10).map(|m| format!("2024010108{m:02}00")).collect();
    assert_eq!(times(&frames, "2011"), rtd);
    assert_eq!(times(&frames, "2051"), ["20240101080000", "20240101080500"]);
    assert_eq!(stats.held_by_interval.load(Relaxed), (20 - 10) + (10 - 2));
    // The first acknowledgement was dropped: one timeout, one resend, the session kept.
    assert_eq!(stats.reply_timeouts.load(Relaxed), 1);
    assert_eq!(stats.resends.load(Relaxed), 1);
    assert_eq!(stats.sessions_opened.load(Relaxed), 1);
    assert_eq!(stats.sessions_lost.load(Relaxed), 0);
    assert!(stats.session_up.load(Relaxed));
    let replies: Vec<&str> =
        frames.iter().filter_map(|f| f["fields"]["CN"].as_str()).filter(|c| c.starts_with("901")).collect();
    assert_eq!(replies, ["9011", "9012", "9011", "9012"]);
    let saved = std::fs::read_to_string(dir.path().join("hj212/province-1")).unwrap();
    assert!(saved.contains("rtd_interval=60\n") && saved.contains("min_interval=5\n"), "{saved}");
}

#[tokio::test]
async fn a_password_set_by_the_platform_is_used_from_the_next_frame_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = cems_store(dir.path(), 2);
    let port = free_port();
    let log = dir.path().join("seen.jsonl");
    let platform_1 = platform(port, &log, &["--command", "CN=1072;NewPW=654321"]);
    let cfg = uplink(port);
    let stats = Arc::new(UplinkStats::new(&cfg.name));
    let (stop_tx, stop) = watch::channel(false);
    let task = cfg.start(store.shared(), stats.clone(), stop);
    until("every record acknowledged", || stats.acked.load(Relaxed) == store.head()).await;
    // The platform goes away while the link is idle: the listener sees it, counted.
    drop(platform_1);
    until("the session lost", || stats.sessions_lost.load(Relaxed) == 1).await;
    assert!(!stats.session_up.load(Relaxed));
    stop_tx.send(true).unwrap();
    task.await.unwrap().expect("the uplink stops cleanly");

    let frames = seen(&log);
    let pw: Vec<&str> = frames.iter().map(|f| f["fields"]["PW"].as_str().unwrap()).collect();
    let cns: Vec<&str> = frames.iter().map(|f| f["fields"]["CN"].as_str().unwrap()).collect();
    // The first upload and the 1072's replies carry the old password; everything after the new one.
    assert_eq!(&cns[..3], ["2011", "9011", "9012"], "{cns:?}");
    assert_eq!(&pw[..3], ["123456"; 3]);
    assert!(pw[3..].iter().all(|p| *p == "654321") && pw.len() == 3 + 5, "{pw:?}");

    // A restarted agent (a new uplink on the same store) keeps the platform's password.
    append(&mut store, 2, 3);
    std::fs::remove_file(&log).unwrap();
    let _platform_2 = platform(port, &log, &[]);
    let stats = Arc::new(UplinkStats::new(&cfg.name));
    let (stop_tx, stop) = watch::channel(false);
    let task = uplink(port).start(store.shared(), stats.clone(), stop);
    until("the new records acknowledged", || stats.acked.load(Relaxed) == store.head()).await;
    stop_tx.send(true).unwrap();
    task.await.unwrap().expect("the uplink stops cleanly");
    let frames = seen(&log);
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert!(frames.iter().all(|f| f["fields"]["PW"] == "654321"), "{frames:?}");
}

/// The platform asks for 08:01 to 08:03 again a second after the last upload: answered without
/// any upload to carry it.
#[tokio::test]
async fn a_history_request_is_served_while_the_link_is_idle() {
    let dir = tempfile::tempdir().unwrap();
    let store = cems_store(dir.path(), 5);
    let port = free_port();
    let log = dir.path().join("seen.jsonl");
    let _platform = platform(
        port,
        &log,
        &["--later", "CN=2051;BeginTime=20240101080100;EndTime=20240101080300", "--later-delay", "1.5"],
    );
    let cfg = uplink(port);
    let stats = Arc::new(UplinkStats::new(&cfg.name));
    let (stop_tx, stop) = watch::channel(false);
    let task = cfg.start(store.shared(), stats.clone(), stop);
    until("every record acknowledged", || stats.acked.load(Relaxed) == store.head()).await;
    let live = seen(&log).len();
    assert_eq!(live, 10 + 5, "every live record went before the request");
    until("the request done", || seen(&log).iter().any(|f| f["fields"]["CN"] == "9012")).await;
    stop_tx.send(true).unwrap();
    task.await.unwrap().expect("the uplink stops cleanly");
    let frames = seen(&log);
    let cns: Vec<&str> = frames[live..].iter().map(|f| f["fields"]["CN"].as_str().unwrap()).collect();
    assert_eq!(cns, ["9011", "2051", "2051", "2051", "9012"]);
    assert_eq!(times(&frames[live..], "2051"), ["20240101080100", "20240101080200", "20240101080300"]);
    assert_eq!(frames.last().unwrap()["cp"][0]["ExeRtn"], "1");
}
