//! `kill -9` at random moments while one agent feeds every uplink kind at once: InfluxDB v2 into
//! VictoriaMetrics, MQTT JSON and Sparkplug B into Mosquitto, HJ 212 to a platform. After the last
//! restart drains, each uplink has delivered every sample that reached the store, each with the value
//! the store holds, and every payload decodes. The store is the durability boundary: what the ring held
//! at a kill is lost by design, so what was acquired is read from the store, not from the devices.
//! Delivery is at least once: a sample past an uplink's saved position at a kill (in flight, or
//! acknowledged since the last save, at most a second before) may be sent again after the restart,
//! and nothing else may. `KILLS=100 KILL_SEED=7` runs longer or repeats a run's kill moments.

#[path = "support/agent.rs"]
mod agent;
#[path = "support/delivered.rs"]
mod delivered;
#[path = "support/hj212.rs"]
mod hj212;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agent::{Agent, Scratch, eventually, next_random};
use delivered::{Got, InFlight, Key, covers, verify};
use edge_agent::store::{Store, StoreConfig};
use hil_tests::historians::VictoriaMetrics;
use hil_tests::mosquitto::{Mosquitto, Probe, tahu_decode};

const UPLINKS: [&str; 4] = ["vm", "json", "scada", "province"];
const LINE: &str = "一号产线";
const STACK: &str = "锅炉一号";
const MN: &str = "MN33010000000001";

