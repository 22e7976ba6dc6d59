//! The historian write client against real peers (VictoriaMetrics, InfluxDB 1.x) and a scripted one (axum)
//! for the answers real peers give only when something is wrong.

#[path = "support/historians.rs"]
mod historians;

use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, Uri};
use edge_agent::uplink::influxdb::{InfluxApi, InfluxClient, InfluxTarget, WriteOutcome};
use historians::{InfluxDb1, Pki, VictoriaMetrics, repeated};
use protocols::line_protocol::{FieldValue, Point, write_point};

fn v2_target(url: String, gzip: bool) -> InfluxTarget {
    InfluxTarget {
        url,
        api: InfluxApi::V2 { org: "plant & co".into(), bucket: "line/1".into(), token: "s3cr3t".into() },
        gzip,
        timeout: Duration::from_secs(5),
        ca_file: None,
    }
}

fn v1_target(url: String, db: &str, gzip: bool) -> InfluxTarget {
    InfluxTarget {
        url,
        api: InfluxApi::V1 { db: db.into(), rp: None, username: None, password: None },
        gzip,
        timeout: Duration::from_secs(5),
        ca_file: None,
    }
}

/// `n` points of one pump, one a second from 2023-11-14T22:13:20Z, through the crate's encoder.
fn pump_lines(device: &str, n: i64) -> String {
    let mut out = String::new();
    for i in 0..n {
        let tags = [("site", "north"), ("gateway", "gw-1"), ("tag", "flow")];
        let fields = [("value", FieldValue::Float(i as f64 * 0.5))];
        let point = Point {
            measurement: device,
            tags: &tags,
            fields: &fields,
            timestamp_ns: Some(1_700_000_000_000_000_000 + i * 1_000_000_000),
        };
        write_point(&mut out, &point).expect("encodable point");
    }
    out
}

/// The reason and server hint of a Retry; anything else fails the test.
fn expect_retry(outcome: WriteOutcome) -> (String, Option<Duration>) {
    match outcome {
        WriteOutcome::Retry { reason, after } => (reason, after),
        other => panic!("want Retry, got {other:?}"),
    }
}

fn assert_mentions(reason: &str, words: &[&str]) {
    for w in words {
        assert!(reason.contains(w), "{reason:?} lacks {w:?}");
    }
}

#[tokio::test]
async fn v2_writes_to_victoria_metrics_are_stored_once_each_with_and_without_gzip() {
    let vm = VictoriaMetrics::start();
    for (gzip, device) in [(false, "pump1"), (true, "pump2")] {
        let client = InfluxClient::new(&v2_target(vm.url(), gzip)).unwrap();
        let outcome = client.write(pump_lines(device, 50).as_bytes()).await;
        assert_eq!(outcome, WriteOutcome::Accepted, "gzip {gzip}");
    }
    let samples = vm.samples();
    assert_eq!(samples.len(), 100, "{:?}", &samples[..samples.len().min(5)]);
    assert_eq!(repeated(&samples), []);
    // VictoriaMetrics names a series `<measurement>_<field>` and keeps the line's tags as labels.
    let series = r#"pump2_value{gateway="gw-1",site="north",tag="flow"}"#;
    assert_eq!(samples.iter().filter(|(s, _)| s == series).count(), 50);
    assert!(samples.contains(&(series.to_owned(), 1_700_000_049_000)));
}

#[tokio::test]
async fn v1_writes_to_influxdb_are_stored_with_and_without_gzip() {
    let influx = InfluxDb1::start();
    for (gzip, device) in [(false, "pump1"), (true, "pump2")] {
        let client = InfluxClient::new(&v1_target(influx.url(), InfluxDb1::DB, gzip)).unwrap();
        let outcome = client.write(pump_lines(device, 30).as_bytes()).await;
        assert_eq!(outcome, WriteOutcome::Accepted, "gzip {gzip}");
    }
    assert_eq!(influx.count_points(), 60);
}

