//! The Sparkplug B edge node in the running agent (a simulated boiler, the store, the uplink) against
//! Mosquitto, with a test host application playing SCADA: the node waits for its primary host's STATE,
//! answers a rebirth, writes DCMDs only within the tag's limits (counting every refusal), holds data
//! while the host is offline (its session ended with an NDEATH) and sends it when it is back; a DDEATH
//! when a device stops answering and a DBIRTH when it is back; over TLS with client certificates and
//! MQTT 5.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use drivers::SystemClock;
use edge_agent::runtime::Running;
use edge_agent::store::Store;
use edge_agent::store::persist::Persist;
use edge_agent::uplink::UplinkStats;
use hil_tests::historians::Pki;
use hil_tests::mosquitto::{Mosquitto, Probe, Received, tahu_decode};
use protocols::sparkplug::{self, Metric, Payload, Reading};
use protocols::{Quality, Value};

const NODE: &str = "spBv1.0/华东一厂/NCMD/三号网关";
const DCMD: &str = "spBv1.0/华东一厂/DCMD/三号网关/锅炉一号";
const STATE: &str = "spBv1.0/STATE/调度主站";

struct Agent {
    running: Running,
    persist: Option<Persist>,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// A boiler scanned every 100 ms (its feed valve writable within 0..100) and `rest` (links, uplinks).
    fn start(rest: &str) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            r#"
[agent]
site = "华东一厂"
gateway = "三号网关"
data_dir = "{}"

[[sim.device]]
name = "锅炉一号"
scan = "100ms"
tags = [
  {{ name = "锅炉一号.温度", shape = "sine", offset = 80.0, amplitude = 5.0, period = "7s" }},
  {{ name = "锅炉一号.给水阀", shape = "constant", offset = 40.0, writable = {{ min = 0.0, max = 100.0 }} }},
]
{rest}"#,
            dir.path().display()
        );
        let config =
            edge_agent::config::parse(&text, "agent.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(&dir.path().join("store"), &config.store).unwrap();
        let persist = Persist::start(store, tokio::runtime::Handle::current()).unwrap();
        let running = Running::start(config, Arc::new(SystemClock), Instant::now(), Some(&persist));
        Agent { running, persist: Some(persist), _dir: dir }
    }

    fn uplink(&self, name: &str) -> Arc<UplinkStats> {
        self.running.generation.uplinks.iter().find(|u| u.name == name).expect("the uplink runs").clone()
    }

    fn value(&self, tag: &str) -> Option<(Value, Quality)> {
        let g = &self.running.generation;
        g.snapshot.get(g.config.tags.registry.id(tag)?).map(|s| (s.value, s.quality))
    }

    async fn stop(mut self) {
        self.running.stop(Duration::from_secs(4)).await;
        let persist = self.persist.take().unwrap();
        let _ = tokio::task::spawn_blocking(move || persist.stop()).await;
    }
}

fn uplink(url: &str, extra: &str) -> String {
    format!(
        "[[uplink]]\nname = \"scada\"\ntype = \"sparkplug_b\"\nurl = \"{url}\"\ngroup_id = \"华东一厂\"\nedge_node = \"三号网关\"\nbatch_age = \"50ms\"\nmax_retry_wait = \"1s\"\n{extra}\n"
    )
}

async fn until(within: Duration, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kind_of(r: &Received) -> Option<&'static str> {
    ["NBIRTH", "DBIRTH", "DDATA", "NDEATH", "DDEATH"]
        .into_iter()
        .find(|k| r.topic.contains(&format!("/{k}/")))
}

fn count(m: &[Received], kind: &str) -> usize {
    m.iter().filter(|r| kind_of(r) == Some(kind)).count()
}

/// Every value the host got for `tag` in DDATA, by the aliases of the DBIRTHs before it: (ms, reading).
fn values_of(m: &[Received], tag: &str) -> Vec<(u64, Reading)> {
    let mut alias = None;
    let mut out = Vec::new();
    for r in m.iter().filter(|r| matches!(kind_of(r), Some("DBIRTH" | "DDATA"))) {
        let p = sparkplug::decode(&r.payload).unwrap();
        match kind_of(r) {
            Some("DBIRTH") => {
                alias = p.metrics.iter().find(|x| x.name.as_deref() == Some(tag)).and_then(|x| x.alias);
            }
            Some("DDATA") => out.extend(
                p.metrics
                    .iter()
                    .filter(|x| x.alias.is_some() && x.alias == alias)
                    .map(|x| (x.timestamp.unwrap(), Reading::of(x, None).unwrap())),
            ),
            _ => {}
        }
    }
    out
}

