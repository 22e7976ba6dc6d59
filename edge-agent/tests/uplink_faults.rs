//! An InfluxDB uplink against scripted historians (axum) that misbehave the way real ones and their
//! proxies do, with Chinese site, gateway, device and tag names: every sample ends up acknowledged,
//! quarantined or counted as unencodable, exactly, and the uplink keeps running.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use edge_agent::store::{Dictionary, Store, StoreConfig};
use edge_agent::uplink::{UplinkConfig, UplinkStats};
use protocols::{Sample, TagId, TextPool, Timestamp, Value};
use tokio::sync::watch;

/// What the scripted historian answers to one request body.
type Rule = dyn Fn(&str) -> (StatusCode, HeaderMap, &'static str) + Send + Sync;

/// One request as the historian saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    body: Vec<u8>,
    /// What the rule answered.
    status: StatusCode,
}

/// A historian on a free port that answers by `rule` and remembers every request.
async fn historian(rule: Box<Rule>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let rule: Arc<Rule> = Arc::from(rule);
    let handler = move |body: axum::body::Bytes| {
        let (log, rule) = (log.clone(), rule.clone());
        async move {
            // A body cut inside a character is not line protocol: refuse it loudly.
            let (status, headers, text) = match std::str::from_utf8(&body) {
                Ok(text) => rule(text),
                Err(_) => (StatusCode::IM_A_TEAPOT, HeaderMap::new(), "not UTF-8"),
            };
            log.lock().unwrap().push(Seen { at: Instant::now(), body: body.to_vec(), status });
            (status, headers, text)
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

const SITE: &str = "华东一厂";
const GATEWAY: &str = "三号网关";

/// A store of `scans` scans of `tags` ((device, tag) pairs, all floats). The `nan_every`th scan of tag 1 is
/// a NaN of good quality, which line protocol cannot carry.
fn plant_store(dir: &std::path::Path, tags: &[(&str, &str)], scans: usize, nan_every: usize) -> Store {
    let mut store = Store::open(dir, &StoreConfig::default()).unwrap();
    let names = tags.iter().map(|&(d, t)| (d.to_owned(), t.to_owned())).collect();
    store.set_dictionary(Dictionary { site: SITE.into(), gateway: GATEWAY.into(), tags: names }).unwrap();
    let texts = TextPool::new();
    for scan in 0..scans {
        let ts = Timestamp(1_700_000_000_000_000_000 + scan as i64 * 1_000_000_000);
        let samples: Vec<Sample> = (0..tags.len())
            .map(|t| {
                let nan = t == 1 && scan % nan_every == 0;
                let v = if nan { f64::NAN } else { scan as f64 + t as f64 / 10.0 };
                Sample::good(TagId(t as u32), ts, Value::Float(v))
            })
            .collect();
        store.append(&samples, &texts, Instant::now()).unwrap();
    }
    store
}

const TAGS: [(&str, &str); 4] = [
    ("锅炉一号", "锅炉一号.温度"),
    ("锅炉一号", "锅炉一号.压力"),
    ("锅炉二号", "锅炉二号.温度"),
    ("锅炉二号", "锅炉二号.坏点"),
];

const LONG_TAGS: [(&str, &str); 3] =
    [("锅炉一号", "锅炉一号.温度"), ("锅炉一号", "锅炉一号.压力"), ("锅炉三号", LONG)];

/// A tag whose single line is over the historian's 300-byte limit.
const LONG: &str = "锅炉三号.超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称超长位号名称";

/// `[[uplink]]` `extra` for a v1 historian at `url`, without gzip so the scripted one reads bodies as sent.
fn uplink(url: &str, extra: &str) -> UplinkConfig {
    let text = format!(
        "[agent]\nsite = \"{SITE}\"\ngateway = \"{GATEWAY}\"\n\n[[uplink]]\nname = \"scada\"\ntype = \"influxdb_v1\"\nurl = \"{url}\"\ndatabase = \"厂区\"\ngzip = false\nbatch_age = \"20ms\"\n{extra}"
    );
    let config = edge_agent::config::parse(&text, "agent.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
    config.uplinks.into_iter().next().unwrap()
}

/// Runs the uplink on `store` until it acknowledged the whole store (or `within` passed), then stops it.
async fn send_all(cfg: &UplinkConfig, store: &Store, within: Duration) -> Arc<UplinkStats> {
    let stats = Arc::new(UplinkStats::new(&cfg.name));
    let (stop_tx, stop) = watch::channel(false);
    let task = cfg.start(store.shared(), stats.clone(), stop);
    let deadline = Instant::now() + within;
    while stats.acked.load(Relaxed) < store.head() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send(true).unwrap();
    task.await.unwrap().expect("the uplink stops cleanly");
    assert_eq!(stats.acked.load(Relaxed), store.head(), "the uplink stopped short: {:?}", stats.last_error());
    stats
}

/// The non-comment lines of the uplink's quarantine file.
fn quarantined(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("quarantine/scada.lp")).unwrap_or_default();
    text.lines().filter(|l| !l.starts_with('#')).map(str::to_owned).collect()
}

fn no_headers() -> HeaderMap {
    HeaderMap::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_historian_refusing_every_multi_line_write_gets_each_good_line_once_and_the_bad_ones_are_quarantined()
 {
    let dir = tempfile::tempdir().unwrap();
    let store = plant_store(dir.path(), &TAGS, 60, 10);
    // InfluxDB 1.x answers a batch with any bad line "400 partial write"; this one says it of every batch.
    let (url, seen) = historian(Box::new(|body| {
        let bad = body.lines().count() > 1 || body.contains("坏点");
        match bad {
            true => (
                StatusCode::BAD_REQUEST,
                no_headers(),
                r#"{"error":"partial write: points beyond retention policy dropped=1"}"#,
            ),
            false => (StatusCode::NO_CONTENT, no_headers(), ""),
        }
    }))
    .await;
    let stats = send_all(&uplink(&url, "batch_size = 50"), &store, Duration::from_secs(60)).await;

    // 60 scans of 4 tags: 60 of the bad tag, 6 NaNs of good quality, the rest delivered.
    assert_eq!(stats.refused_samples.load(Relaxed), 60);
    assert_eq!(stats.quarantined_lines.load(Relaxed), 60);
    assert_eq!(stats.unencodable_samples.load(Relaxed), 6);
    assert_eq!(stats.sent_samples.load(Relaxed), 240 - 60 - 6);
    let seen = seen.lock().unwrap();
    let stored: Vec<&[u8]> =
        seen.iter().filter(|s| s.status == StatusCode::NO_CONTENT).map(|s| &s.body[..]).collect();
    assert_eq!(stored.len(), 174, "each good line stored once");
    let mut distinct = stored.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 174, "no line stored twice");
    assert!(seen.iter().all(|s| s.status != StatusCode::IM_A_TEAPOT), "a body was cut inside a character");
    for line in &stored {
        let line = std::str::from_utf8(line).unwrap();
        let good = ["锅炉一号.温度", "锅炉一号.压力", "锅炉二号.温度"].iter().any(|tag| {
            let device = tag.split('.').next().unwrap();
            line.starts_with(&format!("{device},site=华东一厂,gateway=三号网关,tag={tag} value="))
        });
        assert!(good, "{line}");
    }
    let kept = quarantined(dir.path());
    assert_eq!(kept.len(), 60);
    assert!(
        kept.iter().all(|l| l.starts_with("锅炉二号,site=华东一厂,gateway=三号网关,tag=锅炉二号.坏点 ")),
        "{kept:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_limit_splits_writes_between_lines_and_a_line_too_large_alone_is_quarantined() {
    const LIMIT: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let store = plant_store(dir.path(), &LONG_TAGS, 40, 1_000_000);
    let (url, seen) = historian(Box::new(|body| match body.len() > LIMIT {
        true => (StatusCode::PAYLOAD_TOO_LARGE, no_headers(), r#"{"error":"request entity too large"}"#),
        false => (StatusCode::NO_CONTENT, no_headers(), ""),
    }))
    .await;
    let stats = send_all(&uplink(&url, "batch_size = 100"), &store, Duration::from_secs(60)).await;

    // 40 scans of 3 tags; the long tag's 40 lines are each over the limit, scan 0 of tag 1 is a NaN.
    assert_eq!(stats.refused_samples.load(Relaxed), 40);
    assert_eq!(stats.unencodable_samples.load(Relaxed), 1);
    assert_eq!(stats.sent_samples.load(Relaxed), 120 - 40 - 1);
    let seen = seen.lock().unwrap();
    let stored: usize = seen
        .iter()
        .filter(|s| s.status == StatusCode::NO_CONTENT)
        .map(|s| {
            assert!(s.body.len() <= LIMIT && s.body.ends_with(b"\n"));
            std::str::from_utf8(&s.body).expect("whole characters").lines().count()
        })
        .sum();
    assert_eq!(stored, 79, "every line under the limit stored once");
    let kept = quarantined(dir.path());
    assert_eq!(kept.len(), 40);
    assert!(kept.iter().all(|l| l.contains(LONG) && l.len() > LIMIT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_only_up_to_max_retry_wait() {
    let dir = tempfile::tempdir().unwrap();
    let store = plant_store(dir.path(), &TAGS[..1], 5, 1_000_000);
    let answered = Arc::new(Mutex::new(0));
    let count = answered.clone();
    let (url, seen) = historian(Box::new(move |_| {
        let mut n = count.lock().unwrap();
        *n += 1;
        match *n {
            // A proxy in maintenance asks for an hour.
            1 => {
                let mut h = HeaderMap::new();
                h.insert("retry-after", "3600".parse().unwrap());
                (StatusCode::SERVICE_UNAVAILABLE, h, "maintenance")
            }
            _ => (StatusCode::NO_CONTENT, no_headers(), ""),
        }
    }))
    .await;
    let cfg = uplink(&url, "max_retry_wait = \"1s\"");
    assert_eq!(cfg.pacing.max_retry_wait, Duration::from_secs(1));
    let stats = send_all(&cfg, &store, Duration::from_secs(10)).await;

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_millis(950) && waited < Duration::from_secs(3), "waited {waited:?}");
    assert_eq!((stats.writes_failed.load(Relaxed), stats.sent_samples.load(Relaxed)), (1, 5));
}