#[tokio::test]
async fn encoder_escapes_are_accepted_and_read_back_by_influxdb() {
    let influx = InfluxDb1::start();
    let tags = [("site", "north yard"), ("tag", "a=b,c")];
    let fields = [
        ("value", FieldValue::Float(-1.25e-3)),
        ("count", FieldValue::Int(-7)),
        ("ok", FieldValue::Bool(true)),
        ("note", FieldValue::Str(r#"said "hi" \ bye"#)),
    ];
    let point = Point {
        measurement: "pump, east",
        tags: &tags,
        fields: &fields,
        timestamp_ns: Some(1_700_000_000_000_000_000),
    };
    let mut line = String::new();
    write_point(&mut line, &point).unwrap();
    let client = InfluxClient::new(&v1_target(influx.url(), InfluxDb1::DB, false)).unwrap();
    assert_eq!(client.write(line.as_bytes()).await, WriteOutcome::Accepted, "{line}");

    let v = influx.query(r#"SELECT * FROM "pump, east""#);
    let series = &v["results"][0]["series"][0];
    let row: std::collections::HashMap<&str, &serde_json::Value> = series["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .zip(series["values"][0].as_array().unwrap())
        .collect();
    assert_eq!(row["site"], "north yard");
    assert_eq!(row["tag"], "a=b,c");
    assert_eq!(row["note"], r#"said "hi" \ bye"#);
    assert_eq!(row["count"], -7);
    assert_eq!(row["ok"], true);
    assert_eq!(row["value"], -1.25e-3);
}

#[tokio::test]
async fn malformed_line_is_rejected_by_influxdb_with_its_parse_error() {
    let influx = InfluxDb1::start();
    let client = InfluxClient::new(&v1_target(influx.url(), InfluxDb1::DB, true)).unwrap();
    let outcome = client.write(b"pump1 this is not line protocol\n").await;
    match outcome {
        WriteOutcome::Rejected { status: 400, message } => {
            assert!(message.contains("unable to parse"), "{message}");
        }
        other => panic!("want Rejected 400, got {other:?}"),
    }
    assert_eq!(influx.count_points(), 0);
}

#[tokio::test]
async fn unknown_database_is_kept_for_retry_with_what_to_fix() {
    let influx = InfluxDb1::start();
    let client = InfluxClient::new(&v1_target(influx.url(), "nope", false)).unwrap();
    let (reason, after) = expect_retry(client.write(pump_lines("pump1", 1).as_bytes()).await);
    assert_mentions(&reason, &["(404)", "database not found", "CREATE DATABASE", &influx.url()]);
    assert_eq!(after, None);
}

#[tokio::test]
async fn closed_port_is_kept_for_retry_naming_the_url_and_the_refusal() {
    let url = format!("http://127.0.0.1:{}", historians::free_port());
    let client = InfluxClient::new(&v2_target(url.clone(), false)).unwrap();
    let (reason, after) = expect_retry(client.write(pump_lines("pump1", 1).as_bytes()).await);
    assert_mentions(&reason.to_lowercase(), &[&url, "refused"]);
    assert_eq!(after, None);
}

/// What the scripted historian saw of one request.
#[derive(Debug, Clone, Default)]
struct Seen {
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A historian that answers every write with `status` and `headers`, and remembers the last request.
async fn scripted(
    status: StatusCode,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let store = seen.clone();
    let handler = move |uri: Uri, req_headers: HeaderMap, req_body: axum::body::Bytes| {
        let store = store.clone();
        async move {
            *store.lock().unwrap() =
                Seen { uri: uri.to_string(), headers: req_headers, body: req_body.to_vec() };
            let mut h = HeaderMap::new();
            for (k, v) in headers {
                h.insert(*k, v.parse().unwrap());
            }
            (status, h, body)
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// One uncompressed v2 write to a scripted historian.
async fn write_to_scripted(
    status: StatusCode,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> WriteOutcome {
    let (url, _) = scripted(status, headers, body).await;
    let client = InfluxClient::new(&v2_target(url, false)).unwrap();
    client.write(b"pump1 value=1 1\n").await
}

#[tokio::test]
async fn busy_historian_gives_retry_with_its_retry_after() {
    let outcome = write_to_scripted(StatusCode::TOO_MANY_REQUESTS, &[("retry-after", "7")], "").await;
    let (reason, after) = expect_retry(outcome);
    assert_eq!(after, Some(Duration::from_secs(7)), "{reason}");
    assert_mentions(&reason, &["busy (429)"]);
}

#[tokio::test]
async fn unavailable_historian_with_a_date_gives_retry_until_then() {
    const DATE: &[(&str, &str)] = &[("retry-after", "Fri, 31 Dec 2100 23:59:59 GMT")];
    let outcome = write_to_scripted(StatusCode::SERVICE_UNAVAILABLE, DATE, "maintenance").await;
    let (reason, after) = expect_retry(outcome);
    // Relative to now: decades ahead, whatever today is.
    assert!(after > Some(Duration::from_secs(10 * 365 * 86_400)), "{after:?}");
    assert_mentions(&reason, &["busy (503)", "maintenance"]);
}

#[tokio::test]
async fn too_large_batch_asks_for_a_split() {
    let body = r#"{"code":"request too large","message":"body exceeds 10 MiB"}"#;
    let outcome = write_to_scripted(StatusCode::PAYLOAD_TOO_LARGE, &[], body).await;
    let message = "body exceeds 10 MiB".to_owned();
    assert_eq!(outcome, WriteOutcome::TooLarge { message });
}

#[tokio::test]
async fn refused_token_is_kept_for_retry_with_what_to_check() {
    let body = r#"{"code":"unauthorized","message":"unauthorized access"}"#;
    let (reason, after) = expect_retry(write_to_scripted(StatusCode::UNAUTHORIZED, &[], body).await);
    assert_mentions(&reason, &["(401)", "unauthorized access", "token_file"]);
    assert_eq!(after, None);
}

#[tokio::test]
async fn v2_request_carries_token_encoded_query_and_gzip_body() {
    let (url, seen) = scripted(StatusCode::NO_CONTENT, &[], "").await;
    let client = InfluxClient::new(&v2_target(url, true)).unwrap();
    let lines = pump_lines("pump1", 20);
    assert_eq!(client.write(lines.as_bytes()).await, WriteOutcome::Accepted);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.uri, "/api/v2/write?org=plant+%26+co&bucket=line%2F1&precision=ns");
    let header = |name: &str| seen.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("authorization"), Some("Token s3cr3t"));
    assert_eq!(header("content-encoding"), Some("gzip"));
    assert_eq!(header("content-type"), Some("text/plain; charset=utf-8"));
    let mut unpacked = String::new();
    flate2::read::GzDecoder::new(&seen.body[..]).read_to_string(&mut unpacked).unwrap();
    assert_eq!(unpacked, lines);
}

#[tokio::test]
async fn v1_request_carries_basic_auth_and_retention_policy() {
    let (url, seen) = scripted(StatusCode::NO_CONTENT, &[], "").await;
    let target = InfluxTarget {
        api: InfluxApi::V1 {
            db: "scada".into(),
            rp: Some("one year".into()),
            username: Some("gw".into()),
            password: Some("pw".into()),
        },
        ..v1_target(url, "unused", false)
    };
    let client = InfluxClient::new(&target).unwrap();
    assert_eq!(client.write(b"pump1 value=1 1\n").await, WriteOutcome::Accepted);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.uri, "/write?db=scada&rp=one+year&precision=ns");
    // base64("gw:pw")
    assert_eq!(seen.headers.get("authorization").unwrap(), "Basic Z3c6cHc=");
    assert!(seen.headers.get("content-encoding").is_none());
    assert_eq!(seen.body, b"pump1 value=1 1\n");
}

#[tokio::test]
async fn tls_with_the_plant_ca_is_accepted_and_without_it_is_kept_for_retry() {
    let pki = Pki::new();
    let vm = VictoriaMetrics::start_tls(&pki);
    let https = format!("https://{}", vm.addr);
    let trusting =
        InfluxClient::new(&InfluxTarget { ca_file: Some(pki.ca.clone()), ..v2_target(https.clone(), true) })
            .unwrap();
    let lines = pump_lines("pump1", 3);
    // The port accepts a moment before VictoriaMetrics serves writes on it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut outcome = trusting.write(lines.as_bytes()).await;
    while outcome != WriteOutcome::Accepted && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        outcome = trusting.write(lines.as_bytes()).await;
    }
    assert_eq!(outcome, WriteOutcome::Accepted);

    let system_roots_only = InfluxClient::new(&v2_target(https.clone(), true)).unwrap();
    let (reason, after) = expect_retry(system_roots_only.write(lines.as_bytes()).await);
    assert_mentions(&reason.to_lowercase(), &[&https, "certificate"]);
    assert_eq!(after, None);
}