fn command(name: &str, value: Reading) -> Vec<u8> {
    let mut m =
        Metric { name: Some(name.into()), datatype: Some(value.datatype().code()), ..Default::default() };
    value.put(&mut m);
    sparkplug::encode(&Payload { timestamp: Some(1), metrics: vec![m], ..Default::default() })
}

fn state(online: bool) -> String {
    format!(r#"{{"online": {online}, "timestamp": 1700000000000}}"#)
}

/// Each session's seq runs 0, 1, ... from its NBIRTH without a gap (wrapping after 255).
fn assert_seq_continuous(m: &[Received]) {
    let mut expect = None;
    for r in m.iter().filter(|r| kind_of(r).is_some_and(|k| k != "NDEATH")) {
        let seq = sparkplug::decode(&r.payload).unwrap().seq;
        if kind_of(r) == Some("NBIRTH") {
            expect = Some(0);
        }
        assert_eq!(seq, expect, "{}: a gap in seq", r.topic);
        expect = expect.map(|s| (s + 1) % 256);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_follows_its_primary_host_answers_rebirth_and_writes_dcmds_only_within_limits() {
    let broker = Mosquitto::start();
    let host = Probe::connect(&broker, "调度主站", &["spBv1.0/#"]).await;
    let agent = Agent::start(&uplink(&broker.url(), "primary_host = \"调度主站\""));
    let stats = agent.uplink("scada");

    // 1. No STATE from the primary host yet: nothing is published, the data waits in the store.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&host.messages(), "NBIRTH"), 0, "born before the primary host is online");
    let why = stats.last_error().unwrap_or_default();
    assert!(why.contains("primary host 调度主站 is offline"), "{why}");
    let offline_from = std::time::SystemTime::now();

    host.publish(STATE, state(true), true).await;
    host.until(Duration::from_secs(15), "NBIRTH, DBIRTH and data", |m| {
        count(m, "NBIRTH") == 1 && count(m, "DBIRTH") >= 1 && values_of(m, "锅炉一号.温度").len() > 25
    })
    .await;
    // The two seconds before the host came online arrived too, none lost.
    let first = values_of(&host.messages(), "锅炉一号.温度")[0].0;
    let held = offline_from.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(first + 1500 < held, "the data of before the host's STATE was not held back: {first} vs {held}");

    // 2. Rebirth on request: a new NBIRTH with seq 0 and the same bdSeq (same connection), then DBIRTH.
    let rebirths = stats.rebirths.load(Relaxed);
    host.publish(NODE, command(sparkplug::REBIRTH, Reading::Bool(true)), false).await;
    host.until(Duration::from_secs(10), "a second NBIRTH", |m| count(m, "NBIRTH") == 2).await;
    assert_eq!(stats.rebirths.load(Relaxed), rebirths + 1);
    let m = host.messages();
    let births: Vec<Payload> = m
        .iter()
        .filter(|r| kind_of(r) == Some("NBIRTH"))
        .map(|r| sparkplug::decode(&r.payload).unwrap())
        .collect();
    let bd = |p: &Payload| p.metrics.iter().find(|x| x.name.as_deref() == Some(sparkplug::BD_SEQ)).cloned();
    assert_eq!(bd(&births[0]), bd(&births[1]), "a rebirth keeps the connection's bdSeq");
    assert_eq!(births[1].seq, Some(0));

    // 3. DCMD within limits reaches the valve; outside limits, to a read-only tag, to an unknown metric
    //    and as garbage it is refused and counted, and the valve keeps its value.
    host.publish(DCMD, command("锅炉一号.给水阀", Reading::Float(55.0)), false).await;
    until(Duration::from_secs(10), "the valve at 55", || {
        agent.value("锅炉一号.给水阀") == Some((Value::Float(55.0), Quality::Good))
    })
    .await;
    host.until(Duration::from_secs(10), "the host sees 55", |m| {
        values_of(m, "锅炉一号.给水阀").last().map(|v| &v.1) == Some(&Reading::Float(55.0))
    })
    .await;
    assert_eq!(stats.commands_written.load(Relaxed), 1);
    host.publish(DCMD, command("锅炉一号.给水阀", Reading::Float(140.0)), false).await;
    host.publish(DCMD, command("锅炉一号.温度", Reading::Float(20.0)), false).await;
    host.publish(DCMD, command("锅炉一号.不存在", Reading::Float(1.0)), false).await;
    host.publish(DCMD, b"\xff\xff\xff not protobuf".to_vec(), false).await;
    until(Duration::from_secs(10), "four refusals counted", || stats.commands_refused.load(Relaxed) == 4)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(agent.value("锅炉一号.给水阀"), Some((Value::Float(55.0), Quality::Good)));
    assert_eq!(stats.commands_written.load(Relaxed), 1);

    // 4. The host goes offline: the node ends its session (an NDEATH of this connection's bdSeq, then
    //    DISCONNECT) and the data waits; back online, a birth on a new connection (the next bdSeq) and
    //    the held data, no scan missing.
    host.publish(STATE, state(false), true).await;
    host.until(Duration::from_secs(10), "the node's NDEATH", |m| count(m, "NDEATH") == 1).await;
    let before = count(&host.messages(), "DDATA");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&host.messages(), "DDATA"), before, "DDATA after the NDEATH");
    assert_eq!(count(&host.messages(), "NDEATH"), 1, "the will too: the node did not DISCONNECT");
    let m = host.messages();
    let death = m.iter().find(|r| kind_of(r) == Some("NDEATH")).unwrap();
    let death = sparkplug::decode(&death.payload).unwrap();
    assert_eq!(bd(&death), bd(&births[0]), "the NDEATH pairs with the session's NBIRTH");
    host.publish(STATE, state(true), true).await;
    host.until(Duration::from_secs(15), "a third NBIRTH and the held data", |m| {
        count(m, "NBIRTH") == 3 && count(m, "DDATA") > before + 5
    })
    .await;
    let m = host.messages();
    let third = m.iter().filter(|r| kind_of(r) == Some("NBIRTH")).nth(2).unwrap();
    let third = bd(&sparkplug::decode(&third.payload).unwrap()).and_then(|x| Reading::of(&x, None).ok());
    let first = bd(&births[0]).and_then(|x| Reading::of(&x, None).ok());
    match (first, third) {
        (Some(Reading::Int(a)), Some(Reading::Int(b))) => {
            assert_eq!(b, (a + 1) % 256, "the birth after the host's return is on a new connection")
        }
        other => panic!("bdSeq not an Int64 in the NBIRTHs: {other:?}"),
    }
    let stopped =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    host.until(Duration::from_secs(15), "the scans up to now", |m| {
        values_of(m, "锅炉一号.温度").iter().any(|(t, _)| *t >= stopped)
    })
    .await;
    let m = host.messages();
    let mut ts: Vec<u64> = values_of(&m, "锅炉一号.温度").into_iter().map(|(t, _)| t).collect();
    ts.sort_unstable();
    ts.dedup();
    let gap = ts.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(gap <= 350, "a gap of {gap} ms in the 100 ms scans: data lost while the host was offline");
    assert_seq_continuous(&m);
    for (r, t) in m.iter().zip(tahu_decode(&m.iter().map(|r| r.payload.clone()).collect::<Vec<_>>())) {
        assert!(kind_of(r).is_none() || t.get("error").is_none(), "Tahu cannot decode {}: {t}", r.topic);
    }
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_client_certificate_and_mqtt_5_the_node_publishes_and_the_driver_reads() {
    let pki = Pki::new();
    let (cert, key) = pki.client("gateway-3");
    let broker = Mosquitto::start_tls(&pki);
    let field = Probe::connect(&broker, "boilers", &[]).await;
    let host = Probe::connect(&broker, "scada-host", &["spBv1.0/#"]).await;
    let tls = format!(
        "protocol = \"5\"\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        pki.ca.display(),
        cert.display(),
        key.display()
    );
    let rest = format!(
        r#"
[[mqtt.broker]]
name = "车间总线"
url = "{url}"
{tls}
[[mqtt.broker.subscription]]
topic = "厂区/{{device}}/遥测"
device = "锅炉二号"
tags = [{{ name = "锅炉二号.温度", pointer = "/温度" }}]

{uplink}
[[uplink]]
name = "no-cert"
type = "sparkplug_b"
url = "{url}"
ca_file = "{ca}"
group_id = "华东一厂"
edge_node = "四号网关"
max_retry_wait = "1s"
"#,
        url = broker.url(),
        uplink = uplink(&broker.url(), &tls),
        ca = pki.ca.display(),
    );
    let agent = Agent::start(&rest);

    // The node, on MQTT 5 over TLS with its certificate: births and data at the host.
    host.until(Duration::from_secs(20), "births and data over TLS", |m| {
        count(m, "NBIRTH") == 1 && values_of(m, "锅炉一号.温度").len() > 5
    })
    .await;
    assert_seq_continuous(&host.messages());
    // The driver, on MQTT 5 over TLS: a field device's JSON becomes the tag's value.
    let reporting = tokio::spawn(async move {
        loop {
            field.publish("厂区/锅炉二号/遥测", r#"{"温度": 81.5}"#, false).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    until(Duration::from_secs(20), "the driver reads over TLS", || {
        agent.value("锅炉二号.温度") == Some((Value::Float(81.5), Quality::Good))
    })
    .await;
    reporting.abort();
    // Without a client certificate the broker refuses the handshake: the uplink is down and says why.
    let refused = agent.uplink("no-cert");
    until(Duration::from_secs(10), "the certificate-less uplink shows why it is down", || {
        refused.last_error().is_some_and(|e| e.contains("not connected ("))
    })
    .await;
    assert!(!refused.up.load(Relaxed));
    assert_eq!(refused.sent_samples.load(Relaxed), 0);
    assert!(!host.messages().iter().any(|r| r.topic.contains("四号网关")), "published without a certificate");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_stops_answering_gets_a_ddeath_and_a_dbirth_when_it_answers_again() {
    let broker = Mosquitto::start();
    let host = Probe::connect(&broker, "调度主站", &["spBv1.0/#"]).await;
    // 锅炉二号 stops answering for 1.5 s every 3 s (its tags read Bad, timeout); 锅炉一号 keeps going.
    let rest = format!(
        r#"
[[sim.device]]
name = "锅炉二号"
scan = "100ms"
fault = {{ every = "3s", lasting = "1500ms" }}
tags = [
  {{ name = "锅炉二号.温度", shape = "sine", offset = 70.0, amplitude = 5.0, period = "5s" }},
  {{ name = "锅炉二号.压力", shape = "ramp", offset = 1.0, amplitude = 0.5, period = "4s" }},
]
{}"#,
        uplink(&broker.url(), "")
    );
    let agent = Agent::start(&rest);
    let dev = |r: &Received, kind: &str| kind_of(r) == Some(kind) && r.topic.ends_with("/锅炉二号");
    host.until(Duration::from_secs(30), "two deaths of 锅炉二号 and its births after them", |m| {
        let deaths: Vec<usize> = (0..m.len()).filter(|&i| dev(&m[i], "DDEATH")).collect();
        deaths.len() >= 2 && m[deaths[1]..].iter().any(|r| dev(r, "DDATA"))
    })
    .await;
    let m = host.messages();
    // Per 锅炉二号 message: after a DDEATH, nothing but a DBIRTH comes next, and that DBIRTH carries
    // Good values (the device answers again).
    let mine: Vec<&Received> = m.iter().filter(|r| r.topic.ends_with("/锅炉二号")).collect();
    assert_eq!(kind_of(mine[0]), Some("DBIRTH"));
    for w in mine.windows(2).filter(|w| kind_of(w[0]) == Some("DDEATH")) {
        assert_eq!(kind_of(w[1]), Some("DBIRTH"), "after a DDEATH, {} before its DBIRTH", w[1].topic);
        let birth = sparkplug::decode(&w[1].payload).unwrap();
        assert_eq!(birth.metrics.len(), 2);
        for x in &birth.metrics {
            assert!(x.properties.is_none(), "the rebirth declares {:?} not Good", x.name);
        }
    }
    // The DDATA before each DDEATH has both tags Bad: the node saw every metric lost first.
    for w in mine.windows(2).filter(|w| kind_of(w[1]) == Some("DDEATH")) {
        assert_eq!(kind_of(w[0]), Some("DDATA"));
        let p = sparkplug::decode(&w[0].payload).unwrap();
        assert!(p.metrics.iter().all(|x| x.properties.is_some()), "the last data before the death is Bad");
        let death = sparkplug::decode(&w[1].payload).unwrap();
        assert!(death.metrics.is_empty() && death.seq.is_some(), "a DDEATH: a seq and no metrics");
    }
    assert_eq!(count(&m, "DDEATH"), m.iter().filter(|r| dev(r, "DDEATH")).count(), "锅炉一号 never died");
    assert_eq!(count(&m, "NBIRTH"), 1);
    assert_seq_continuous(&m);
    let decoded = tahu_decode(&m.iter().map(|r| r.payload.clone()).collect::<Vec<_>>());
    for (r, t) in m.iter().zip(decoded) {
        assert!(kind_of(r).is_none() || t.get("error").is_none(), "Tahu cannot decode {}: {t}", r.topic);
        if dev(r, "DDEATH") {
            let seq = sparkplug::decode(&r.payload).unwrap().seq.unwrap();
            assert_eq!(
                t["seq"].to_string().trim_matches('"'),
                seq.to_string(),
                "Tahu reads the DDEATH's seq"
            );
        }
    }
    agent.stop().await;
}
