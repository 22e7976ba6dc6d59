//! Store and forward against real historians: an outage, twenty `kill -9`s, a full store, a damaged
//! segment, and InfluxDB 1.x's strict parser. The sim counter `line.count` goes up by one each scan, so
//! a gap in what the historian holds is a lost sample and a repeat is a duplicate.

#[path = "support/agent.rs"]
mod agent;
#[path = "support/historians.rs"]
mod historians;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agent::{Agent, Scratch, eventually, next_random};
use edge_agent::store::{LogReader, Store, StoreConfig};
use historians::{InfluxDb1, VictoriaMetrics};
use protocols::Value;

/// A line with a scan counter and `extra` more tags, all scanned every 10 ms.
fn plant(data_dir: &Path, extra_tags: usize, sections: &str) -> String {
    let mut tags = vec![r#"{ name = "line.count", shape = "counter", rollover = 1000000000 }"#.to_owned()];
    for i in 0..extra_tags {
        tags.push(format!(r#"{{ name = "line.t{i}", shape = "sine", period = "7s" }}"#));
    }
    format!(
        r#"
[agent]
site = "test-site"
gateway = "gw-test"
data_dir = "{}"

[api]
listen = "127.0.0.1:0"

{sections}

[[sim.device]]
name = "line"
scan = "10ms"
tags = [
  {}
]
"#,
        data_dir.display(),
        tags.join(",\n  ")
    )
}

fn v2_uplink(vm: &VictoriaMetrics, extra: &str) -> String {
    format!(
        r#"[[uplink]]
name = "vm"
type = "influxdb_v2"
url = "{}"
org = "plant"
bucket = "edge"
token = "t0ken"
batch_age = "100ms"
{extra}"#,
        vm.url()
    )
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The counter as the historian holds it: (time ms, count).
fn counts(vm: &VictoriaMetrics) -> Vec<(i64, u64)> {
    vm.points("line_value_int", "line.count").into_iter().map(|(t, v)| (t, v as u64)).collect()
}

/// Asserts the counter runs 0, 1, 2, ... with no gap and no repeat; returns how many.
fn assert_gapless_from(points: &[(i64, u64)], first: u64) -> u64 {
    for (i, (t, v)) in points.iter().enumerate() {
        assert_eq!(
            *v,
            first + i as u64,
            "at {t} ms: expected count {} (a gap is a lost sample, a repeat a duplicate)",
            first + i as u64
        );
    }
    points.len() as u64
}

fn cursor(data_dir: &Path, uplink: &str) -> u64 {
    std::fs::read_to_string(data_dir.join("store/cursors").join(uplink)).unwrap().trim().parse().unwrap()
}

/// VictoriaMetrics makes what it took searchable over a few seconds, even after a flush: wait until it
/// shows at least `want` points and the count holds still for a second, then return them.
fn settled(vm: &VictoriaMetrics, want: u64) -> Vec<historians::StoredSample> {
    let mut last = vm.samples();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        std::thread::sleep(Duration::from_millis(1000));
        let now = vm.samples();
        let stable = now.len() == last.len() && now.len() as u64 >= want;
        last = now;
        if stable || Instant::now() > deadline {
            return last;
        }
    }
}

fn wait_drained(agent: &Agent, within: Duration) {
    let drained = eventually(within, || {
        agent.metric(r#"edge_uplink_up{uplink="vm"}"#) == 1.0
            && agent.metric(r#"edge_uplink_backlog_samples{uplink="vm"}"#) < 200.0
    });
    assert!(drained, "the backlog did not drain: {}", agent.get("/healthz").1);
}

#[test]
fn a_historian_outage_loses_nothing_and_repeats_at_most_a_retried_write() {
    let outage = Duration::from_secs(
        std::env::var("EDGE_TEST_OUTAGE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60),
    );
    let scratch = Scratch::new("outage");
    let mut vm = VictoriaMetrics::start();
    let data = scratch.0.join("data");
    let config = scratch
        .file("agent.toml", &plant(&data, 20, &v2_uplink(&vm, "backlog_rate = 5000\nbatch_size = 500")));
    let agent = Agent::start(&config);
    assert!(eventually(Duration::from_secs(10), || agent
        .metric(r#"edge_uplink_sent_samples_total{uplink="vm"}"#)
        > 0.0));

    vm.stop();
    std::thread::sleep(outage);
    assert_eq!(agent.metric(r#"edge_uplink_up{uplink="vm"}"#), 0.0);
    let backlog = agent.metric(r#"edge_uplink_backlog_samples{uplink="vm"}"#);
    // 21 tags every 10 ms is 2100 samples/s; a debug build on a busy machine scans slower.
    assert!(backlog > outage.as_secs_f64() * 500.0, "backlog {backlog}");
    let (_, health) = agent.get("/healthz");
    assert!(health.contains("\"status\":\"degraded\"") && health.contains("Connection refused"), "{health}");

    vm.restart();
    let back = now_ms();
    // Live data flows while the backlog is still being sent (at 5000 samples/s, for seconds). The
    // uplink retries at most 30 s apart.
    assert!(eventually(Duration::from_secs(40), || counts(&vm).last().is_some_and(|&(t, _)| t >= back)));
    let left = agent.metric(r#"edge_uplink_backlog_samples{uplink="vm"}"#);
    assert!(left > 2_000.0, "live data arrives while the backlog is still {left} samples");
    wait_drained(&agent, Duration::from_secs(60));
    agent.stop();

    let acked = cursor(&data, "vm");
    let all = settled(&vm, acked);
    // Delivery is at least once: a write whose answer a busy machine's timeout lost is sent again, and
    // VictoriaMetrics (without its dedup flag) keeps both copies. Seen once in a parallel run of the whole
    // workspace. Such repeats are one extra copy each, of at most two batches (500 samples each).
    let repeats = historians::repeated(&all);
    let extra: usize = repeats.iter().map(|(_, n)| n - 1).sum();
    assert!(
        repeats.iter().all(|(_, n)| *n == 2) && extra <= 2 * 500,
        "{extra} samples stored more than once, e.g. {:?}",
        &repeats[..repeats.len().min(3)]
    );
    assert_eq!((all.len() - extra) as u64, acked, "every acknowledged sample is stored");
    let n = assert_gapless_from(&counts(&vm), 0);
    assert!(n as f64 > outage.as_secs_f64() * 90.0, "{n} scans");
}

/// What the store holds of the counter: (time ms, count).
fn counts_on_disk(data: &Path) -> BTreeSet<(i64, u64)> {
    let store = Store::open(&data.join("store"), &StoreConfig::default()).unwrap();
    let shared = store.shared();
    let mut reader = LogReader::new(shared.clone(), shared.oldest());
    let mut out = BTreeSet::new();
    while let Some(batch) = reader.read(10_000).unwrap() {
        let id = batch.dict.tags.iter().position(|(_, t)| t == "line.count").unwrap() as u32;
        for s in batch.samples.iter().filter(|s| s.tag.0 == id) {
            let Value::UInt(v) = s.value else { panic!("{s:?}") };
            out.insert((s.ts.0 / 1_000_000, v));
        }
    }
    out
}

#[test]
fn twenty_kill_9s_lose_only_what_had_not_reached_the_store() {
    let scratch = Scratch::new("kill9");
    let mut vm = VictoriaMetrics::start();
    let data = scratch.0.join("data");
    let config = scratch.file("agent.toml", &plant(&data, 10, &v2_uplink(&vm, "")));
    let mut on_disk = BTreeSet::new();
    let mut runs = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut worst_tail = 0;
    for i in 0..20 {
        // Every fifth run starts in an outage that lasts two runs.
        match i % 5 {
            2 => vm.stop(),
            4 => vm.restart(),
            _ => {}
        }
        let start = now_ms();
        let mut agent = Agent::start(&config);
        std::thread::sleep(Duration::from_millis(300 + next_random(&mut rng) % 1200));
        agent.child.kill().unwrap();
        agent.child.wait().unwrap();
        let killed = now_ms();
        let disk = counts_on_disk(&data);
        // kill -9 takes what the ring held and the store thread had not written: a few ms. (A power cut
        // would also take the unsynced part: [store] sync, 100 ms by default.)
        let last = disk.range((start, 0)..).next_back().map_or(start, |&(t, _)| t);
        worst_tail = worst_tail.max(killed - last);
        assert!(
            killed - last < 500,
            "run {i}: the newest sample on disk is {} ms older than the kill",
            killed - last
        );
        on_disk.extend(disk);
        runs.push((start, killed));
    }
    // The last run began with the historian back. One more run sends everything the kills left.
    let left = Store::open(&data.join("store"), &StoreConfig::default()).unwrap().head() as f64;
    let agent = Agent::start(&config);
    let sent =
        eventually(Duration::from_secs(60), || agent.metric(r#"edge_uplink_acked_seq{uplink="vm"}"#) >= left);
    assert!(sent, "what the kills left was not sent: {}", agent.get("/healthz").1);
    agent.stop();
    let acked = cursor(&data, "vm");
    settled(&vm, acked);

    let held: BTreeSet<(i64, u64)> = counts(&vm).into_iter().collect();
    let missing: Vec<_> = on_disk.difference(&held).collect();
    if !missing.is_empty() {
        for (i, &(start, killed)) in runs.iter().enumerate() {
            let m = missing.iter().filter(|&&&(t, _)| t >= start && t <= killed).count();
            let h = held.iter().filter(|&&(t, _)| t >= start && t <= killed).count();
            let d = on_disk.iter().filter(|&&(t, _)| t >= start && t <= killed).count();
            eprintln!("run {i}: {start}..{killed} on disk {d} held {h} missing {m}");
        }
    }
    let missing: Vec<_> = missing.into_iter().take(5).collect();
    assert!(missing.is_empty(), "on disk but never delivered: {missing:?}");
    for (i, &(start, killed)) in runs.iter().enumerate() {
        let run: Vec<(i64, u64)> = held.iter().copied().filter(|&(t, _)| t >= start && t <= killed).collect();
        assert!(!run.is_empty(), "run {i} delivered nothing");
        assert_gapless_from(&run, 0);
    }
    eprintln!("worst gap between kill and the newest sample on disk: {worst_tail} ms");
}

#[test]
fn at_max_bytes_only_the_oldest_are_dropped_and_counted() {
    let scratch = Scratch::new("maxbytes");
    let mut vm = VictoriaMetrics::start();
    vm.stop();
    let data = scratch.0.join("data");
    let sections = format!("[store]\nmax_bytes = \"1MiB\"\n\n{}", v2_uplink(&vm, "backlog_rate = 200000"));
    let config = scratch.file("agent.toml", &plant(&data, 49, &sections));
    let agent = Agent::start(&config);
    assert!(eventually(Duration::from_secs(60), || agent
        .metric(r#"edge_store_dropped_samples_total{reason="max_bytes"}"#)
        > 30_000.0));
    assert!(agent.metric("edge_store_disk_bytes") <= 1048576.0);
    vm.restart();
    wait_drained(&agent, Duration::from_secs(60));
    let dropped = agent.metric(r#"edge_uplink_dropped_samples_total{uplink="vm"}"#) as u64;
    // The store counts what no uplink had acknowledged when it went; the uplink what it never read. A
    // batch in flight at that moment is delivered from memory, so the uplink's count is the exact one.
    let unacked = agent.metric(r#"edge_store_dropped_samples_total{reason="max_bytes"}"#) as u64;
    assert!(unacked >= dropped && unacked - dropped <= 20_000, "store {unacked}, uplink {dropped}");
    agent.stop();

    let acked = cursor(&data, "vm");
    let stored = settled(&vm, acked - dropped).len() as u64;
    assert_eq!(stored + dropped, acked, "each sample delivered or counted as dropped");
    // The batch the uplink held when the historian went away is delivered from memory; after it, one
    // gap where the store dropped the oldest, then everything to the end.
    let points = counts(&vm);
    let gaps: Vec<_> = points.windows(2).filter(|w| w[1].1 != w[0].1 + 1).collect();
    assert_eq!(gaps.len(), 1, "one dropped stretch, no other gap: {gaps:?}");
    assert!(points[0].1 == 0 && points.last().unwrap().1 as usize + 1 > points.len());
}

#[test]
fn a_full_disk_drops_the_oldest_and_acquisition_goes_on() {
    let scratch = Scratch::new("fulldisk");
    let data = scratch.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    // max_bytes far above what the disk holds: the disk fills first.
    let config = scratch
        .file("agent.toml", &plant(&data, 49, "[store]\nmax_bytes = \"1GiB\"\nsegment_bytes = \"64KiB\"\n"));
    // The data dir is a 2 MiB disk of its own, mounted in a mount namespace only the agent sees.
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "sh", "-c"]).arg(format!(
        "mount -t tmpfs -o size=2m tmpfs {} && exec {} run -c {}",
        data.display(),
        agent::BIN,
        config.display()
    ));
    let agent = Agent::start_with(cmd);
    let full = eventually(Duration::from_secs(60), || {
        agent.metric(r#"edge_store_dropped_samples_total{reason="disk_full"}"#) > 20_000.0
    });
    assert!(full, "the disk never filled: {}", agent.get("/metrics").1);
    let before = agent.metric("edge_store_appended_samples_total");
    std::thread::sleep(Duration::from_secs(1));
    assert!(agent.metric("edge_store_appended_samples_total") > before + 1000.0, "appending goes on");
    assert_eq!(agent.metric(r#"edge_store_dropped_samples_total{reason="write_failed"}"#), 0.0);
    assert!(agent.metric("edge_store_disk_bytes") <= 2.0 * 1048576.0);
    assert_eq!(agent.metric(r#"edge_device_up{device="line"}"#), 1.0);
    agent.stop();
}

#[test]
fn a_damaged_record_is_skipped_and_counted_and_the_rest_delivered() {
    let scratch = Scratch::new("damaged");
    let mut vm = VictoriaMetrics::start();
    vm.stop();
    let data = scratch.0.join("data");
    let config = scratch.file("agent.toml", &plant(&data, 5, &v2_uplink(&vm, "")));
    let agent = Agent::start(&config);
    assert!(
        eventually(Duration::from_secs(20), || agent.metric("edge_store_appended_samples_total") > 5_000.0)
    );
    agent.stop();
    let segment = std::fs::read_dir(data.join("store"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(&segment, &bytes).unwrap();

    vm.restart();
    let agent = Agent::start(&config);
    wait_drained(&agent, Duration::from_secs(30));
    let corrupt = agent.metric(r#"edge_uplink_corrupt_records_total{uplink="vm"}"#);
    let lost = agent.metric(r#"edge_uplink_corrupt_samples_total{uplink="vm"}"#) as u64;
    agent.stop();
    assert_eq!(corrupt, 1.0);
    assert!(lost > 0 && lost <= 8192, "{lost}");
    let acked = cursor(&data, "vm");
    assert_eq!(settled(&vm, acked - lost).len() as u64 + lost, acked);
}

#[test]
fn two_historians_each_get_everything_and_influxdb_1_accepts_every_line() {
    let scratch = Scratch::new("influx1");
    let influx = InfluxDb1::start();
    let vm = VictoriaMetrics::start();
    let data = scratch.0.join("data");
    let uplink = format!(
        "[[uplink]]\nname = \"influx1\"\ntype = \"influxdb_v1\"\nurl = \"{}\"\ndatabase = \"{}\"\nbatch_age = \"100ms\"\n",
        influx.url(),
        InfluxDb1::DB
    );
    // A device that drops off its bus: Bad samples carry quality and reason fields and no value.
    let text = plant(&data, 3, &format!("{uplink}\n{}", v2_uplink(&vm, "")))
        .replace("scan = \"10ms\"", "scan = \"10ms\"\nfault = { every = \"1s\", lasting = \"300ms\" }");
    let config = scratch.file("agent.toml", &text);
    let agent = Agent::start(&config);
    assert!(eventually(Duration::from_secs(20), || agent
        .metric(r#"edge_uplink_sent_samples_total{uplink="influx1"}"#)
        > 2_000.0));
    let rejected = agent.metric(r#"edge_uplink_writes_rejected_total{uplink="influx1"}"#);
    agent.stop();
    assert_eq!(rejected, 0.0, "influxd refused lines; see {}", data.join("store/quarantine").display());
    assert_eq!(influx.count_points() as u64, cursor(&data, "influx1"));
    // Each uplink keeps its own position: both historians hold everything their uplink acknowledged.
    let acked = cursor(&data, "vm");
    assert!(acked > 2_000);
    // VictoriaMetrics makes each field a series: a Bad sample is a `line_quality` and a `line_reason` point.
    let points =
        settled(&vm, acked).into_iter().filter(|(series, _)| !series.starts_with("line_reason{")).count();
    assert_eq!(points as u64, acked);
    let bad = influx.query("SELECT count(\"reason\") FROM \"line\"");
    assert!(bad.to_string().contains("count"), "no Bad samples stored: {bad}");
}