/// A production line scanned every 20 ms (a counter and seven sines) and a stack's analysers every
/// 100 ms, with its CEMS making a real-time record each second, into the four uplinks.
fn plant(data: &Path, vm: &VictoriaMetrics, broker: &Mosquitto, platform_port: u16) -> String {
    let mut line = vec![format!(r#"{{ name = "{LINE}.计数", shape = "counter", rollover = 1000000000 }}"#)];
    line.extend(
        (0..7).map(|i| format!(r#"{{ name = "{LINE}.温度{i}", shape = "sine", period = "{}s" }}"#, 3 + i)),
    );
    let (vm, mqtt) = (vm.url(), broker.url());
    format!(
        r#"
[agent]
site = "华东一厂"
gateway = "三号网关"
data_dir = "{data}"
[api]
listen = "127.0.0.1:0"

[[sim.device]]
name = "{LINE}"
scan = "20ms"
tags = [{line}]

[[sim.device]]
name = "{STACK}"
scan = "100ms"
seed = 7
tags = [
  {{ name = "{STACK}.SO2", shape = "random_walk", offset = 20, amplitude = 0.5, min = 0, max = 60 }},
  {{ name = "{STACK}.氧量", shape = "sine", offset = 8, amplitude = 1, period = "20s" }},
]

[[cems]]
stack = "{STACK}"
o2 = "{STACK}.氧量"
o2_reference = 6.0
realtime = "1s"
pollutants = [{{ name = "so2", code = "a21026", tag = "{STACK}.SO2", unit = "mg/m3", limit = 35.0 }}]

[[uplink]]
name = "vm"
type = "influxdb_v2"
url = "{vm}"
org = "plant"
bucket = "edge"
token = "t0ken"
batch_age = "100ms"

[[uplink]]
name = "json"
type = "mqtt_json"
url = "{mqtt}"
topic = "{{site}}/{{gateway}}/{{device}}"
per = "scan"
batch_age = "100ms"

[[uplink]]
name = "scada"
type = "sparkplug_b"
url = "{mqtt}"
group_id = "华东一厂"
edge_node = "三号网关"
report_by_exception = false
batch_age = "100ms"

[[uplink]]
name = "province"
type = "hj212"
address = "127.0.0.1:{platform_port}"
password = "123456"
stations = [{{ stack = "{STACK}", mn = "{MN}" }}]
batch_age = "100ms"
"#,
        data = data.display(),
        line = line.join(", "),
    )
}

/// Until a platform sets RtdInterval, the uplink sends one real-time record per 30 s slot of the
/// platform's clock (30..3600 s, HJ 212-2017 table 6); the ones in between stay in the store for
/// history requests. Minute and longer records are each due.
fn rtd_slot((tag, ms): &Key) -> Key {
    if tag.ends_with(".hj212.rtd") { (tag.clone(), ms - ms.rem_euclid(30_000)) } else { (tag.clone(), *ms) }
}

fn saved(data: &Path, uplink: &str) -> u64 {
    let text =
        std::fs::read_to_string(data.join("store/cursors").join(uplink)).unwrap_or_else(|_| "0".into());
    text.trim().parse().unwrap()
}

/// `KILLS` (20) and `KILL_SEED` (the clock's nanoseconds, printed so a failing run can be repeated).
fn knobs() -> (usize, u64) {
    let kills = std::env::var("KILLS").map_or(20, |v| v.parse().expect("KILLS: a count"));
    let seed = std::env::var("KILL_SEED").map_or_else(
        |_| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() as u64 | 1,
        |v| v.parse().expect("KILL_SEED: a number"),
    );
    (kills, seed)
}

/// Waits until `got()` covers every stored sample before `owed`, or 30 s passed; returns the last look.
async fn caught_up(
    stored: &BTreeMap<Key, Vec<(u64, delivered::Val)>>,
    owed: u64,
    group: fn(&Key) -> Key,
    got: impl Fn() -> Got,
) -> Got {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let g = got();
        if covers(stored, owed, &g, group) || Instant::now() > deadline {
            return g;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_uplink_delivers_what_reached_the_store_across_twenty_kill_9s() {
    let (kills, seed) = knobs();
    eprintln!("{kills} kills, KILL_SEED={seed}");
    let scratch = Scratch::new("uplinks-kill9");
    let vm = VictoriaMetrics::start();
    let broker = Mosquitto::start();
    let probe = Probe::connect(&broker, "historian", &["华东一厂/#", "spBv1.0/#"]).await;
    let port = hj212::free_port();
    let hj_log = scratch.0.join("platform.jsonl");
    let _platform = hj212::platform(port, &hj_log, &[]);
    let data = scratch.0.join("data");
    let config = scratch.file("agent.toml", &plant(&data, &vm, &broker, port));

    let mut acquired = delivered::Stored::new(|device: &str, _: &str| device == LINE || device == STACK);
    let record = format!("{STACK}.hj212.");
    let mut records = delivered::Stored::new(|_: &str, tag: &str| tag.starts_with(&record));
    let mut rng = seed;
    let mut at_kill: BTreeMap<&str, Vec<InFlight>> = BTreeMap::new();
    for _ in 0..kills {
        let mut agent = Agent::start(&config);
        std::thread::sleep(Duration::from_millis(300 + next_random(&mut rng) % 1200));
        agent.child.kill().unwrap();
        agent.child.wait().unwrap();
        let head = Store::open(&data.join("store"), &StoreConfig::default()).unwrap().head();
        acquired.read(&data);
        records.read(&data);
        for u in UPLINKS {
            at_kill.entry(u).or_default().push(InFlight { saved: saved(&data, u), head });
        }
    }
    // One more run sends what the kills left, and stops cleanly.
    let left = Store::open(&data.join("store"), &StoreConfig::default()).unwrap().head() as f64;
    let mut agent = Agent::start(&config);
    let drained = eventually(Duration::from_secs(60), || {
        UPLINKS.iter().all(|u| agent.metric(&format!(r#"edge_uplink_acked_seq{{uplink="{u}"}}"#)) >= left)
    });
    assert!(drained, "what the kills left was not sent: {}", agent.get("/healthz").1);
    let rejected = agent.metric(r#"edge_uplink_writes_rejected_total{uplink="vm"}"#);
    agent.signal("TERM");
    agent.child.wait().unwrap();
    assert_eq!(
        rejected,
        0.0,
        "VictoriaMetrics refused lines: see {}",
        data.join("store/quarantine").display()
    );

    acquired.read(&data);
    records.read(&data);
    let (acquired, records) = (acquired.samples, records.samples);
    let tags: Vec<(String, String)> = acquired
        .keys()
        .map(|(t, _)| t.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|t| (t.split('.').next().unwrap().to_owned(), t))
        .collect();
    assert_eq!(tags.len(), 10, "every acquired tag is in the store: {tags:?}");
    let stacks = BTreeMap::from([(MN, STACK)]);
    let mut report = Vec::new();
    for u in UPLINKS {
        let owed = saved(&data, u);
        assert!(
            owed as f64 >= left,
            "{u}: its saved position {owed} is short of what the kills left ({left})"
        );
        let (stored, group): (_, fn(&Key) -> Key) = match u {
            "province" => (&records, rtd_slot),
            _ => (&acquired, Key::clone),
        };
        let got = caught_up(stored, owed, group, || match u {
            "vm" => delivered::from_victoria(&vm, &tags),
            "json" => delivered::from_json(&probe.messages(), "华东一厂/三号网关/"),
            "scada" => delivered::from_sparkplug(&probe.messages(), "华东一厂", "三号网关"),
            _ => delivered::from_hj212(&hj212::seen(&hj_log), &stacks, 8),
        })
        .await;
        let v = verify(u, stored, owed, &got, &at_kill[u], group);
        report.push(format!(
            "{u}: all {} owed delivered ({} distinct samples), {} duplicates (bound {})",
            v.owed, v.delivered, v.duplicates, v.in_flight
        ));
    }
    // An implementation of Sparkplug B apart from the agent's reads every payload too.
    let sparkplug: Vec<Vec<u8>> =
        probe.messages().into_iter().filter(|r| r.topic.starts_with("spBv1.0/")).map(|r| r.payload).collect();
    for (i, t) in tahu_decode(&sparkplug).iter().enumerate() {
        assert!(t.get("error").is_none(), "Tahu cannot decode Sparkplug message {i}: {t}");
    }
    let records_sent = records.len();
    assert!(records_sent > 0, "only {records_sent} HJ 212 records in {kills} runs");
    eprintln!(
        "figure: {kills} kills (KILL_SEED={seed}), {} samples acquired, {records_sent} HJ 212 records; {}",
        acquired.len(),
        report.join("; ")
    );
}
